//! `validateDateTime`, table-driven. Each table is one calendar, zone and `now`;
//! each row one call and its whole answer as exact text, so a changed rule or
//! format fails a row.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::{Value, json};

use super::*;

/// A calendar, the account's zone and the instant `now`.
struct Setting {
    calendar: Value,
    account_tz: &'static str,
    now: &'static str,
}

/// Asia/Kolkata, the default calendar plus two holidays, Monday 2026-03-02 10:00.
fn kolkata() -> Setting {
    Setting {
        calendar: json!({"holidays": ["2026-01-26", {"date": "2026-12-25", "name": "Christmas"}]}),
        account_tz: "Asia/Kolkata",
        now: "2026-03-02T10:00:00+05:30",
    }
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

/// The answer on one line: `dateIsValid timeIsValid outputDate smsDate
/// outputDay [outputTime]`, after checking the names, their order, and that
/// `SmsOutputTime` is `outputTime`.
fn render(check: &DateTimeCheck) -> String {
    let keys = check.keys();
    let names = keys.each_ref().map(|(name, _)| *name);
    assert_eq!(
        names,
        [
            "dateIsValid",
            "timeIsValid",
            "outputDate",
            "smsDate",
            "outputTime",
            "SmsOutputTime",
            "outputDay"
        ]
    );
    assert_eq!(keys[4].1, keys[5].1, "SmsOutputTime is outputTime");
    let [d, t, date, sms, time, _, day] = keys.map(|(_, value)| value);
    format!("{d} {t} {date} {sms} {day} [{time}]")
}

/// `-` is a key not sent; `"…"` keeps blanks.
fn field(s: &str) -> Option<&str> {
    match s {
        "-" => None,
        _ => Some(
            s.strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(s),
        ),
    }
}

/// Rows of `name | inputDate | inputTime | type | answer`, the answer as
/// [`render`] writes it or `error <message>`.
fn check_table(setting: &Setting, table: &str) {
    let calendar = Calendar::parse(&setting.calendar).expect("a calendar");
    let tz = TimeZone::parse(setting.account_tz).expect("a zone");
    let mut failures = Vec::new();
    for row in table.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let cols: Vec<&str> = row.split(" | ").map(str::trim).collect();
        let [name, date, time, kind, expect] = cols[..] else {
            panic!("a row has 5 columns: {row}");
        };
        let input = DateTimeInput {
            date: field(date).unwrap_or(""),
            time: field(time),
            kind: field(kind),
        };
        let got = match validate_date_time(&calendar, tz, at(setting.now), &input) {
            Ok(check) => render(&check),
            Err(e) => format!("error {e}"),
        };
        if got != expect {
            failures.push(format!("{name}:\n  expected {expect}\n  got      {got}"));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn business_days_and_hours() {
    check_table(
        &kolkata(),
        r#"
        inside hours                     | 2026-03-10 | 10:30 | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        the last minute is inside        | 2026-03-10 | 17:59 | - | true true 2026-03-10T17:59:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        before hours: that day's start   | 2026-03-10 | 08:15 | - | true false 2026-03-10T09:00:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        the end is outside: next start   | 2026-03-10 | 18:00 | - | true false 2026-03-11T09:00:00+05:30 11-3-2026 Wednesday [09:00 AM to 06:00 PM]
        Friday after hours: Monday       | 2026-03-13 | 19:00 | - | true false 2026-03-16T09:00:00+05:30 16-3-2026 Monday [09:00 AM to 06:00 PM]
        Saturday in hours: Monday, same time | 2026-03-14 | 11:00 | - | false true 2026-03-16T11:00:00+05:30 16-3-2026 Monday [09:00 AM to 06:00 PM]
        Sunday after hours: Monday's start | 15-03-2026 | 20:00 | - | false false 2026-03-16T09:00:00+05:30 16-3-2026 Monday [09:00 AM to 06:00 PM]
        a holiday (Friday): Monday after | 2026-12-25 | 10:00 | - | false true 2026-12-28T10:00:00+05:30 28-12-2026 Monday [09:00 AM to 06:00 PM]
        a past holiday is past: now      | 2026-01-26 | 10:00 | - | false false 2026-03-02T10:00:00+05:30 2-3-2026 Monday [09:00 AM to 06:00 PM]
        a past date: now                 | 2026-02-27 | 11:00 | - | false false 2026-03-02T10:00:00+05:30 2-3-2026 Monday [09:00 AM to 06:00 PM]
        today, later                     | 2026-03-02 | 15:00 | - | true true 2026-03-02T15:00:00+05:30 2-3-2026 Monday [09:00 AM to 06:00 PM]
        today, now exactly               | 2026-03-02 | 10:00 | - | true true 2026-03-02T10:00:00+05:30 2-3-2026 Monday [09:00 AM to 06:00 PM]
        today, earlier in hours: now     | 2026-03-02 | 09:30 | - | true false 2026-03-02T10:00:00+05:30 2-3-2026 Monday [09:00 AM to 06:00 PM]
        a leap day                       | 29-02-2028 | 10:00 | - | true true 2028-02-29T10:00:00+05:30 29-2-2028 Tuesday [09:00 AM to 06:00 PM]
        no time, a working day: start    | 2026-03-10 | -     | - | true true 2026-03-10T09:00:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        no time, today in hours: now     | 2026-03-02 | -     | - | true true 2026-03-02T10:00:00+05:30 2-3-2026 Monday [09:00 AM to 06:00 PM]
        no time, Saturday: hours not over | 2026-03-14 | -    | - | false true 2026-03-16T09:00:00+05:30 16-3-2026 Monday [09:00 AM to 06:00 PM]
        no time, a past date             | 2026-02-27 | -     | - | false false 2026-03-02T10:00:00+05:30 2-3-2026 Monday [09:00 AM to 06:00 PM]
        a blank time is no time          | 2026-03-10 | "  "  | - | true true 2026-03-10T09:00:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        "#,
    );
}

#[test]
fn callback_hours() {
    check_table(
        &kolkata(),
        r#"
        inside callback, before business | 2026-03-10 | 08:15    | Callback | true true 2026-03-10T08:15:00+05:30 10-3-2026 Tuesday [08:00 AM to 08:00 PM]
        any letter case                  | 2026-03-10 | 07:30 PM | callback | true true 2026-03-10T19:30:00+05:30 10-3-2026 Tuesday [08:00 AM to 08:00 PM]
        the end is outside               | 2026-03-10 | 20:00    | CALLBACK | true false 2026-03-11T08:00:00+05:30 11-3-2026 Wednesday [08:00 AM to 08:00 PM]
        no time: the callback start      | 2026-03-13 | -        | Callback | true true 2026-03-13T08:00:00+05:30 13-3-2026 Friday [08:00 AM to 08:00 PM]
        Business is business hours       | 2026-03-10 | 08:15    | Business | true false 2026-03-10T09:00:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        an empty type is business hours  | 2026-03-10 | 08:15    | ""       | true false 2026-03-10T09:00:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        "#,
    );
}

#[test]
fn every_input_format() {
    check_table(
        &kolkata(),
        r#"
        YYYY-MM-DD                    | 2026-03-10 | 10:30 | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        DD-MM-YYYY                    | 10-03-2026 | 10:30 | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        DD/MM/YYYY                    | 10/03/2026 | 10:30 | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        D-M-YYYY, a smsDate fed back  | 10-3-2026  | 10:30 | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        D/M/YYYY                      | 1/4/2026   | 10:30 | - | true true 2026-04-01T10:30:00+05:30 1-4-2026 Wednesday [09:00 AM to 06:00 PM]
        surrounding blanks            | " 2026-03-10 " | " 10:30 " | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        ISO, the zone's offset        | 2026-03-10T10:30:00+05:30 | - | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        ISO in UTC                    | 2026-03-10T05:00:00Z | - | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        ISO, another offset, no secs  | 2026-03-10T00:00-05:00 | - | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        ISO with a fraction (dropped) | 2026-03-10T05:00:45.250Z | - | - | true true 2026-03-10T10:30:45+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        ISO without offset: local     | 2026-03-10T10:30 | - | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        ISO with a space              | 2026-03-10 10:30:00+05:30 | - | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        ISO, a date in the zone: 11th | 2026-03-10T23:30:00Z | - | - | true false 2026-03-11T09:00:00+05:30 11-3-2026 Wednesday [09:00 AM to 06:00 PM]
        inputTime replaces ISO's time | 2026-03-10T23:30:00Z | 10:30 | - | true true 2026-03-11T10:30:00+05:30 11-3-2026 Wednesday [09:00 AM to 06:00 PM]
        ISO on a Saturday: Monday, same time | 2026-03-14T11:15:30+05:30 | - | - | false true 2026-03-16T11:15:30+05:30 16-3-2026 Monday [09:00 AM to 06:00 PM]
        hh:mm AM                      | 2026-03-10 | 10:30 AM | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        hh:mm am, no space            | 2026-03-10 | 10:30am  | - | true true 2026-03-10T10:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        hh:mm PM                      | 2026-03-10 | 02:30 PM | - | true true 2026-03-10T14:30:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        12:00 PM is noon              | 2026-03-10 | 12:00 PM | - | true true 2026-03-10T12:00:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        12:30 AM is after midnight    | 2026-03-10 | 12:30 AM | - | true false 2026-03-10T09:00:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        hh:mmPM, the end              | 2026-03-10 | 06:00PM  | - | true false 2026-03-11T09:00:00+05:30 11-3-2026 Wednesday [09:00 AM to 06:00 PM]
        H:MM                          | 2026-03-10 | 9:05     | - | true true 2026-03-10T09:05:00+05:30 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        "#,
    );
}

#[test]
fn now_is_rounded_up_to_the_minute() {
    let mut setting = kolkata();
    setting.now = "2026-03-02T10:00:30+05:30";
    check_table(
        &setting,
        r#"
        today in hours, no time       | 2026-03-02 | -     | - | true true 2026-03-02T10:01:00+05:30 2-3-2026 Monday [09:00 AM to 06:00 PM]
        the minute began before now   | 2026-03-02 | 10:00 | - | true false 2026-03-02T10:01:00+05:30 2-3-2026 Monday [09:00 AM to 06:00 PM]
        the next minute is open       | 2026-03-02 | 10:01 | - | true true 2026-03-02T10:01:00+05:30 2-3-2026 Monday [09:00 AM to 06:00 PM]
        "#,
    );
    setting.now = "2026-03-02T18:00:00+05:30";
    check_table(
        &setting,
        r#"
        today after hours, no time    | 2026-03-02 | -     | - | true false 2026-03-03T09:00:00+05:30 3-3-2026 Tuesday [09:00 AM to 06:00 PM]
        "#,
    );
    setting.now = "2026-03-13T19:00:00+05:30";
    check_table(
        &setting,
        r#"
        a past date, Friday evening   | 2026-03-12 | 10:00 | - | false false 2026-03-16T09:00:00+05:30 16-3-2026 Monday [09:00 AM to 06:00 PM]
        "#,
    );
}

#[test]
fn daylight_saving_in_new_york() {
    // Every day open 01:00–05:00, so both changes (02:00 on Sunday 2026-03-08
    // and Sunday 2026-11-01) fall inside the hours.
    let night = Setting {
        calendar: json!({"weekdays": ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"],
                         "business_hours": {"start": "01:00", "end": "05:00"}}),
        account_tz: "America/New_York",
        now: "2026-01-05T12:00:00Z",
    };
    check_table(
        &night,
        r#"
        before spring forward: EST      | 2026-03-08 | 01:30 | - | true true 2026-03-08T01:30:00-05:00 8-3-2026 Sunday [01:00 AM to 05:00 AM]
        in the gap: invalid, gap's end  | 2026-03-08 | 02:30 | - | true false 2026-03-08T03:00:00-04:00 8-3-2026 Sunday [01:00 AM to 05:00 AM]
        after spring forward: EDT       | 2026-03-08 | 04:00 | - | true true 2026-03-08T04:00:00-04:00 8-3-2026 Sunday [01:00 AM to 05:00 AM]
        ambiguous: the earlier, EDT     | 2026-11-01 | 01:30 | - | true true 2026-11-01T01:30:00-04:00 1-11-2026 Sunday [01:00 AM to 05:00 AM]
        an offset names the later, EST  | 2026-11-01T01:30:00-05:00 | - | - | true true 2026-11-01T01:30:00-05:00 1-11-2026 Sunday [01:00 AM to 05:00 AM]
        after fall back: EST            | 2026-11-01 | 03:00 | - | true true 2026-11-01T03:00:00-05:00 1-11-2026 Sunday [01:00 AM to 05:00 AM]
        "#,
    );
    let gap_start = Setting {
        calendar: json!({"weekdays": ["sunday"], "business_hours": {"start": "02:15", "end": "05:00"}}),
        ..night
    };
    check_table(
        &gap_start,
        r#"
        a window starting in the gap    | 2026-03-08 | -     | - | true true 2026-03-08T03:00:00-04:00 8-3-2026 Sunday [02:15 AM to 05:00 AM]
        "#,
    );
    let office = Setting {
        calendar: json!({}),
        account_tz: "America/New_York",
        now: "2026-01-05T12:00:00Z",
    };
    check_table(
        &office,
        r#"
        Friday EST, Monday's start EDT  | 2026-03-06 | 19:00    | - | true false 2026-03-09T09:00:00-04:00 9-3-2026 Monday [09:00 AM to 06:00 PM]
        Friday EDT, Monday's start EST  | 2026-10-30 | 06:30 PM | - | true false 2026-11-02T09:00:00-05:00 2-11-2026 Monday [09:00 AM to 06:00 PM]
        "#,
    );
}

#[test]
fn daylight_saving_in_london_and_the_calendar_zone() {
    let london = Setting {
        calendar: json!({}),
        account_tz: "Europe/London",
        now: "2026-01-05T12:00:00Z",
    };
    check_table(
        &london,
        r#"
        into BST                        | 27/03/2026 | 18:30 | - | true false 2026-03-30T09:00:00+01:00 30-3-2026 Monday [09:00 AM to 06:00 PM]
        out of BST                      | 23/10/2026 | 18:30 | - | true false 2026-10-26T09:00:00+00:00 26-10-2026 Monday [09:00 AM to 06:00 PM]
        "#,
    );
    let own_zone = Setting {
        calendar: json!({"timezone": "Europe/London"}),
        account_tz: "America/New_York",
        now: "2026-01-05T12:00:00Z",
    };
    check_table(
        &own_zone,
        r#"
        the calendar's zone, not the account's | 2026-03-10T13:00:00Z | - | - | true true 2026-03-10T13:00:00+00:00 10-3-2026 Tuesday [09:00 AM to 06:00 PM]
        "#,
    );
}

#[test]
fn bad_inputs_name_their_key() {
    check_table(
        &kolkata(),
        r#"
        a day February lacks   | 31-02-2026 | - | - | error inputDate: "31-02-2026" is not a date: February 2026 has 28 days
        no leap day in 2027    | 29-02-2027 | - | - | error inputDate: "29-02-2027" is not a date: February 2027 has 28 days
        no month 13            | 2026-13-01 | - | - | error inputDate: "2026-13-01" is not a date: there is no month 13
        no day 0               | 00/01/2026 | - | - | error inputDate: "00/01/2026" is not a date: there is no day 0
        31 April, date-time    | 2026-04-31T10:00:00Z | - | - | error inputDate: "2026-04-31T10:00:00Z" is not a date: April 2026 has 30 days
        words                  | tomorrow   | - | - | error inputDate: "tomorrow" is not a date (YYYY-MM-DD, DD-MM-YYYY, DD/MM/YYYY or an ISO 8601 date-time like 2026-03-09T10:30:00+05:30)
        mixed separators       | 10/03-2026 | - | - | error inputDate: "10/03-2026" is not a date (YYYY-MM-DD, DD-MM-YYYY, DD/MM/YYYY or an ISO 8601 date-time like 2026-03-09T10:30:00+05:30)
        a two-digit year       | 10-03-26   | - | - | error inputDate: "10-03-26" is not a date (YYYY-MM-DD, DD-MM-YYYY, DD/MM/YYYY or an ISO 8601 date-time like 2026-03-09T10:30:00+05:30)
        hour 25, date-time     | 2026-03-10T25:00:00Z | - | - | error inputDate: "2026-03-10T25:00:00Z" is not a date (YYYY-MM-DD, DD-MM-YYYY, DD/MM/YYYY or an ISO 8601 date-time like 2026-03-09T10:30:00+05:30)
        an offset of 24 hours  | 2026-03-10T10:00:00+24:00 | - | - | error inputDate: "2026-03-10T10:00:00+24:00" is not a date (YYYY-MM-DD, DD-MM-YYYY, DD/MM/YYYY or an ISO 8601 date-time like 2026-03-09T10:30:00+05:30)
        empty                  | ""         | - | - | error inputDate: is missing (YYYY-MM-DD, DD-MM-YYYY, DD/MM/YYYY or an ISO 8601 date-time like 2026-03-09T10:30:00+05:30)
        a long value is cut    | xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx | - | - | error inputDate: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"… is not a date (YYYY-MM-DD, DD-MM-YYYY, DD/MM/YYYY or an ISO 8601 date-time like 2026-03-09T10:30:00+05:30)
        hour 25                | 2026-03-10 | 25:00    | - | error inputTime: "25:00" is not a time (HH:MM, 24-hour, or hh:mm AM/PM)
        13 PM                  | 2026-03-10 | 13:00 PM | - | error inputTime: "13:00 PM" is not a time (HH:MM, 24-hour, or hh:mm AM/PM)
        0 AM                   | 2026-03-10 | 0:30 am  | - | error inputTime: "0:30 am" is not a time (HH:MM, 24-hour, or hh:mm AM/PM)
        a dot                  | 2026-03-10 | 10.30    | - | error inputTime: "10.30" is not a time (HH:MM, 24-hour, or hh:mm AM/PM)
        one minute digit       | 2026-03-10 | 10:3     | - | error inputTime: "10:3" is not a time (HH:MM, 24-hour, or hh:mm AM/PM)
        seconds                | 2026-03-10 | 10:30:00 | - | error inputTime: "10:30:00" is not a time (HH:MM, 24-hour, or hh:mm AM/PM)
        an unknown type        | 2026-03-10 | 10:30    | Urgent | error type: "Urgent" is not a type this method knows (Callback, or empty for business hours)
        the date is read first | 2026-02-30 | 25:00    | Urgent | error inputDate: "2026-02-30" is not a date: February 2026 has 28 days
        "#,
    );
    let err = validate_date_time(
        &Calendar::default(),
        TimeZone::UTC,
        at("2026-03-02T10:00:00Z"),
        &DateTimeInput {
            date: "2026-02-30",
            ..DateTimeInput::default()
        },
    )
    .expect_err("not a date");
    assert_eq!(err.key, INPUT_DATE);
}

#[test]
fn the_next_open_day_is_found_past_every_holiday() {
    // One working weekday, and 366 holidays on every Monday from 2026-03-02.
    let first = NaiveDate::from_ymd_opt(2026, 3, 2).expect("a date");
    let mondays: Vec<String> = (0..366)
        .map(|w| (first + Duration::weeks(w)).format("%Y-%m-%d").to_string())
        .collect();
    let setting = Setting {
        calendar: json!({"weekdays": ["monday"], "holidays": mondays}),
        ..kolkata()
    };
    check_table(
        &setting,
        r#"
        366 Mondays off | 2026-03-02 | 10:00 | - | false true 2033-03-07T10:00:00+05:30 7-3-2033 Monday [09:00 AM to 06:00 PM]
        "#,
    );
}
