//! An account's business calendar (SPEC §5, `validateDateTime`): the time zone,
//! the working weekdays, the business and callback hours, and the holidays.
//!
//! [`Calendar::parse`] reads the `calendar` object that `PATCH /v1/accounts/{id}`
//! takes; every error names the field it is about (`calendar.holidays[2]: …`).
//! Every field is optional and `{}` is the default calendar:
//!
//! | field | default |
//! |---|---|
//! | `timezone` | the account's time zone (followed when the account's changes) |
//! | `weekdays` | `monday` to `friday` |
//! | `business_hours` | `{"start": "09:00", "end": "18:00"}` |
//! | `callback_hours` | `{"start": "08:00", "end": "20:00"}` |
//! | `holidays` | none |
//!
//! Promises: a parsed calendar has at least one working weekday, windows whose
//! start is before their end (both within one day, minute precision), and at
//! most [`Calendar::MAX_HOLIDAYS`] distinct holidays. So a working day is never
//! more than `7 × (MAX_HOLIDAYS + 1)` days away, which bounds every search for
//! the next open slot. Serializing gives the canonical form (every field but an
//! unset `timezone` written out, weekdays in week order, holidays by date),
//! which parses back to the same calendar.
//!
//! The `validateDateTime` rule itself lives in [`date_time`].

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, NaiveTime, Timelike, Weekday};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::account::TimeZone;

pub mod date_time;
mod shape;

pub use date_time::{DateTimeCheck, DateTimeInput, InputError, validate_date_time};

/// A calendar as parsed: see the module documentation for the JSON and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    timezone: Option<TimeZone>,
    weekdays: Weekdays,
    business_hours: Window,
    callback_hours: Window,
    holidays: BTreeMap<NaiveDate, Option<String>>,
}

impl Default for Calendar {
    fn default() -> Self {
        Calendar {
            timezone: None,
            weekdays: Weekdays::default(),
            business_hours: Window::BUSINESS,
            callback_hours: Window::CALLBACK,
            holidays: BTreeMap::new(),
        }
    }
}

/// Which window of the day a check is about: `type` of `validateDateTime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Hours {
    #[default]
    Business,
    Callback,
}

/// Why a calendar was refused: the field (`calendar.business_hours.start`) and
/// what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct CalendarError {
    pub field: String,
    pub message: String,
}

fn refuse(field: impl Into<String>, message: impl Into<String>) -> CalendarError {
    CalendarError {
        field: field.into(),
        message: message.into(),
    }
}

const FIELDS: [&str; 5] = [
    "timezone",
    "weekdays",
    "business_hours",
    "callback_hours",
    "holidays",
];

impl Calendar {
    /// At most this many holidays (one year's worth of days).
    pub const MAX_HOLIDAYS: usize = 366;
    /// At most this many characters in a holiday's name.
    pub const MAX_NAME_CHARS: usize = 100;

    /// Parses the JSON of an account's `calendar`; `{}` is the default calendar.
    pub fn parse(value: &Value) -> Result<Calendar, CalendarError> {
        let obj = value
            .as_object()
            .ok_or_else(|| refuse("calendar", "must be a JSON object"))?;
        if let Some(key) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(refuse(
                "calendar",
                format!(
                    "unknown field {} (expected timezone, weekdays, business_hours, callback_hours or holidays)",
                    quoted(key)
                ),
            ));
        }
        let timezone = obj.get("timezone").map(parse_timezone).transpose()?;
        let weekdays = match obj.get("weekdays") {
            Some(v) => Weekdays::parse(v)?,
            None => Weekdays::default(),
        };
        Ok(Calendar {
            timezone,
            weekdays,
            business_hours: Window::parse(obj, "business_hours", Window::BUSINESS)?,
            callback_hours: Window::parse(obj, "callback_hours", Window::CALLBACK)?,
            holidays: match obj.get("holidays") {
                Some(v) => parse_holidays(v)?,
                None => BTreeMap::new(),
            },
        })
    }

    /// The time zone set on the calendar, if any.
    pub fn timezone(&self) -> Option<TimeZone> {
        self.timezone
    }

    /// The zone the calendar's days and hours are in: its own, else the account's.
    pub fn zone(&self, account: TimeZone) -> TimeZone {
        self.timezone.unwrap_or(account)
    }

    pub fn weekdays(&self) -> Weekdays {
        self.weekdays
    }

    pub fn hours(&self, which: Hours) -> Window {
        match which {
            Hours::Business => self.business_hours,
            Hours::Callback => self.callback_hours,
        }
    }

    /// The holidays in date order, with their names.
    pub fn holidays(&self) -> impl Iterator<Item = (NaiveDate, Option<&str>)> {
        self.holidays.iter().map(|(d, n)| (*d, n.as_deref()))
    }

    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holidays.contains_key(&date)
    }

    /// A working weekday that is not a holiday (whether it is past is the
    /// caller's question).
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.weekdays.contains(date.weekday()) && !self.is_holiday(date)
    }
}

/// Through [`Calendar::parse`], so a stored calendar meets the same rules.
impl<'de> Deserialize<'de> for Calendar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Calendar::parse(&value).map_err(serde::de::Error::custom)
    }
}

/// The working weekdays: a non-empty set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weekdays(u8);

impl Default for Weekdays {
    /// Monday to Friday: the seeds name no default, and a Saturday is opt-in.
    fn default() -> Self {
        Weekdays(0b001_1111)
    }
}

impl Weekdays {
    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    /// The days in week order, Monday first.
    pub fn iter(self) -> impl Iterator<Item = Weekday> {
        (0..7u8)
            .filter_map(|i| Weekday::try_from(i).ok())
            .filter(move |d| self.contains(*d))
    }

    fn parse(value: &Value) -> Result<Weekdays, CalendarError> {
        const PATH: &str = "calendar.weekdays";
        let list = value
            .as_array()
            .ok_or_else(|| refuse(PATH, "must be an array of day names (monday … sunday)"))?;
        if list.len() > 7 {
            return Err(refuse(PATH, "names at most the 7 days of the week"));
        }
        let mut set = 0u8;
        for (i, v) in list.iter().enumerate() {
            let path = format!("{PATH}[{i}]");
            let name = v
                .as_str()
                .ok_or_else(|| refuse(&path, "must be a day name (monday … sunday)"))?;
            let day = day_by_name(name).ok_or_else(|| {
                refuse(
                    &path,
                    format!("{} is not a day name (monday … sunday)", quoted(name)),
                )
            })?;
            let bit = 1 << day.num_days_from_monday();
            if set & bit != 0 {
                return Err(refuse(&path, format!("{} is listed twice", quoted(name))));
            }
            set |= bit;
        }
        if set == 0 {
            return Err(refuse(PATH, "must name at least one working day"));
        }
        Ok(Weekdays(set))
    }
}

fn day_by_name(name: &str) -> Option<Weekday> {
    const NAMES: [&str; 7] = [
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
    ];
    let i = NAMES.iter().position(|n| n.eq_ignore_ascii_case(name))?;
    Weekday::try_from(u8::try_from(i).ok()?).ok()
}

/// A window of the day, `[start, end)`, with `start < end`, to the minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    start: NaiveTime,
    end: NaiveTime,
}

const fn hm(hour: u32, minute: u32) -> NaiveTime {
    match NaiveTime::from_hms_opt(hour, minute, 0) {
        Some(t) => t,
        None => panic!("a constant time of day"),
    }
}

impl Window {
    /// The default business hours, 09:00 to 18:00.
    pub const BUSINESS: Window = Window {
        start: hm(9, 0),
        end: hm(18, 0),
    };
    /// The default callback hours, 08:00 to 20:00.
    pub const CALLBACK: Window = Window {
        start: hm(8, 0),
        end: hm(20, 0),
    };

    /// A window from whole minutes; `None` unless `start < end`.
    pub fn new(start: NaiveTime, end: NaiveTime) -> Option<Window> {
        let whole = |t: NaiveTime| t.second() == 0 && t.nanosecond() == 0;
        (whole(start) && whole(end) && start < end).then_some(Window { start, end })
    }

    pub fn start(self) -> NaiveTime {
        self.start
    }

    pub fn end(self) -> NaiveTime {
        self.end
    }

    /// Whether a time of day is inside `[start, end)`.
    pub fn contains(self, t: NaiveTime) -> bool {
        self.start <= t && t < self.end
    }

    /// The window in 12-hour form, as `outputTime` says it: `09:00 AM to 06:00 PM`.
    pub fn twelve_hour(self) -> String {
        format!(
            "{} to {}",
            self.start.format("%I:%M %p"),
            self.end.format("%I:%M %p")
        )
    }

    /// `obj[field]`, where a missing `start` or `end` keeps that of `default`.
    fn parse(
        obj: &Map<String, Value>,
        field: &str,
        default: Window,
    ) -> Result<Window, CalendarError> {
        let Some(value) = obj.get(field) else {
            return Ok(default);
        };
        let path = format!("calendar.{field}");
        let hours = value.as_object().ok_or_else(|| {
            refuse(
                &path,
                r#"must be an object like {"start": "09:00", "end": "18:00"}"#,
            )
        })?;
        if let Some(key) = hours.keys().find(|k| *k != "start" && *k != "end") {
            return Err(refuse(
                &path,
                format!("unknown field {} (expected start or end)", quoted(key)),
            ));
        }
        let time = |name: &str, default: NaiveTime| match hours.get(name) {
            None => Ok(default),
            Some(v) => parse_hh_mm(v, &format!("{path}.{name}")),
        };
        let start = time("start", default.start)?;
        let end = time("end", default.end)?;
        Window::new(start, end).ok_or_else(|| {
            refuse(
                &path,
                format!(
                    "start \"{}\" must be before end \"{}\"",
                    start.format("%H:%M"),
                    end.format("%H:%M")
                ),
            )
        })
    }
}

/// Exactly `HH:MM`, 24-hour.
fn parse_hh_mm(value: &Value, path: &str) -> Result<NaiveTime, CalendarError> {
    let s = value
        .as_str()
        .ok_or_else(|| refuse(path, "must be a string (HH:MM)"))?;
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let time = (b.len() == 5 && b[2] == b':')
        .then(|| NaiveTime::from_hms_opt(digits(0..2)?, digits(3..5)?, 0))
        .flatten();
    time.ok_or_else(|| refuse(path, format!("{} is not a time (HH:MM)", quoted(s))))
}

fn parse_timezone(value: &Value) -> Result<TimeZone, CalendarError> {
    const PATH: &str = "calendar.timezone";
    let name = value.as_str().ok_or_else(|| {
        refuse(
            PATH,
            "must be a string (an IANA time zone name like Asia/Kolkata)",
        )
    })?;
    TimeZone::parse(name).map_err(|_| {
        refuse(
            PATH,
            format!(
                "{} is not an IANA time zone name (like Asia/Kolkata)",
                quoted(name)
            ),
        )
    })
}

fn parse_holidays(value: &Value) -> Result<BTreeMap<NaiveDate, Option<String>>, CalendarError> {
    const PATH: &str = "calendar.holidays";
    let list = value.as_array().ok_or_else(|| {
        refuse(
            PATH,
            r#"must be an array of dates ("2026-12-25") or {"date", "name"} objects"#,
        )
    })?;
    if list.len() > Calendar::MAX_HOLIDAYS {
        return Err(refuse(
            PATH,
            format!(
                "at most {} holidays are allowed, got {}",
                Calendar::MAX_HOLIDAYS,
                list.len()
            ),
        ));
    }
    let mut holidays = BTreeMap::new();
    for (i, entry) in list.iter().enumerate() {
        let path = format!("{PATH}[{i}]");
        let (date, name) = match entry {
            Value::String(s) => (parse_holiday_date(s, &path)?, None),
            Value::Object(obj) => {
                if let Some(key) = obj.keys().find(|k| *k != "date" && *k != "name") {
                    return Err(refuse(
                        &path,
                        format!("unknown field {} (expected date or name)", quoted(key)),
                    ));
                }
                let date_path = format!("{path}.date");
                let date = match obj.get("date") {
                    Some(Value::String(s)) => parse_holiday_date(s, &date_path)?,
                    Some(_) => return Err(refuse(date_path, "must be a string (YYYY-MM-DD)")),
                    None => return Err(refuse(date_path, "is required")),
                };
                let name = obj
                    .get("name")
                    .map(|v| parse_holiday_name(v, &format!("{path}.name")))
                    .transpose()?;
                (date, name)
            }
            _ => {
                return Err(refuse(
                    &path,
                    r#"must be a date ("2026-12-25") or a {"date", "name"} object"#,
                ));
            }
        };
        if holidays.insert(date, name).is_some() {
            return Err(refuse(
                &path,
                format!("{} is listed twice", date.format("%Y-%m-%d")),
            ));
        }
    }
    Ok(holidays)
}

fn parse_holiday_date(s: &str, path: &str) -> Result<NaiveDate, CalendarError> {
    match date_time::parse_iso_date(s) {
        Some(Ok(date)) => Ok(date),
        Some(Err(reason)) => Err(refuse(
            path,
            format!("{} is not a date: {reason}", quoted(s)),
        )),
        None => Err(refuse(
            path,
            format!("{} is not a date (YYYY-MM-DD)", quoted(s)),
        )),
    }
}

/// Trimmed; at most [`Calendar::MAX_NAME_CHARS`] as sent (so the schema's
/// `maxLength` is the rule), not empty once trimmed.
fn parse_holiday_name(value: &Value, path: &str) -> Result<String, CalendarError> {
    let sent = value
        .as_str()
        .ok_or_else(|| refuse(path, "must be a string"))?;
    let name = sent.trim();
    if name.is_empty() {
        return Err(refuse(path, "must not be empty"));
    }
    if sent.chars().count() > Calendar::MAX_NAME_CHARS {
        return Err(refuse(
            path,
            format!("is longer than {} characters", Calendar::MAX_NAME_CHARS),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(refuse(path, "must not contain control characters"));
    }
    Ok(name.to_owned())
}

/// A value quoted for an error message, cut short if long: messages name what
/// was sent without echoing a whole document back.
pub(crate) fn quoted(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        format!("{s:?}")
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{:?}…", head)
    }
}

#[cfg(test)]
mod tests;
