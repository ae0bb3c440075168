//! Intent detection's pure half (`speechprocessing`, SPEC §5): an account's
//! keyword rules (`/v1/intents`), checked when saved, the deterministic
//! matcher that picks one for a caller's words, and the account's NLU
//! endpoint (its settings and its answer).
//!
//! **Normalisation** (phrases, keywords and the text alike): Unicode NFKC,
//! lower case, zero-width joiners dropped, every character that is neither a
//! letter/digit nor a combining mark (so Indic vowel signs and viramas stay
//! inside their words) read as a space, then split on whitespace. A phrase or
//! keyword matches as whole words in sequence, never inside a word.
//!
//! **Matching.** Each rule's best evidence, scored in thousandths:
//! - a phrase that is the whole text: 1000;
//! - a phrase inside the text: 800–900, by the share of the text's words it
//!   covers (`800 + 100 × phrase words / text words`, rounded down);
//! - its `regex` matching the text (whitespace collapsed, case-insensitive;
//!   not normalised, so digits and punctuation can be matched): 750;
//! - keywords: 400–700 by the share of the rule's keywords present
//!   (`400 + 300 × present / keywords`, rounded down).
//!
//! The winner has the highest score, then the highest `priority`, then the
//! name first in byte order: the same rules and text always give the same
//! answer. Its confidence is score / 1000, in [0.4, 1]; no evidence, no match.
//! [`Match::reason`] says which rule won with which phrase, regex or keywords.

use std::time::Duration;

use regex::{Regex, RegexBuilder};
use serde_json::Value;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use crate::webhook::WebhookUrl;

/// Intents one account may have.
pub const MAX_INTENTS: usize = 500;
/// Phrases, and keywords, one intent may have.
pub const MAX_PHRASES: usize = 100;
pub const MAX_KEYWORDS: usize = 100;
/// The longest phrase or keyword, in characters.
pub const MAX_PHRASE_CHARS: usize = 200;
/// The longest regex, in bytes, and the most memory its compiled form may use.
pub const MAX_REGEX_BYTES: usize = 500;
const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// The range of `priority`.
pub const MAX_PRIORITY: i64 = 1_000_000;
/// The longest speech text matched, in characters.
pub const MAX_SPEECH_CHARS: usize = 4000;

/// An intent's name: 1–64 of `A–Z a–z 0–9 _ - .`; unique in its account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntentName(String);

impl IntentName {
    pub const PATTERN: &'static str = "^[A-Za-z0-9_.-]{1,64}$";

    pub fn parse(s: &str) -> Option<IntentName> {
        let ok = (1..=64).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        ok.then(|| IntentName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl utoipa::PartialSchema for IntentName {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(Self::PATTERN))
            .examples(["billing"])
            .into()
    }
}

impl utoipa::ToSchema for IntentName {}

impl std::fmt::Display for IntentName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A keyword rule, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentRule {
    pub name: IntentName,
    pub phrases: Vec<String>,
    pub keywords: Vec<String>,
    pub regex: Option<String>,
    /// Breaks ties between rules with the same score: higher wins.
    pub priority: i64,
}

/// Why a rule is refused: the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub field: &'static str,
    pub message: String,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl IntentRule {
    /// A rule with at least one phrase, keyword or regex; phrases and keywords
    /// trimmed (1–200 characters, no control characters, some letter or
    /// digit), at most 100 of each; the regex at most 500 bytes and valid;
    /// the priority within ±1,000,000.
    pub fn new(
        name: IntentName,
        phrases: Vec<String>,
        keywords: Vec<String>,
        regex: Option<String>,
        priority: i64,
    ) -> Result<IntentRule, RuleError> {
        let phrases = words("phrases", phrases, MAX_PHRASES)?;
        let keywords = words("keywords", keywords, MAX_KEYWORDS)?;
        let regex = regex.filter(|r| !r.trim().is_empty());
        if let Some(r) = &regex {
            compile(r).map_err(|message| RuleError {
                field: "regex",
                message,
            })?;
        }
        if !(-MAX_PRIORITY..=MAX_PRIORITY).contains(&priority) {
            return Err(RuleError {
                field: "priority",
                message: format!("must be within ±{MAX_PRIORITY}"),
            });
        }
        if phrases.is_empty() && keywords.is_empty() && regex.is_none() {
            return Err(RuleError {
                field: "phrases",
                message: "an intent needs at least one phrase, keyword or regex".into(),
            });
        }
        Ok(IntentRule {
            name,
            phrases,
            keywords,
            regex,
            priority,
        })
    }
}

fn words(field: &'static str, list: Vec<String>, max: usize) -> Result<Vec<String>, RuleError> {
    let err = |message: String| RuleError { field, message };
    if list.len() > max {
        return Err(err(format!("at most {max} entries")));
    }
    list.into_iter()
        .enumerate()
        .map(|(i, w)| {
            let w = w.trim().to_owned();
            if w.chars().count() > MAX_PHRASE_CHARS || w.chars().any(char::is_control) {
                return Err(err(format!(
                    "entry {i}: 1–{MAX_PHRASE_CHARS} characters without control characters"
                )));
            }
            if tokens(&w).is_empty() {
                return Err(err(format!("entry {i}: {w:?} has no letter or digit")));
            }
            Ok(w)
        })
        .collect()
}

fn compile(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > MAX_REGEX_BYTES {
        return Err(format!("at most {MAX_REGEX_BYTES} bytes"));
    }
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("not a valid regex: {e}"))
}

/// The words of `text` after normalisation (see the module docs).
pub fn tokens(text: &str) -> Vec<String> {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.nfkc().flat_map(char::to_lowercase) {
        match c {
            '\u{200C}' | '\u{200D}' => {}
            c if c.is_alphanumeric() || is_combining_mark(c) => cleaned.push(c),
            _ => cleaned.push(' '),
        }
    }
    cleaned.split_whitespace().map(str::to_owned).collect()
}

/// Does `needle` occur in `hay` as consecutive words?
fn contains(hay: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The rules of an account, ready to match.
pub struct Matcher {
    rules: Vec<Compiled>,
}

struct Compiled {
    name: String,
    priority: i64,
    phrases: Vec<(String, Vec<String>)>,
    keywords: Vec<(String, Vec<String>)>,
    regex: Option<(String, Regex)>,
}

/// The winning rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    pub intent: String,
    /// In [0.4, 1]; see the module docs.
    pub confidence: f64,
    /// Which rule, by what evidence, with what score.
    pub reason: String,
}

struct Evidence {
    score: u32,
    what: String,
}

impl Matcher {
    /// Compiles `rules` (checked when saved: a regex that no longer compiles
    /// leaves its rule to its phrases and keywords).
    pub fn new(rules: &[IntentRule]) -> Matcher {
        let pairs = |list: &[String]| list.iter().map(|p| (p.clone(), tokens(p))).collect();
        Matcher {
            rules: rules
                .iter()
                .map(|r| Compiled {
                    name: r.name.to_string(),
                    priority: r.priority,
                    phrases: pairs(&r.phrases),
                    keywords: pairs(&r.keywords),
                    regex: r
                        .regex
                        .as_ref()
                        .and_then(|p| compile(p).ok().map(|re| (p.clone(), re))),
                })
                .collect(),
        }
    }

    /// The best rule for `text`, or `None` when no rule has any evidence.
    pub fn find(&self, text: &str) -> Option<Match> {
        let words = tokens(text);
        let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut found: Vec<(&Compiled, Evidence)> = self
            .rules
            .iter()
            .filter_map(|r| r.evidence(&words, &collapsed).map(|e| (r, e)))
            .collect();
        found.sort_by(|(a, ea), (b, eb)| {
            eb.score
                .cmp(&ea.score)
                .then(b.priority.cmp(&a.priority))
                .then(a.name.cmp(&b.name))
        });
        let others = found.len().saturating_sub(1);
        let (rule, evidence) = found.into_iter().next()?;
        let confidence = f64::from(evidence.score) / 1000.0;
        let mut reason = format!(
            "rule {:?} (priority {}): {}; score {}",
            rule.name,
            rule.priority,
            evidence.what,
            format_confidence(confidence)
        );
        if others > 0 {
            reason.push_str(&format!(
                "; {others} other rule{} matched with a lower score, priority or later name",
                if others == 1 { "" } else { "s" }
            ));
        }
        Some(Match {
            intent: rule.name.clone(),
            confidence,
            reason,
        })
    }
}

impl Compiled {
    fn evidence(&self, words: &[String], collapsed: &str) -> Option<Evidence> {
        if words.is_empty() && collapsed.is_empty() {
            return None;
        }
        // The phrase covering the most words; the first listed among equals.
        let mut best: Option<&(String, Vec<String>)> = None;
        for p in &self.phrases {
            if contains(words, &p.1) && best.is_none_or(|b| p.1.len() > b.1.len()) {
                best = Some(p);
            }
        }
        if let Some((phrase, ptoks)) = best {
            if ptoks.len() == words.len() {
                return Some(Evidence {
                    score: 1000,
                    what: format!("phrase {phrase:?} is the whole text"),
                });
            }
            let share = (100 * ptoks.len() / words.len()) as u32;
            return Some(Evidence {
                score: 800 + share,
                what: format!("phrase {phrase:?} is in the text"),
            });
        }
        if let Some((pattern, re)) = &self.regex
            && let Some(m) = re.find(collapsed)
        {
            return Some(Evidence {
                score: 750,
                what: format!("regex {pattern:?} matched {:?}", m.as_str()),
            });
        }
        let present: Vec<&str> = self
            .keywords
            .iter()
            .filter(|k| contains(words, &k.1))
            .map(|k| k.0.as_str())
            .collect();
        if present.is_empty() {
            return None;
        }
        let share = (300 * present.len() / self.keywords.len()) as u32;
        Some(Evidence {
            score: 400 + share,
            what: format!(
                "keywords {present:?} ({} of {})",
                present.len(),
                self.keywords.len()
            ),
        })
    }
}

/// A confidence as answers show it: at most three decimals, no trailing
/// zeros (`1`, `0.9`, `0.867`).
pub fn format_confidence(c: f64) -> String {
    let s = format!("{c:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The account's NLU endpoint, from `providers.nlu` (opened):
/// `{"url": "https://…", "token": "…", "language": "hi", "timeout_seconds": 10}`
/// (`token`, `language` and `timeout_seconds` optional).
#[derive(Clone)]
pub struct NluSettings {
    pub url: WebhookUrl,
    pub token: Option<String>,
    pub language: Option<String>,
    pub timeout: Duration,
}

impl std::fmt::Debug for NluSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NluSettings")
            .field("url", &self.url.as_str())
            .finish_non_exhaustive()
    }
}

impl NluSettings {
    /// `None` when the account has no `nlu` settings: the built-in rules
    /// answer. An error names the setting at fault.
    pub fn from_providers(providers: &Value) -> Result<Option<NluSettings>, String> {
        let nlu = match providers.get("nlu") {
            None | Some(Value::Null) => return Ok(None),
            Some(v @ Value::Object(_)) => v,
            Some(_) => {
                return Err(
                    "providers.nlu: must be an object {\"url\", \"token\"}; remove it to use the built-in rules of /v1/intents".into(),
                );
            }
        };
        let text = |name: &str| -> Result<Option<&str>, String> {
            match nlu.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.trim())),
                Some(_) => Err(format!("providers.nlu.{name}: must be a string")),
            }
        };
        let url = text("url")?.ok_or(
            "providers.nlu.url: missing; set the endpoint, or remove `nlu` to use the built-in rules of /v1/intents",
        )?;
        let url = WebhookUrl::parse(url).map_err(|e| format!("providers.nlu.url: {e}"))?;
        let timeout = match nlu.get("timeout_seconds") {
            None | Some(Value::Null) => Duration::from_secs(10),
            Some(v) => match v.as_u64() {
                Some(s @ 1..=30) => Duration::from_secs(s),
                _ => {
                    return Err(
                        "providers.nlu.timeout_seconds: a whole number of seconds, 1–30".into(),
                    );
                }
            },
        };
        Ok(Some(NluSettings {
            url,
            token: text("token")?.map(str::to_owned),
            language: text("language")?.map(str::to_owned),
            timeout,
        }))
    }
}

/// What an NLU endpoint answered: `{"intent": "…", "confidence": 0.93}`, with
/// an optional `"explanation"`. An empty or null intent is no intent.
#[derive(Debug, Clone, PartialEq)]
pub struct NluAnswer {
    pub intent: Option<String>,
    pub confidence: f64,
    pub explanation: Option<String>,
}

/// Reads an NLU endpoint's 2xx body.
pub fn nlu_answer(body: &[u8]) -> Result<NluAnswer, String> {
    let doc: Value = serde_json::from_slice(body)
        .map_err(|e| format!("the NLU endpoint's answer is not JSON: {e}"))?;
    let intent = match doc.get("intent") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(_) => return Err("the NLU endpoint's `intent` is not a string".into()),
    };
    let confidence = match doc.get("confidence").filter(|v| !v.is_null()) {
        None if intent.is_none() => 0.0,
        None => return Err("the NLU endpoint answered an intent without `confidence`".into()),
        Some(v) => v
            .as_f64()
            .filter(|c| (0.0..=1.0).contains(c))
            .ok_or("the NLU endpoint's `confidence` is not a number from 0 to 1")?,
    };
    let explanation = doc
        .get("explanation")
        .and_then(Value::as_str)
        .map(|s| s.chars().take(500).collect());
    Ok(NluAnswer {
        intent,
        confidence,
        explanation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        name: &str,
        phrases: &[&str],
        keywords: &[&str],
        regex: Option<&str>,
        priority: i64,
    ) -> IntentRule {
        let list = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        IntentRule::new(
            IntentName::parse(name).expect("name"),
            list(phrases),
            list(keywords),
            regex.map(str::to_owned),
            priority,
        )
        .expect("valid rule")
    }

    fn best(rules: &[IntentRule], text: &str) -> Option<(String, String)> {
        Matcher::new(rules)
            .find(text)
            .map(|m| (m.intent, format_confidence(m.confidence)))
    }

    #[test]
    fn normalisation_ignores_case_punctuation_and_spacing_and_keeps_indic_words_whole() {
        assert_eq!(
            tokens("  Pay   my BILL!!, please? "),
            ["pay", "my", "bill", "please"]
        );
        // Vowel signs and the virama are combining marks: the word stays whole.
        assert_eq!(tokens("नमस्ते, मेरा बिल।"), ["नमस्ते", "मेरा", "बिल"]);
        // Full-width letters are their ASCII selves after NFKC.
        assert_eq!(tokens("ＢＩＬＬ"), ["bill"]);
        assert_eq!(tokens("Straße"), ["straße"]);
        assert!(tokens("?!…").is_empty());
    }

    #[test]
    fn exact_phrase_beats_contained_phrase_beats_regex_beats_keywords() {
        let rules = [
            rule("keywords", &[], &["bill"], None, 100),
            rule("regex", &[], &[], Some(r"\bbill\b"), 50),
            rule("contained", &["my bill"], &[], None, 10),
            rule("exact", &["pay my bill"], &[], None, 0),
        ];
        assert_eq!(
            best(&rules, "Pay my bill."),
            Some(("exact".into(), "1".into()))
        );
        // "my bill" covers 2 of 4 words: 800 + 50.
        assert_eq!(
            best(&rules, "about my bill now"),
            Some(("contained".into(), "0.85".into()))
        );
        assert_eq!(best(&rules, "bill"), Some(("regex".into(), "0.75".into())));
        assert_eq!(
            best(&rules[..1], "the bill"),
            Some(("keywords".into(), "0.7".into()))
        );
        assert_eq!(best(&rules, "hello there"), None);
        assert_eq!(best(&rules, "   "), None);
        // Whole words only.
        assert_eq!(best(&rules[..1], "billing"), None);
    }

    #[test]
    fn keyword_coverage_then_priority_then_name_break_ties() {
        let rules = [
            rule("b_rule", &[], &["balance", "account"], None, 0),
            rule("a_rule", &[], &["balance", "account"], None, 0),
            rule("high", &[], &["balance", "account"], None, 5),
            rule(
                "wide",
                &[],
                &["balance", "statement", "account", "passbook"],
                None,
                9,
            ),
        ];
        // Equal coverage (2 of 2): priority 5 wins over 0.
        assert_eq!(
            best(&rules, "account balance"),
            Some(("high".into(), "0.7".into()))
        );
        // Without it, the name first in byte order wins, every time.
        for _ in 0..10 {
            assert_eq!(
                best(&rules[..2], "account balance").expect("a match").0,
                "a_rule"
            );
        }
        // Coverage counts before priority: 2 of 4 keywords score 550 < 700.
        let m = Matcher::new(&rules)
            .find("my account balance")
            .expect("match");
        assert_eq!(m.intent, "high");
        assert!(
            m.reason
                .contains("keywords [\"balance\", \"account\"] (2 of 2)"),
            "{}",
            m.reason
        );
        assert!(m.reason.contains("3 other rules matched"), "{}", m.reason);
    }

    #[test]
    fn the_answer_does_not_depend_on_the_order_rules_are_listed_in() {
        let rules = vec![
            rule("c", &[], &["card", "lost"], None, 1),
            rule("b", &[], &["card", "blocked"], None, 1),
            rule("a", &[], &["card", "new"], None, 1),
            rule("d", &["my card"], &[], None, -5),
        ];
        for text in [
            "card",
            "lost card",
            "card please",
            "my card",
            "my card is lost",
        ] {
            let first = Matcher::new(&rules).find(text);
            for rotation in 1..rules.len() {
                let mut other = rules.clone();
                other.rotate_left(rotation);
                other.swap(0, 1);
                assert_eq!(Matcher::new(&other).find(text), first, "{text}");
            }
        }
        // Equal keyword scores: the name first in byte order.
        assert_eq!(best(&rules[..3], "card").expect("match").0, "a");
    }

    #[test]
    fn regexes_are_case_insensitive_on_the_text_as_said() {
        let rules = [rule(
            "order",
            &[],
            &[],
            Some(r"order (no\.?|number) \d{4,}"),
            0,
        )];
        let m = Matcher::new(&rules)
            .find("My ORDER No. 12345  please")
            .expect("match");
        assert_eq!(m.intent, "order");
        assert!(
            m.reason.contains("matched \"ORDER No. 12345\""),
            "{}",
            m.reason
        );
    }

    #[test]
    fn unicode_phrases_match_in_their_own_script() {
        let rules = [
            rule("balance_hi", &["मेरा बैलेंस"], &["बैलेंस"], None, 0),
            rule("greeting_ta", &["வணக்கம்"], &[], None, 0),
        ];
        assert_eq!(
            best(&rules, "मेरा बैलेंस!"),
            Some(("balance_hi".into(), "1".into()))
        );
        assert_eq!(
            best(&rules, "வணக்கம், நண்பரே"),
            Some(("greeting_ta".into(), "0.85".into()))
        );
        assert_eq!(
            best(&rules, "बैलेंस बताओ"),
            Some(("balance_hi".into(), "0.7".into()))
        );
    }

    #[test]
    fn rules_are_checked_when_saved() {
        let name = || IntentName::parse("x").expect("name");
        let err = |r: Result<IntentRule, RuleError>| r.expect_err("refused").field;
        assert_eq!(
            err(IntentRule::new(name(), vec![], vec![], Some("(".into()), 0)),
            "regex"
        );
        assert_eq!(
            err(IntentRule::new(
                name(),
                vec![],
                vec![],
                Some("a".repeat(501)),
                0
            )),
            "regex"
        );
        // A pattern that compiles to more than the size limit.
        assert_eq!(
            err(IntentRule::new(
                name(),
                vec![],
                vec![],
                Some(r"\w{1000}\w{1000}".into()),
                0
            )),
            "regex"
        );
        assert_eq!(
            err(IntentRule::new(name(), vec![], vec![], None, 0)),
            "phrases"
        );
        assert_eq!(
            err(IntentRule::new(name(), vec!["!!".into()], vec![], None, 0)),
            "phrases"
        );
        assert_eq!(
            err(IntentRule::new(
                name(),
                vec![],
                vec!["x".repeat(201)],
                None,
                0
            )),
            "keywords"
        );
        assert_eq!(
            err(IntentRule::new(
                name(),
                vec!["a".into(); 101],
                vec![],
                None,
                0
            )),
            "phrases"
        );
        assert_eq!(
            err(IntentRule::new(
                name(),
                vec!["a".into()],
                vec![],
                None,
                2_000_000
            )),
            "priority"
        );
        assert!(IntentName::parse("talk_to-agent.v2").is_some());
        assert!(IntentName::parse("").is_none());
        assert!(IntentName::parse("has space").is_none());
        assert!(IntentName::parse(&"a".repeat(65)).is_none());
    }

    #[test]
    fn nlu_settings_and_answers() {
        use serde_json::json;
        assert!(
            NluSettings::from_providers(&json!({}))
                .expect("none")
                .is_none()
        );
        let s = NluSettings::from_providers(
            &json!({"nlu": {"url": "http://127.0.0.1:9/nlu", "token": "t"}}),
        )
        .expect("ok")
        .expect("some");
        assert_eq!(s.token.as_deref(), Some("t"));
        assert!(
            NluSettings::from_providers(&json!({"nlu": [{"token": "t"}]}))
                .unwrap_err()
                .contains("providers.nlu")
        );
        assert!(
            NluSettings::from_providers(&json!({"nlu": {"token": "t"}}))
                .unwrap_err()
                .contains("providers.nlu.url")
        );
        assert_eq!(
            nlu_answer(br#"{"intent":"billing","confidence":0.93}"#),
            Ok(NluAnswer {
                intent: Some("billing".into()),
                confidence: 0.93,
                explanation: None
            })
        );
        assert_eq!(nlu_answer(br#"{"intent":""}"#).expect("none").intent, None);
        assert!(nlu_answer(br#"{"intent":"x","confidence":93}"#).is_err());
        assert!(nlu_answer(br#"{"intent":"x"}"#).is_err());
        assert!(nlu_answer(b"<html>").is_err());
        assert_eq!(format_confidence(0.8), "0.8");
        assert_eq!(format_confidence(1.0), "1");
        assert_eq!(format_confidence(0.0), "0");
    }
}
