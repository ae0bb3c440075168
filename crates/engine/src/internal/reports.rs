//! `pullreport`: asks for the executions report of `flowID` between
//! `fromDate` and `toDate` (ISO 8601 dates or date-times; a date is a day in
//! the account's zone, and `toDate` includes its whole day), as `format`
//! (`csv`, the default, or `json`), optionally delivered to the account's
//! webhook `deliverTo`. The report is built in the background by
//! [`crate::reports::Reports`], the same code behind `POST /v1/reports`;
//! the answer is `$flow.key.reportID` and `$flow.key.reportStatus`
//! (`queued`), and the report's progress and file are at
//! `GET /v1/reports/{reportID}`.

use flowhook_core::internal::{Key, Keys, output};

use super::Context;
use crate::reports::{Request, RequestError};

pub(crate) async fn pull_report(cx: &Context<'_>, keys: &Keys<'_>) -> Result<Vec<Key>, String> {
    let reports = cx
        .reports
        .ok_or("pullreport: this server does not build reports")?;
    let request = Request {
        flow_id: keys.require("flowID")?,
        from: keys.require("fromDate")?,
        to: keys.require("toDate")?,
        format: keys.get("format"),
        deliver_to: keys.get("deliverTo"),
    };
    match reports.request(cx.account, request).await {
        Ok(report) => Ok(vec![
            output("reportID", report.id.to_string()),
            output("reportStatus", report.status),
        ]),
        Err(RequestError::Invalid { field, message }) => {
            Err(format!("{}: {message}", field.key_name()))
        }
        Err(e @ RequestError::TooMany(_)) => Err(e.to_string()),
        Err(RequestError::Store(e)) => Err(format!("the report store failed: {e}")),
    }
}
