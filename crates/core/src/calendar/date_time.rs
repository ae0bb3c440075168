//! The `validateDateTime` internal webhook (SPEC §5) as a pure rule: is a
//! requested date and time open on the account's calendar, and if not, which is
//! the next open slot.
//!
//! Inputs (flow variables, as strings):
//! - `inputDate`: `YYYY-MM-DD`, `DD-MM-YYYY` or `DD/MM/YYYY` (day and month may
//!   be one digit, so a `smsDate` can be fed back), or an ISO 8601 date-time
//!   `YYYY-MM-DDTHH:MM[:SS[.fff]][Z|±HH:MM]`. A date-time with an offset is an
//!   instant, looked at in the calendar's zone; one without is a wall-clock time
//!   there.
//! - `inputTime` (optional): `HH:MM` (24-hour, the hour may be one digit) or
//!   `hh:mm AM` / `hh:mm PM` (any letter case, the space optional). It replaces
//!   the time of a date-time `inputDate`.
//! - `type` (optional): `Callback` checks the callback hours; empty or
//!   `Business` the business hours (any letter case).
//!
//! The rules, all in the calendar's zone:
//! - `dateIsValid`: the date is a working weekday, not a holiday, and not before
//!   today (today counts).
//! - `timeIsValid` is about the hours only, never the weekday or holidays. With
//!   a time: the time of day is inside the window `[start, end)`, exists on that
//!   date (not in a daylight-saving gap) and is not in the past. Without a time:
//!   the window on that date is not over yet (false for a past date, and for
//!   today once `now` has reached the window's end).
//! - `outputDate` is the requested instant when both are valid (without a time:
//!   the window's start, or `now` rounded up to the minute if today's window has
//!   begun). Otherwise it is the next open slot: a working, non-holiday day at a
//!   time inside the window, searched from
//!   - a past date: now (rounded up to the minute);
//!   - a closed day (weekend, holiday): the next working day, at the requested
//!     time if it is inside the window, else at the window's start;
//!   - an open day at a bad time: the requested instant (or now, if later), so a
//!     time before hours gives that day's start and one after hours the next
//!     working day's start.
//! - Daylight saving: a wall-clock time that does not exist (the spring-forward
//!   gap) means the first instant after the gap (02:30 → 03:00 on a day that
//!   skips 02:00–03:00), and is not a valid time; an ambiguous one (the
//!   fall-back hour) means the earlier instant. An input with an offset names
//!   its instant exactly. `outputDate` carries the offset in force at its
//!   instant.
//!
//! Bad input is an [`InputError`] naming the key; the caller answers `FAILED`.

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, FixedOffset, Month, NaiveDate, NaiveDateTime, NaiveTime, TimeZone as _,
    Timelike, Utc,
};
use chrono_tz::Tz;

use super::{Calendar, Hours, Window, quoted};
use crate::account::TimeZone;

/// The key of the requested date.
pub const INPUT_DATE: &str = "inputDate";
/// The key of the optional requested time.
pub const INPUT_TIME: &str = "inputTime";
/// The key of the optional window type.
pub const TYPE: &str = "type";

/// The inputs of `validateDateTime` as the flow sent them; `None` and blank
/// values of the optional keys mean "not given".
#[derive(Debug, Clone, Copy, Default)]
pub struct DateTimeInput<'a> {
    pub date: &'a str,
    pub time: Option<&'a str>,
    pub kind: Option<&'a str>,
}

/// An input that cannot be read: `key` is the input's name (`inputDate`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct InputError {
    pub key: &'static str,
    pub message: String,
}

fn bad(key: &'static str, message: impl Into<String>) -> InputError {
    InputError {
        key,
        message: message.into(),
    }
}

/// The answer of `validateDateTime`; [`DateTimeCheck::keys`] gives the outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateTimeCheck {
    pub date_is_valid: bool,
    pub time_is_valid: bool,
    /// The requested instant if it is open, else the next open slot.
    pub slot: DateTime<Tz>,
    /// The window that was checked.
    pub window: Window,
}

impl DateTimeCheck {
    /// `outputDate`: ISO 8601 with the offset in force, `2019-12-09T09:00:00+05:30`.
    pub fn output_date(&self) -> String {
        self.slot.format("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }

    /// `smsDate`: `D-M-YYYY` without zero padding, `8-12-2019`.
    pub fn sms_date(&self) -> String {
        let d = self.slot.date_naive();
        format!("{}-{}-{}", d.day(), d.month(), d.year())
    }

    /// `outputTime` and `SmsOutputTime`: `09:00 AM to 06:00 PM`.
    pub fn output_time(&self) -> String {
        self.window.twelve_hour()
    }

    /// `outputDay`: the weekday of `outputDate` in English, `Sunday`.
    pub fn output_day(&self) -> String {
        self.slot.format("%A").to_string()
    }

    /// The outputs in SPEC order, under their names without a prefix (the
    /// caller writes them as `$flow.key.<name>`).
    pub fn keys(&self) -> [(&'static str, String); 7] {
        [
            ("dateIsValid", self.date_is_valid.to_string()),
            ("timeIsValid", self.time_is_valid.to_string()),
            ("outputDate", self.output_date()),
            ("smsDate", self.sms_date()),
            ("outputTime", self.output_time()),
            ("SmsOutputTime", self.output_time()),
            ("outputDay", self.output_day()),
        ]
    }
}

/// Checks a requested date (and time) against `calendar`, whose zone is its
/// own or else `account_tz`, at the instant `now`.
pub fn validate_date_time(
    calendar: &Calendar,
    account_tz: TimeZone,
    now: DateTime<Utc>,
    input: &DateTimeInput<'_>,
) -> Result<DateTimeCheck, InputError> {
    let tz = calendar.zone(account_tz).tz();
    let requested = parse_date(input.date)?;
    let time = input.time.map(parse_time).transpose()?.flatten();
    let hours = parse_type(input.kind)?;
    let (date, time, instant) = match (requested, time) {
        (Requested::Day(date), time) => (date, time, None),
        (Requested::Wall(at), None) => (at.date(), Some(at.time()), None),
        (Requested::Instant(at), None) => {
            let at = at.with_timezone(&tz);
            (at.date_naive(), Some(at.time()), Some(at))
        }
        (Requested::Wall(at), Some(t)) => (at.date(), Some(t), None),
        (Requested::Instant(at), Some(t)) => (at.with_timezone(&tz).date_naive(), Some(t), None),
    };
    let rules = Rules {
        calendar,
        tz,
        window: calendar.hours(hours),
        now: now.with_timezone(&tz),
    };
    rules.check(date, time, instant).ok_or_else(|| {
        bad(
            INPUT_DATE,
            "no open slot follows it within the supported dates",
        )
    })
}

/// One check's fixed context.
struct Rules<'a> {
    calendar: &'a Calendar,
    tz: Tz,
    window: Window,
    now: DateTime<Tz>,
}

/// How far the slot search looks: past every holiday, at one working day a
/// week (the calendar's promise), and a day more for today's closed window.
const SEARCH_DAYS: usize = 7 * (Calendar::MAX_HOLIDAYS + 2);

impl Rules<'_> {
    /// `None` only when the search runs off the end of the representable dates.
    fn check(
        &self,
        date: NaiveDate,
        time: Option<NaiveTime>,
        instant: Option<DateTime<Tz>>,
    ) -> Option<DateTimeCheck> {
        let earliest = ceil_minute(self.now)?;
        let past = date < self.now.date_naive();
        let date_is_valid = !past && self.calendar.is_working_day(date);
        let (time_is_valid, slot) = match time {
            Some(t) => {
                let (at, exists) = match instant {
                    Some(at) => (at, true),
                    None => resolve(self.tz, date, t)?,
                };
                let time_is_valid = exists && self.window.contains(t) && at >= self.now;
                let slot = if date_is_valid && time_is_valid {
                    at
                } else if past {
                    self.next_slot(earliest)?
                } else if !date_is_valid {
                    let day = self.next_working_day(date)?;
                    let t = if self.window.contains(t) {
                        t
                    } else {
                        self.window.start()
                    };
                    self.next_slot(resolve(self.tz, day, t)?.0.max(earliest))?
                } else {
                    self.next_slot(at.max(earliest))?
                };
                (time_is_valid, slot)
            }
            None => {
                let from = if past {
                    earliest
                } else {
                    resolve(self.tz, date, self.window.start())?.0.max(earliest)
                };
                // A past date's window is over: its end is before `earliest`.
                let time_is_valid = resolve(self.tz, date, self.window.end())?.0 > from;
                (time_is_valid, self.next_slot(from)?)
            }
        };
        Some(DateTimeCheck {
            date_is_valid,
            time_is_valid,
            slot,
            window: self.window,
        })
    }

    /// The first instant at or after `from` inside the window of a working day.
    fn next_slot(&self, from: DateTime<Tz>) -> Option<DateTime<Tz>> {
        let mut day = from.date_naive();
        for _ in 0..SEARCH_DAYS {
            if self.calendar.is_working_day(day) {
                let (start, _) = resolve(self.tz, day, self.window.start())?;
                let (end, _) = resolve(self.tz, day, self.window.end())?;
                let candidate = start.max(from);
                if candidate < end {
                    return Some(candidate);
                }
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// The first working, non-holiday day after `date`.
    fn next_working_day(&self, date: NaiveDate) -> Option<NaiveDate> {
        let mut day = date;
        for _ in 0..SEARCH_DAYS {
            day = day.succ_opt()?;
            if self.calendar.is_working_day(day) {
                return Some(day);
            }
        }
        None
    }
}

/// The instant a wall-clock time names in `tz`, and whether that time exists:
/// the earlier instant of an ambiguous time, the first instant after a gap.
fn resolve(tz: Tz, date: NaiveDate, time: NaiveTime) -> Option<(DateTime<Tz>, bool)> {
    let wall = date.and_time(time);
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(at) => Some((at, true)),
        LocalResult::Ambiguous(a, b) => Some((a.min(b), true)),
        LocalResult::None => {
            // Transitions fall on whole minutes, so the first whole minute that
            // exists is the gap's end. Gaps are at most a day (Pacific/Apia, 2011).
            let mut probe = date.and_hms_opt(time.hour(), time.minute(), 0)?;
            for _ in 0..2 * 24 * 60 {
                probe = probe.checked_add_signed(chrono::Duration::minutes(1))?;
                match tz.from_local_datetime(&probe) {
                    LocalResult::Single(at) => return Some((at, false)),
                    LocalResult::Ambiguous(a, b) => return Some((a.min(b), false)),
                    LocalResult::None => {}
                }
            }
            None
        }
    }
}

/// `now`, or the next whole minute if `now` is not on one: slots offered
/// "from now" start on a minute.
fn ceil_minute(now: DateTime<Tz>) -> Option<DateTime<Tz>> {
    let secs = now.timestamp();
    let whole = secs.rem_euclid(60) == 0 && now.timestamp_subsec_nanos() == 0;
    let minute = secs - secs.rem_euclid(60) + if whole { 0 } else { 60 };
    Some(DateTime::from_timestamp(minute, 0)?.with_timezone(&now.timezone()))
}

/// What `inputDate` asked for.
enum Requested {
    Day(NaiveDate),
    Wall(NaiveDateTime),
    Instant(DateTime<FixedOffset>),
}

const DATE_FORMATS: &str =
    "YYYY-MM-DD, DD-MM-YYYY, DD/MM/YYYY or an ISO 8601 date-time like 2026-03-09T10:30:00+05:30";

fn parse_date(raw: &str) -> Result<Requested, InputError> {
    let s = raw.trim();
    if s.is_empty() {
        return Err(bad(INPUT_DATE, format!("is missing ({DATE_FORMATS})")));
    }
    let parsed = if s.len() > 10 && s.is_char_boundary(10) {
        parse_iso_date_time(s)
    } else {
        parse_iso_date(s)
            .or_else(|| parse_day_first(s))
            .map(|r| r.map(Requested::Day))
    };
    match parsed {
        Some(Ok(requested)) => Ok(requested),
        Some(Err(reason)) => Err(bad(
            INPUT_DATE,
            format!("{} is not a date: {reason}", quoted(raw)),
        )),
        None => Err(bad(
            INPUT_DATE,
            format!("{} is not a date ({DATE_FORMATS})", quoted(raw)),
        )),
    }
}

/// Digits only, as a number; `None` for an empty or non-digit text.
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Exactly `YYYY-MM-DD`. `None` when the text has another shape, `Some(Err)`
/// with the reason when it has this shape but names no day.
pub(crate) fn parse_iso_date(s: &str) -> Option<Result<NaiveDate, String>> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    Some(ymd(
        number(&s[0..4])?,
        number(&s[5..7])?,
        number(&s[8..10])?,
    ))
}

/// `D-M-YYYY` or `D/M/YYYY`, day and month of one or two digits.
fn parse_day_first(s: &str) -> Option<Result<NaiveDate, String>> {
    let sep = if s.contains('/') { '/' } else { '-' };
    let mut parts = s.split(sep);
    let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || !(1..=2).contains(&d.len())
        || !(1..=2).contains(&m.len())
        || y.len() != 4
    {
        return None;
    }
    Some(ymd(number(y)?, number(m)?, number(d)?))
}

/// `YYYY-MM-DD` `T` `HH:MM[:SS[.fff]]` `[Z|±HH:MM]`; the `T` may be `t` or a space.
fn parse_iso_date_time(s: &str) -> Option<Result<Requested, String>> {
    let (date, rest) = s.split_at(10);
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (clock, offset) = match rest.find(['Z', 'z', '+', '-']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let (hm, seconds) = match clock.get(5..) {
        Some("") => (clock, None),
        Some(tail) => (&clock[..5], Some(tail.strip_prefix(':')?)),
        None => return None,
    };
    let date = match parse_iso_date(date)? {
        Ok(date) => date,
        Err(reason) => return Some(Err(reason)),
    };
    let (h, m) = hm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let s = match seconds {
        None => 0,
        Some(sec) => {
            // Fractions are dropped: slots are to the second.
            let (whole, fraction) = sec.split_once('.').unwrap_or((sec, "0"));
            if whole.len() != 2 || number(fraction).is_none() {
                return None;
            }
            number(whole)?
        }
    };
    let wall = date.and_time(NaiveTime::from_hms_opt(number(h)?, number(m)?, s)?);
    let zone = match offset {
        "" => return Some(Ok(Requested::Wall(wall))),
        "Z" | "z" => FixedOffset::east_opt(0)?,
        _ => {
            let (sign, hhmm) = offset.split_at(1);
            let (oh, om) = hhmm.split_once(':')?;
            if oh.len() != 2 || om.len() != 2 || number(oh)? > 23 || number(om)? > 59 {
                return None;
            }
            let secs = i32::try_from(number(oh)? * 3600 + number(om)? * 60).ok()?;
            FixedOffset::east_opt(if sign == "-" { -secs } else { secs })?
        }
    };
    let at = zone.from_local_datetime(&wall).single()?;
    Some(Ok(Requested::Instant(at)))
}

/// A day from its numbers, or why there is no such day.
fn ymd(year: u32, month: u32, day: u32) -> Result<NaiveDate, String> {
    let year = i32::try_from(year).map_err(|_| format!("there is no year {year}"))?;
    let month_name = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(|| format!("there is no month {month}"))?
        .name();
    if day == 0 {
        return Err("there is no day 0".into());
    }
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| {
        let days = (28..=31)
            .rev()
            .find(|d| NaiveDate::from_ymd_opt(year, month, *d).is_some())
            .unwrap_or(28);
        format!("{month_name} {year} has {days} days")
    })
}

const TIME_FORMATS: &str = "HH:MM, 24-hour, or hh:mm AM/PM";

/// `HH:MM` or `hh:mm AM/PM`; blank is "not given".
fn parse_time(raw: &str) -> Result<Option<NaiveTime>, InputError> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let lower = s.to_ascii_lowercase();
    let (clock, meridiem) = match lower
        .strip_suffix("am")
        .map(|c| (c, Some(false)))
        .or_else(|| lower.strip_suffix("pm").map(|c| (c, Some(true))))
    {
        Some((c, m)) => (c.strip_suffix(' ').unwrap_or(c), m),
        None => (lower.as_str(), None),
    };
    let hm = clock.split_once(':').and_then(|(h, m)| {
        ((1..=2).contains(&h.len()) && m.len() == 2).then_some((number(h)?, number(m)?))
    });
    let hour = match (hm, meridiem) {
        (Some((h, _)), None) => Some(h),
        (Some((h @ 1..=12, _)), Some(pm)) => Some(h % 12 + if pm { 12 } else { 0 }),
        _ => None,
    };
    hour.zip(hm)
        .and_then(|(h, (_, m))| NaiveTime::from_hms_opt(h, m, 0))
        .map(Some)
        .ok_or_else(|| {
            bad(
                INPUT_TIME,
                format!("{} is not a time ({TIME_FORMATS})", quoted(raw)),
            )
        })
}

/// `Callback`, or `Business`/blank for business hours; any letter case.
fn parse_type(raw: Option<&str>) -> Result<Hours, InputError> {
    let s = raw.unwrap_or("").trim();
    if s.is_empty() || s.eq_ignore_ascii_case("business") {
        Ok(Hours::Business)
    } else if s.eq_ignore_ascii_case("callback") {
        Ok(Hours::Callback)
    } else {
        Err(bad(
            TYPE,
            format!(
                "{} is not a type this method knows (Callback, or empty for business hours)",
                quoted(s)
            ),
        ))
    }
}

#[cfg(test)]
mod tests;
