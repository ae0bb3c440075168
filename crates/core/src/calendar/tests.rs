//! The calendar's JSON, table-driven: the canonical form it serializes to, and
//! the exact message of every refusal, which names the field.

use serde_json::{Value, json};
use utoipa::{PartialSchema, ToSchema};

use super::*;

fn calendar(value: Value) -> Calendar {
    Calendar::parse(&value).unwrap_or_else(|e| panic!("{value}: {e}"))
}

fn zone(name: &str) -> TimeZone {
    TimeZone::parse(name).expect("a zone")
}

#[test]
fn calendars_parse_to_the_canonical_form() {
    assert_eq!(calendar(json!({})), Calendar::default());
    let rows = [
        (
            json!({}),
            r#"{"weekdays":["monday","tuesday","wednesday","thursday","friday"],"business_hours":{"start":"09:00","end":"18:00"},"callback_hours":{"start":"08:00","end":"20:00"},"holidays":[]}"#,
        ),
        (
            json!({"timezone": "Asia/Kolkata", "weekdays": ["Saturday", "monday", "SUNDAY"],
                   "business_hours": {"end": "17:30"}, "callback_hours": {"start": "07:00", "end": "21:00"},
                   "holidays": [{"date": "2026-12-25", "name": " Christmas "}, "2028-02-29", {"date": "2026-01-26"}]}),
            r#"{"timezone":"Asia/Kolkata","weekdays":["monday","saturday","sunday"],"business_hours":{"start":"09:00","end":"17:30"},"callback_hours":{"start":"07:00","end":"21:00"},"holidays":["2026-01-26",{"date":"2026-12-25","name":"Christmas"},"2028-02-29"]}"#,
        ),
    ];
    for (input, canonical) in rows {
        let parsed = calendar(input);
        let text = serde_json::to_string(&parsed).expect("serializes");
        assert_eq!(text, canonical);
        let again: Calendar = serde_json::from_str(&text).expect("parses back");
        assert_eq!(again, parsed);
    }
    let c = calendar(json!({"holidays": [{"date": "2026-12-25", "name": "Christmas"}]}));
    assert_eq!(
        c.holidays().collect::<Vec<_>>(),
        [(
            NaiveDate::from_ymd_opt(2026, 12, 25).expect("a date"),
            Some("Christmas")
        )]
    );
    assert!(!c.is_working_day(NaiveDate::from_ymd_opt(2026, 12, 25).expect("a date")));
    assert_eq!(c.zone(zone("Europe/London")).name(), "Europe/London");
}

#[test]
fn calendar_errors_name_the_field() {
    let many: Vec<String> = (0..367)
        .map(|d| {
            (NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date") + chrono::Duration::days(d))
                .format("%Y-%m-%d")
                .to_string()
        })
        .collect();
    let rows = [
        (json!([]), "calendar: must be a JSON object"),
        (
            json!({"hours": "9-6"}),
            r#"calendar: unknown field "hours" (expected timezone, weekdays, business_hours, callback_hours or holidays)"#,
        ),
        (
            json!({"timezone": "Mars/Base"}),
            r#"calendar.timezone: "Mars/Base" is not an IANA time zone name (like Asia/Kolkata)"#,
        ),
        (
            json!({"timezone": null}),
            "calendar.timezone: must be a string (an IANA time zone name like Asia/Kolkata)",
        ),
        (
            json!({"weekdays": []}),
            "calendar.weekdays: must name at least one working day",
        ),
        (
            json!({"weekdays": "monday"}),
            "calendar.weekdays: must be an array of day names (monday … sunday)",
        ),
        (
            json!({"weekdays": ["monday", "funday"]}),
            r#"calendar.weekdays[1]: "funday" is not a day name (monday … sunday)"#,
        ),
        (
            json!({"weekdays": ["monday", "Monday"]}),
            r#"calendar.weekdays[1]: "Monday" is listed twice"#,
        ),
        (
            json!({"weekdays": ["monday", 2]}),
            "calendar.weekdays[1]: must be a day name (monday … sunday)",
        ),
        (
            json!({"business_hours": {"start": "25:00"}}),
            r#"calendar.business_hours.start: "25:00" is not a time (HH:MM)"#,
        ),
        (
            json!({"business_hours": {"start": "9:00"}}),
            r#"calendar.business_hours.start: "9:00" is not a time (HH:MM)"#,
        ),
        (
            json!({"business_hours": {"end": 18}}),
            "calendar.business_hours.end: must be a string (HH:MM)",
        ),
        (
            json!({"business_hours": {"start": "18:00"}}),
            r#"calendar.business_hours: start "18:00" must be before end "18:00""#,
        ),
        (
            json!({"callback_hours": {"start": "20:00", "end": "08:00"}}),
            r#"calendar.callback_hours: start "20:00" must be before end "08:00""#,
        ),
        (
            json!({"callback_hours": {"open": "08:00"}}),
            r#"calendar.callback_hours: unknown field "open" (expected start or end)"#,
        ),
        (
            json!({"business_hours": "09:00-18:00"}),
            r#"calendar.business_hours: must be an object like {"start": "09:00", "end": "18:00"}"#,
        ),
        (
            json!({"holidays": ["2026-02-30"]}),
            r#"calendar.holidays[0]: "2026-02-30" is not a date: February 2026 has 28 days"#,
        ),
        (
            json!({"holidays": ["2027-02-29"]}),
            r#"calendar.holidays[0]: "2027-02-29" is not a date: February 2027 has 28 days"#,
        ),
        (
            json!({"holidays": ["25-12-2026"]}),
            r#"calendar.holidays[0]: "25-12-2026" is not a date (YYYY-MM-DD)"#,
        ),
        (
            json!({"holidays": ["2026-12-25", {"date": "2026-12-25", "name": "Christmas"}]}),
            "calendar.holidays[1]: 2026-12-25 is listed twice",
        ),
        (
            json!({"holidays": [{"name": "Christmas"}]}),
            "calendar.holidays[0].date: is required",
        ),
        (
            json!({"holidays": [{"date": 20261225}]}),
            "calendar.holidays[0].date: must be a string (YYYY-MM-DD)",
        ),
        (
            json!({"holidays": [{"date": "2026-12-25", "day": "Friday"}]}),
            r#"calendar.holidays[0]: unknown field "day" (expected date or name)"#,
        ),
        (
            json!({"holidays": [{"date": "2026-12-25", "name": " "}]}),
            "calendar.holidays[0].name: must not be empty",
        ),
        (
            json!({"holidays": [{"date": "2026-12-25", "name": "x".repeat(101)}]}),
            "calendar.holidays[0].name: is longer than 100 characters",
        ),
        (
            json!({"holidays": [{"date": "2026-12-25", "name": "a\nb"}]}),
            "calendar.holidays[0].name: must not contain control characters",
        ),
        (
            json!({"holidays": [5]}),
            r#"calendar.holidays[0]: must be a date ("2026-12-25") or a {"date", "name"} object"#,
        ),
        (
            json!({"holidays": {"2026-12-25": "Christmas"}}),
            r#"calendar.holidays: must be an array of dates ("2026-12-25") or {"date", "name"} objects"#,
        ),
        (
            json!({"holidays": many}),
            "calendar.holidays: at most 366 holidays are allowed, got 367",
        ),
    ];
    let mut failures = Vec::new();
    for (input, expect) in rows {
        match Calendar::parse(&input) {
            Ok(_) => failures.push(format!("{input}: parsed")),
            Err(e) if e.to_string() != expect => {
                failures.push(format!("{input}:\n  expected {expect}\n  got      {e}"));
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    let through_serde = serde_json::from_value::<Calendar>(json!({"weekdays": []}))
        .expect_err("refused")
        .to_string();
    assert_eq!(
        through_serde,
        "calendar.weekdays: must name at least one working day"
    );
}

#[test]
fn the_schema_is_the_json_shape() {
    let schema = serde_json::to_value(Calendar::schema()).expect("a schema");
    let mut properties: Vec<&str> = schema["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .map(String::as_str)
        .collect();
    properties.sort_unstable();
    assert_eq!(
        properties,
        [
            "business_hours",
            "callback_hours",
            "holidays",
            "timezone",
            "weekdays"
        ]
    );
    assert_eq!(schema.get("required"), None, "every field is optional");
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(schema["properties"]["holidays"]["maxItems"], json!(366));
    assert!(
        !schema.to_string().contains("null"),
        "null is refused, so no field may be nullable"
    );
    assert_eq!(<Calendar as ToSchema>::name(), "Calendar");
    let mut components = Vec::new();
    <Calendar as ToSchema>::schemas(&mut components);
    let mut names: Vec<&str> = components.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        names,
        [
            "CalendarHoliday",
            "CalendarHours",
            "TimeZone",
            "WeekdayName"
        ]
    );
    for (name, schema) in &components {
        let text = serde_json::to_string(schema).expect("a schema");
        assert!(!text.contains("null"), "{name} is nullable: {text}");
        if name == "CalendarHoliday" {
            assert_eq!(text.matches(r#""format":"date""#).count(), 2, "{text}");
        }
    }
}
