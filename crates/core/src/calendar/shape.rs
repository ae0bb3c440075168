//! The JSON shape of a calendar, for serializing it and for the API schema.
//!
//! Parsing does not go through these types: [`Calendar::parse`] walks the JSON
//! so that every error can name its field. Serializing goes through them, so
//! the schema and what the API shows cannot drift apart.

use chrono::Weekday;
use serde::Serialize;
use utoipa::ToSchema;

use super::{Calendar, Window};
use crate::account::TimeZone;

impl Serialize for Calendar {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_doc().serialize(s)
    }
}

impl utoipa::PartialSchema for Calendar {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        CalendarDoc::schema()
    }
}

impl ToSchema for Calendar {
    fn name() -> std::borrow::Cow<'static, str> {
        "Calendar".into()
    }

    fn schemas(
        schemas: &mut Vec<(
            String,
            utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>,
        )>,
    ) {
        CalendarDoc::schemas(schemas);
    }
}

impl Calendar {
    fn to_doc(&self) -> CalendarDoc {
        CalendarDoc {
            timezone: self.timezone.map(|tz| tz.name().to_owned()),
            weekdays: self.weekdays.iter().map(WeekdayName::from).collect(),
            business_hours: self.business_hours.to_doc(),
            callback_hours: self.callback_hours.to_doc(),
            holidays: self
                .holidays
                .iter()
                .map(|(date, name)| {
                    let date = date.format("%Y-%m-%d").to_string();
                    match name {
                        None => CalendarHoliday::Date(date),
                        Some(name) => CalendarHoliday::Named(NamedHoliday {
                            date,
                            name: Some(name.clone()),
                        }),
                    }
                })
                .collect(),
        }
    }
}

impl Window {
    fn to_doc(self) -> CalendarHours {
        CalendarHours {
            start: self.start.format("%H:%M").to_string(),
            end: self.end.format("%H:%M").to_string(),
        }
    }
}

/// An account's business calendar, in its time zone. Every field is optional;
/// `{}` is the default calendar. Besides the shapes below: each window's
/// `start` is before its `end`, and no weekday or holiday date is listed twice.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "timezone": "Asia/Kolkata",
    "weekdays": ["monday", "tuesday", "wednesday", "thursday", "friday"],
    "business_hours": {"start": "09:00", "end": "18:00"},
    "callback_hours": {"start": "08:00", "end": "20:00"},
    "holidays": ["2026-01-26", {"date": "2026-12-25", "name": "Christmas"}]
}))]
struct CalendarDoc {
    /// The zone of the calendar's days and hours; unset follows the account's
    /// time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = TimeZone, required = false)]
    timezone: Option<String>,
    /// The working days, each at most once. Default: monday to friday.
    #[schema(required = false, min_items = 1, max_items = 7)]
    weekdays: Vec<WeekdayName>,
    /// Default: 09:00 to 18:00.
    #[schema(required = false)]
    business_hours: CalendarHours,
    /// The hours of `validateDateTime` with `type` `Callback`. Default: 08:00 to 20:00.
    #[schema(required = false)]
    callback_hours: CalendarHours,
    /// Days off, each date at most once (at most 366). Default: none.
    #[schema(required = false, max_items = 366)]
    holidays: Vec<CalendarHoliday>,
}

/// A day of the week (any letter case is accepted).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum WeekdayName {
    Monday,
    Tuesday,
    Wednesday,
    Thursday,
    Friday,
    Saturday,
    Sunday,
}

impl From<Weekday> for WeekdayName {
    fn from(day: Weekday) -> Self {
        match day {
            Weekday::Mon => WeekdayName::Monday,
            Weekday::Tue => WeekdayName::Tuesday,
            Weekday::Wed => WeekdayName::Wednesday,
            Weekday::Thu => WeekdayName::Thursday,
            Weekday::Fri => WeekdayName::Friday,
            Weekday::Sat => WeekdayName::Saturday,
            Weekday::Sun => WeekdayName::Sunday,
        }
    }
}

/// A window of the day, `[start, end)`, in the calendar's zone; `start` must be
/// before `end`. A missing `start` or `end` keeps the window's default.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct CalendarHours {
    /// `HH:MM`, 24-hour.
    #[schema(
        required = false,
        pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$",
        example = "09:00"
    )]
    start: String,
    /// `HH:MM`, 24-hour; the first minute outside the window.
    #[schema(
        required = false,
        pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$",
        example = "18:00"
    )]
    end: String,
}

const DATE_PATTERN: &str = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$";

/// A holiday: a date (`"2026-12-25"`), or a date with a name.
#[derive(Serialize)]
#[serde(untagged)]
enum CalendarHoliday {
    Date(String),
    Named(NamedHoliday),
}

/// The schema is `oneOf` a `YYYY-MM-DD` string and a `{"date", "name"}` object.
impl utoipa::PartialSchema for CalendarHoliday {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        OneOfBuilder::new()
            .description(Some("A holiday: a date, or a date with a name"))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Date)))
                    .pattern(Some(DATE_PATTERN))
                    .examples(["2026-12-25"]),
            )
            .item(NamedHoliday::schema())
            .into()
    }
}

impl ToSchema for CalendarHoliday {}

/// A holiday with a name.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NamedHoliday {
    /// `YYYY-MM-DD`.
    #[schema(format = Date, pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$", example = "2026-12-25")]
    date: String,
    /// 1 to 100 characters, not only blanks, no control characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false, min_length = 1, max_length = 100, example = "Christmas")]
    name: Option<String>,
}
