//! Executions reports (SPEC §5 `pullreport`): the pure rules. What a request
//! means (a date range read in the account's zone, a format) and how the
//! table is written (CSV per RFC 4180, or a JSON array of objects with the
//! same columns), a row at a time, so a report of any size streams.
//!
//! The table: `uuid, contact, status, start, end, duration`, then one column
//! per `$flow.key` variable any execution had at its end (headed by its full
//! name, `$flow.key.orderId`), then one per persisted response value
//! (`persisted.` and the variable's name). Times are ISO 8601 with
//! milliseconds in the report's zone (the account's), with its offset;
//! `duration` is seconds with milliseconds; both are empty (CSV) or `null`
//! (JSON) for an execution still running. A key an execution lacks is empty
//! or `null` too.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone as _, Utc};

use crate::account::TimeZone;

/// The file a report is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Csv,
    Json,
}

impl ReportFormat {
    /// `csv` (also the default when none is asked) or `json`, in any case.
    pub fn parse(s: &str) -> Result<ReportFormat, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "csv" => Ok(ReportFormat::Csv),
            "json" => Ok(ReportFormat::Json),
            _ => Err(format!("{s:?} is not a report format: use csv or json")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReportFormat::Csv => "csv",
            ReportFormat::Json => "json",
        }
    }

    /// The file's media type.
    pub fn content_type(self) -> &'static str {
        match self {
            ReportFormat::Csv => "text/csv; charset=utf-8",
            ReportFormat::Json => "application/json",
        }
    }
}

/// Which end of the range a time is: a date alone means the start of that
/// day for `from`, and the end of it (the next day's start) for `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    From,
    To,
}

/// Reads one end of a report's range as unix milliseconds: an RFC 3339
/// date-time (`2026-11-21T10:00:00+05:30`, `…Z`), a local date-time without
/// offset (`2026-11-21T10:00[:00]`, in `zone`), or a date (`2026-11-21`, in
/// `zone`; as `to`, that whole day is included).
pub fn parse_time(text: &str, zone: TimeZone, end: End) -> Result<i64, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    let local = if let Ok(date) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let date = match end {
            End::From => date,
            End::To => date
                .succ_opt()
                .ok_or_else(|| format!("{text:?} is past the last date there is"))?,
        };
        date.and_hms_opt(0, 0, 0).expect("midnight exists")
    } else {
        ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d %H:%M"]
            .iter()
            .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
            .ok_or_else(|| {
                format!(
                    "{text:?} is not an ISO 8601 date or date-time, like 2026-11-21 or 2026-11-21T10:00:00+05:30"
                )
            })?
    };
    Ok(local_millis(local, zone))
}

/// A wall-clock time in `zone` as unix milliseconds: the earlier instant of
/// an hour that happens twice, and the first instant after a gap (a clock
/// moved forward at that time) for one that does not happen.
fn local_millis(local: NaiveDateTime, zone: TimeZone) -> i64 {
    let tz = zone.tz();
    let mut probe = local;
    // Gaps are at most a few hours; step forward by minutes until out of one.
    for _ in 0..(24 * 60) {
        if let Some(t) = tz.from_local_datetime(&probe).earliest() {
            return t.timestamp_millis();
        }
        probe += chrono::Duration::minutes(1);
    }
    Utc.from_utc_datetime(&local).timestamp_millis()
}

/// A report's range: `[from, to)` in unix milliseconds.
pub fn parse_range(from: &str, to: &str, zone: TimeZone) -> Result<(i64, i64), RangeError> {
    let from = parse_time(from, zone, End::From).map_err(RangeError::From)?;
    let to = parse_time(to, zone, End::To).map_err(RangeError::To)?;
    if from >= to {
        return Err(RangeError::Empty);
    }
    Ok((from, to))
}

/// Why a range is refused, naming the end at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RangeError {
    From(String),
    To(String),
    /// `from` is not before `to`.
    Empty,
}

/// A time of the table: ISO 8601 with milliseconds and the zone's offset.
pub fn format_time(millis: i64, zone: TimeZone) -> String {
    DateTime::from_timestamp_millis(millis)
        .unwrap_or_default()
        .with_timezone(&zone.tz())
        .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

/// The columns after the fixed ones, found by a first pass over the rows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Columns {
    /// Full names of `$flow.key` variables, sorted.
    pub keys: Vec<String>,
    /// Names of persisted response values, sorted.
    pub persisted: Vec<String>,
}

/// The fixed columns, in order.
pub const FIXED: [&str; 6] = ["uuid", "contact", "status", "start", "end", "duration"];

/// The prefix of a persisted value's column.
pub const PERSISTED_PREFIX: &str = "persisted.";

impl Columns {
    /// Every column's heading, in order.
    pub fn headings(&self) -> impl Iterator<Item = String> + '_ {
        FIXED
            .iter()
            .map(|f| (*f).to_owned())
            .chain(self.keys.iter().cloned())
            .chain(
                self.persisted
                    .iter()
                    .map(|p| format!("{PERSISTED_PREFIX}{p}")),
            )
    }
}

/// One execution as a table row shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    pub uuid: String,
    pub contact: &'a str,
    pub status: &'a str,
    pub start: String,
    pub end: Option<String>,
    /// Seconds, with milliseconds.
    pub duration: Option<f64>,
    /// One value (or none) per [`Columns::keys`], then per
    /// [`Columns::persisted`], in order.
    pub values: Vec<Option<&'a str>>,
}

/// Writes a table a row at a time into a buffer the caller drains.
pub struct TableWriter {
    format: ReportFormat,
    rows: u64,
    headings: Vec<String>,
}

impl TableWriter {
    /// Writes the start of the file (the CSV heading line, or `[`).
    pub fn start(format: ReportFormat, columns: &Columns, out: &mut String) -> TableWriter {
        let headings: Vec<String> = columns.headings().collect();
        match format {
            ReportFormat::Csv => {
                for (i, h) in headings.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    csv_field(h, out);
                }
                out.push_str("\r\n");
            }
            ReportFormat::Json => out.push('['),
        }
        TableWriter {
            format,
            rows: 0,
            headings,
        }
    }

    /// Writes one row.
    pub fn row(&mut self, line: &Line<'_>, out: &mut String) {
        let duration = line.duration.map(|d| format!("{d:.3}"));
        let fixed = [
            Some(line.uuid.as_str()),
            Some(line.contact),
            Some(line.status),
            Some(line.start.as_str()),
            line.end.as_deref(),
            duration.as_deref(),
        ];
        let cells = fixed.into_iter().chain(line.values.iter().copied());
        match self.format {
            ReportFormat::Csv => {
                for (i, cell) in cells.enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    csv_field(cell.unwrap_or(""), out);
                }
                out.push_str("\r\n");
            }
            ReportFormat::Json => {
                out.push_str(if self.rows == 0 { "\n" } else { ",\n" });
                out.push('{');
                for (i, (heading, cell)) in self.headings.iter().zip(cells).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    json_string(heading, out);
                    out.push(':');
                    match (i, cell) {
                        (_, None) => out.push_str("null"),
                        // `duration` is a number.
                        (5, Some(d)) => out.push_str(d),
                        (_, Some(text)) => json_string(text, out),
                    }
                }
                out.push('}');
            }
        }
        self.rows += 1;
    }

    /// Writes the end of the file.
    pub fn finish(self, out: &mut String) {
        if self.format == ReportFormat::Json {
            out.push_str(if self.rows == 0 { "]\n" } else { "\n]\n" });
        }
    }
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote, a line
/// break or leading or trailing spaces, with quotes doubled.
pub fn csv_field(text: &str, out: &mut String) {
    let quote =
        text.contains([',', '"', '\n', '\r']) || text.starts_with(' ') || text.ends_with(' ');
    if !quote {
        out.push_str(text);
        return;
    }
    out.push('"');
    for c in text.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
}

fn json_string(text: &str, out: &mut String) {
    // serde_json's escaping, written straight into the buffer.
    out.push_str(&serde_json::Value::from(text).to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kolkata() -> TimeZone {
        TimeZone::parse("Asia/Kolkata").expect("zone")
    }

    #[test]
    fn dates_are_days_in_the_zone_and_to_includes_its_day() {
        let (from, to) = parse_range("2026-11-21", "2026-11-21", kolkata()).expect("range");
        assert_eq!(
            format_time(from, TimeZone::UTC),
            "2026-11-20T18:30:00.000+00:00"
        );
        assert_eq!(to - from, 86_400_000);
        let (from, to) = parse_range(
            "2026-11-21T10:00:00+05:30",
            "2026-11-21T10:00:01Z",
            kolkata(),
        )
        .expect("range");
        assert_eq!(
            format_time(from, kolkata()),
            "2026-11-21T10:00:00.000+05:30"
        );
        assert_eq!(
            format_time(to, TimeZone::UTC),
            "2026-11-21T10:00:01.000+00:00"
        );
        let (from, _) = parse_range("2026-11-21T10:00", "2026-11-22", kolkata()).expect("range");
        assert_eq!(
            format_time(from, kolkata()),
            "2026-11-21T10:00:00.000+05:30"
        );
    }

    #[test]
    fn bad_ranges_name_their_end() {
        assert!(matches!(
            parse_range("21/11/2026", "2026-11-22", kolkata()),
            Err(RangeError::From(_))
        ));
        assert!(matches!(
            parse_range("2026-11-21", "soon", kolkata()),
            Err(RangeError::To(_))
        ));
        assert_eq!(
            parse_range("2026-11-22", "2026-11-21", kolkata()),
            Err(RangeError::Empty)
        );
        assert_eq!(
            parse_range("2026-11-21T00:00:00Z", "2026-11-21T00:00:00Z", kolkata()),
            Err(RangeError::Empty)
        );
    }

    #[test]
    fn a_midnight_in_a_gap_is_the_first_instant_after_it() {
        // Cuba moves its clocks from 00:00 to 01:00 on March's second Sunday.
        let havana = TimeZone::parse("America/Havana").expect("zone");
        let (from, _) = parse_range("2026-03-08", "2026-03-09", havana).expect("range");
        assert_eq!(format_time(from, havana), "2026-03-08T01:00:00.000-04:00");
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        let mut out = String::new();
        for f in ["plain", "a,b", "say \"hi\"", "two\nlines", " padded", ""] {
            csv_field(f, &mut out);
            out.push('|');
        }
        assert_eq!(
            out,
            "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\" padded\"||"
        );
    }

    #[test]
    fn both_formats_write_the_same_table() {
        let columns = Columns {
            keys: vec!["$flow.key.a".into()],
            persisted: vec!["$flow.key.p".into()],
        };
        let line = Line {
            uuid: "u1".into(),
            contact: "91",
            status: "completed",
            start: "s".into(),
            end: None,
            duration: None,
            values: vec![Some("x,\"y\""), None],
        };
        let mut csv = String::new();
        let mut w = TableWriter::start(ReportFormat::Csv, &columns, &mut csv);
        w.row(&line, &mut csv);
        w.finish(&mut csv);
        assert_eq!(
            csv,
            "uuid,contact,status,start,end,duration,$flow.key.a,persisted.$flow.key.p\r\n\
             u1,91,completed,s,,,\"x,\"\"y\"\"\",\r\n"
        );
        let mut json = String::new();
        let mut w = TableWriter::start(ReportFormat::Json, &columns, &mut json);
        w.row(&line, &mut json);
        w.row(
            &Line {
                duration: Some(1.5),
                ..line.clone()
            },
            &mut json,
        );
        w.finish(&mut json);
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(parsed[0]["$flow.key.a"], "x,\"y\"");
        assert_eq!(parsed[0]["persisted.$flow.key.p"], serde_json::Value::Null);
        assert_eq!(parsed[0]["duration"], serde_json::Value::Null);
        assert_eq!(parsed[1]["duration"], 1.5);
        let mut empty = String::new();
        TableWriter::start(ReportFormat::Json, &columns, &mut empty).finish(&mut empty);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&empty).expect("json"),
            serde_json::json!([])
        );
    }
}
