//! `validateDateTime`: is a date (and time) a working slot of the account's
//! calendar, and if not, which is the next one. The rules are
//! `flowhook_core::calendar`'s; this file reads the keys and the calendar.

use flowhook_core::calendar::{Calendar, DateTimeInput, validate_date_time};
use flowhook_core::internal::{Key, Keys, output};

use super::Context;

pub(crate) fn validate(cx: &Context<'_>, keys: &Keys<'_>) -> Result<Vec<Key>, String> {
    let calendar = Calendar::parse(&cx.account.calendar).map_err(|e| {
        format!("the account's calendar is not valid ({e}); fix it with PATCH /v1/accounts/{{id}}")
    })?;
    let input = DateTimeInput {
        date: keys.require("inputDate")?,
        time: keys.get("inputTime"),
        kind: keys.get("type"),
    };
    let check = validate_date_time(&calendar, cx.account.timezone, chrono::Utc::now(), &input)
        .map_err(|e| e.to_string())?;
    Ok(check
        .keys()
        .into_iter()
        .map(|(name, value)| output(name, value))
        .collect())
}
