//! A JSON document kept as its text.
//!
//! What flowhook only stores and answers (an execution's trace) is serialized
//! once, when it is made, and then written to the database and into answers as
//! that text: no tree of values is built, walked or freed on the way. Whoever
//! needs its values parses it ([`JsonText::to_value`]).

use serde::Serialize;
use serde_json::value::RawValue;

/// Valid JSON text; serialized as the JSON it holds, not as a string — by
/// serde_json's serializers only (others, such as minijinja's, see a
/// one-entry map: give them [`JsonText::to_value`]).
#[derive(Clone)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// `value` as JSON text. A value that cannot be JSON (a map with non-string
    /// keys) becomes `null`, as `serde_json::to_value(..).unwrap_or_default()`.
    pub fn of(value: &impl Serialize) -> JsonText {
        JsonText(
            serde_json::value::to_raw_value(value)
                .unwrap_or_else(|_| RawValue::from_string("null".into()).expect("null is JSON")),
        )
    }

    /// Checks that `text` is JSON.
    pub fn parse(text: String) -> Result<JsonText, serde_json::Error> {
        RawValue::from_string(text).map(JsonText)
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(self.as_str()).unwrap_or_default()
    }
}

impl From<serde_json::Value> for JsonText {
    fn from(value: serde_json::Value) -> JsonText {
        JsonText::of(&value)
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &JsonText) -> bool {
        self.as_str() == other.as_str()
    }
}

impl std::fmt::Debug for JsonText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for JsonText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_hold_the_json_not_a_string_of_it() {
        let trace = JsonText::of(&serde_json::json!([{"step": 1, "widget": "a\"b"}]));
        let answer = serde_json::json!({"trace": trace});
        assert_eq!(answer["trace"][0]["widget"], "a\"b");
        assert_eq!(trace.as_str(), r#"[{"step":1,"widget":"a\"b"}]"#);
        assert_eq!(trace.to_value()[0]["step"], 1);
    }

    #[test]
    fn text_that_is_not_json_is_refused() {
        assert!(JsonText::parse("[1, 2".into()).is_err());
        assert_eq!(
            JsonText::parse(" [1] ".into()).unwrap().to_value(),
            serde_json::json!([1])
        );
    }
}
