//! The comparison operators of the condition widget (SPEC §3) and how they
//! evaluate.
//!
//! Evaluation is total: it never fails. An unset variable compares as "", a
//! numeric comparison with a side that is not a finite number is false, and a
//! `regex` case without a compiled regex is false (validation compiles it, so
//! that only happens to callers that skip validation).

use std::fmt;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// A condition operator, as written in flow documents (`"op": "eq"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Exact string equality.
    Eq,
    /// Exact string inequality.
    Ne,
    /// The variable contains the value as a substring.
    Contains,
    /// The variable matches the regular expression (anywhere, unless anchored).
    Regex,
    /// Both sides are numbers and the variable is greater.
    Gt,
    /// Both sides are numbers and the variable is smaller.
    Lt,
    /// The variable is unset or "".
    Empty,
    /// The variable is set and not "".
    NotEmpty,
}

impl Op {
    /// Every operator, in the order of the SPEC.
    pub const ALL: [Op; 8] = [
        Op::Eq,
        Op::Ne,
        Op::Contains,
        Op::Regex,
        Op::Gt,
        Op::Lt,
        Op::Empty,
        Op::NotEmpty,
    ];

    /// The name used in flow documents.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Ne => "ne",
            Op::Contains => "contains",
            Op::Regex => "regex",
            Op::Gt => "gt",
            Op::Lt => "lt",
            Op::Empty => "empty",
            Op::NotEmpty => "not_empty",
        }
    }

    /// Parses an operator name (exact, lower case).
    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == s)
    }

    /// Whether the operator compares against a value (all but `empty`/`not_empty`).
    pub fn takes_value(self) -> bool {
        !matches!(self, Op::Empty | Op::NotEmpty)
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Evaluates `lhs op rhs`. `lhs` is the variable's value (`None` when unset,
/// which compares as ""), `rhs` the rendered value, `regex` the pattern compiled
/// at validation for [`Op::Regex`].
pub fn evaluate(op: Op, lhs: Option<&str>, rhs: &str, regex: Option<&Regex>) -> bool {
    let lhs = lhs.unwrap_or("");
    match op {
        Op::Eq => lhs == rhs,
        Op::Ne => lhs != rhs,
        Op::Contains => lhs.contains(rhs),
        Op::Regex => regex.is_some_and(|re| re.is_match(lhs)),
        Op::Gt => numbers(lhs, rhs).is_some_and(|(l, r)| l > r),
        Op::Lt => numbers(lhs, rhs).is_some_and(|(l, r)| l < r),
        Op::Empty => lhs.is_empty(),
        Op::NotEmpty => !lhs.is_empty(),
    }
}

/// Both sides as finite numbers, ignoring surrounding whitespace; `None` when
/// either is not one (`"NaN"` and `"inf"` parse as f64 but compare as text
/// nobody means).
fn numbers(lhs: &str, rhs: &str) -> Option<(f64, f64)> {
    let parse = |s: &str| s.trim().parse::<f64>().ok().filter(|n| n.is_finite());
    Some((parse(lhs)?, parse(rhs)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluates_every_operator() {
        let cases: &[(Op, Option<&str>, &str, bool)] = &[
            (Op::Eq, Some("shipped"), "shipped", true),
            (Op::Eq, Some("Shipped"), "shipped", false),
            (Op::Eq, None, "", true),
            (Op::Ne, Some("a"), "b", true),
            (Op::Ne, Some("a"), "a", false),
            (Op::Contains, Some("order shipped"), "ship", true),
            (Op::Contains, Some("order"), "ship", false),
            (Op::Contains, None, "", true),
            (Op::Gt, Some("10"), "9", true),
            (Op::Gt, Some(" 2.5 "), "2.49", true),
            (Op::Gt, Some("9"), "10", false),
            (Op::Gt, Some("abc"), "1", false),
            (Op::Gt, Some("inf"), "1", false),
            (Op::Gt, None, "0", false),
            (Op::Lt, Some("-1"), "0", true),
            (Op::Lt, Some("1e3"), "999", false),
            (Op::Lt, Some("1"), "", false),
            (Op::Empty, None, "", true),
            (Op::Empty, Some(""), "", true),
            (Op::Empty, Some(" "), "", false),
            (Op::NotEmpty, Some("x"), "", true),
            (Op::NotEmpty, None, "", false),
        ];
        for (op, lhs, rhs, want) in cases {
            assert_eq!(
                evaluate(*op, *lhs, rhs, None),
                *want,
                "{lhs:?} {op} {rhs:?}"
            );
        }
    }

    #[test]
    fn regex_matches_with_the_compiled_pattern() {
        let re = Regex::new(r"^\d{3}$").expect("valid");
        let cases: &[(Option<&str>, Option<&Regex>, bool)] = &[
            (Some("123"), Some(&re), true),
            (Some("1234"), Some(&re), false),
            (None, Some(&re), false),
            (Some("123"), None, false),
        ];
        for (lhs, regex, want) in cases {
            assert_eq!(evaluate(Op::Regex, *lhs, "", *regex), *want, "{lhs:?}");
        }
    }

    #[test]
    fn names_round_trip() {
        for op in Op::ALL {
            assert_eq!(Op::parse(op.as_str()), Some(op));
            let json = serde_json::to_string(&op).expect("ser");
            assert_eq!(json, format!("\"{op}\""));
        }
        assert_eq!(Op::parse("EQ"), None);
        assert_eq!(Op::parse("neq"), None);
    }
}
