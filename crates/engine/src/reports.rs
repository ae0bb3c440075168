//! Executions reports as a service ([`Reports`]): asked for by `pullreport`
//! and `POST /v1/reports` through one [`Reports::request`], built in the
//! background by [`Reports::run`], kept in the database, and delivered to a
//! webhook, when asked, through the flow-end delivery engine.
//!
//! A build streams. It reads the flow's executions in keyset pages of
//! [`ReportsConfig::page_size`] twice: the first pass counts them and collects
//! the column names (the `$flow.key` and persisted names, a bounded set), the
//! second writes the table (`flowhook_core::report`) into chunks of about
//! [`ReportsConfig::chunk_bytes`] that are stored as they fill. Memory is one
//! page and one chunk, whatever the number of executions. Executions that
//! start after the build began are left out, so both passes see the same rows
//! (a key first set between the passes, by an execution that was still
//! running, has no column).
//!
//! Builds are leased jobs ([`crate::leased`], as deliveries and outbound
//! calls are), claimed with a lease that each page and chunk renews; a server
//! builds one report at a time. A build cut off (a crash, a stop) is built
//! again from the start by whichever server claims it once its lease
//! expires; an embedded server takes back its own leases when it starts.
//!
//! `deliver_to`: when the file is ready, one outbox row is written in the
//! same transaction as the report's end, its payload the `report.ready`
//! document with the whole file in it, and the delivery worker sends it
//! like a flow-end message (signed, retried, attempts recorded). Such a row
//! has no execution (`ExecutionId::nil()`); the report names it. A file over
//! [`MAX_DELIVERED_BYTES`] is not delivered: the report is `ready`, its error
//! says why, and it is downloaded instead.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use flowhook_core::account::TimeZone;
use flowhook_core::budget::MAX_PENDING_REPORTS_PER_ACCOUNT;
use flowhook_core::ids::{ExecutionId, FlowId, WebhookId};
use flowhook_core::report::{
    Columns, Line, RangeError, ReportFormat, TableWriter, format_time, parse_range,
};
use flowhook_storage::{
    AccountRecord, DeliveryRecord, ReportEnd, ReportPage, ReportRecord, ReportRow, Store,
    StoreError, now_millis,
};
use tokio::sync::{Notify, watch};

use crate::leased::{self, Jobs, LeaseConfig};

/// The largest file delivered to a webhook (8 MiB): the whole file travels
/// in one outbox row and one request body.
pub const MAX_DELIVERED_BYTES: i64 = 8 * 1024 * 1024;

/// The largest file built (1 GiB).
pub const MAX_FILE_BYTES: i64 = 1024 * 1024 * 1024;

/// The most `$flow.key` and persisted columns a report has.
pub const MAX_COLUMNS: usize = 2000;

/// How builds behave.
#[derive(Debug, Clone)]
pub struct ReportsConfig {
    /// Executions read per page.
    pub page_size: i64,
    /// A chunk of the file is stored once it holds this many bytes.
    pub chunk_bytes: usize,
    /// How long a claimed build belongs to this server without renewal.
    pub lease: Duration,
    /// How often an idle builder looks for reports (it is also woken when
    /// one is asked for here).
    pub poll: Duration,
    /// On stop, how long a build in flight may take to end.
    pub grace: Duration,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            page_size: 1000,
            chunk_bytes: 128 * 1024,
            lease: Duration::from_secs(60),
            poll: Duration::from_secs(1),
            grace: Duration::from_secs(5),
        }
    }
}

/// A report as asked, by either front end, before it is checked.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub flow_id: &'a str,
    pub from: &'a str,
    pub to: &'a str,
    pub format: Option<&'a str>,
    pub deliver_to: Option<&'a str>,
}

/// An input of a request, so that each front end names it its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    FlowId,
    From,
    To,
    Format,
    DeliverTo,
}

impl Field {
    /// The key name of `pullreport`.
    pub fn key_name(self) -> &'static str {
        match self {
            Field::FlowId => "flowID",
            Field::From => "fromDate",
            Field::To => "toDate",
            Field::Format => "format",
            Field::DeliverTo => "deliverTo",
        }
    }

    /// The field name of `POST /v1/reports`.
    pub fn json_name(self) -> &'static str {
        match self {
            Field::FlowId => "flow_id",
            Field::From => "from",
            Field::To => "to",
            Field::Format => "format",
            Field::DeliverTo => "deliver_to",
        }
    }
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// An input is wrong; `message` says how (without the field's name).
    #[error("{message}")]
    Invalid { field: Field, message: String },
    /// The account has as many reports waiting as it may
    /// ([`MAX_PENDING_REPORTS_PER_ACCOUNT`]).
    #[error(
        "this account has {0} reports waiting or being built, its limit; ask again when one is ready"
    )]
    TooMany(i64),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: Field, message: impl Into<String>) -> RequestError {
    RequestError::Invalid {
        field,
        message: message.into(),
    }
}

/// Reports of all accounts: asked for, built, delivered.
pub struct Reports {
    store: Arc<dyn Store>,
    config: ReportsConfig,
    wake: Arc<Notify>,
    wake_deliveries: Arc<Notify>,
}

impl Reports {
    /// `wake_deliveries` is the delivery worker's: a ready report with a
    /// `deliver_to` wakes it.
    pub fn new(
        store: Arc<dyn Store>,
        wake_deliveries: Arc<Notify>,
        config: ReportsConfig,
    ) -> Reports {
        Reports {
            store,
            config,
            wake: Arc::new(Notify::new()),
            wake_deliveries,
        }
    }

    /// Checks a request and queues the report; it is built in the background.
    pub async fn request(
        &self,
        account: &AccountRecord,
        req: Request<'_>,
    ) -> Result<ReportRecord, RequestError> {
        let flow_id = FlowId::parse(req.flow_id.trim()).ok_or_else(|| {
            invalid(
                Field::FlowId,
                format!("{:?} is not a flow id (8 letters and digits)", req.flow_id),
            )
        })?;
        let (from, to) = parse_range(req.from, req.to, account.timezone).map_err(|e| match e {
            RangeError::From(m) => invalid(Field::From, m),
            RangeError::To(m) => invalid(Field::To, m),
            RangeError::Empty => invalid(
                Field::To,
                format!(
                    "the range is empty: {:?} is not after {:?} (a date as `to` includes its whole day)",
                    req.to, req.from
                ),
            ),
        })?;
        let format = match req.format.map(str::trim).filter(|f| !f.is_empty()) {
            Some(f) => ReportFormat::parse(f).map_err(|m| invalid(Field::Format, m))?,
            None => ReportFormat::Csv,
        };
        let deliver_to = match req.deliver_to.map(str::trim).filter(|d| !d.is_empty()) {
            None => None,
            Some(sent) => {
                let id = WebhookId::parse(sent).ok_or_else(|| {
                    invalid(
                        Field::DeliverTo,
                        format!("{sent:?} is not a webhook id (a UUID)"),
                    )
                })?;
                if self.store.webhook(account.id, id).await?.is_none() {
                    return Err(invalid(
                        Field::DeliverTo,
                        format!("this account has no webhook {id}"),
                    ));
                }
                Some(id)
            }
        };
        let pending = self.store.pending_reports(account.id).await?;
        if pending >= MAX_PENDING_REPORTS_PER_ACCOUNT {
            return Err(RequestError::TooMany(pending));
        }
        if self.store.flow(account.id, &flow_id).await?.is_none() {
            return Err(invalid(
                Field::FlowId,
                format!("this account has no flow {}", flow_id.as_str()),
            ));
        }
        let report = ReportRecord::queued(
            account.id,
            flow_id.as_str(),
            from,
            to,
            account.timezone.name(),
            format.as_str(),
            deliver_to,
        );
        self.store.insert_report(&report).await?;
        self.wake.notify_one();
        tracing::info!(account = %account.id, report = %report.id, flow = flow_id.as_str(), format = format.as_str(), "report queued");
        Ok(report)
    }

    /// Builds reports one at a time until `stop` turns true, as a leased
    /// job ([`crate::leased`]). A build still running at the stop has
    /// [`ReportsConfig::grace`] to end; then its lease is given back, so it is
    /// built again (here at the next start, or by another server).
    pub async fn run(self: Arc<Self>, stop: watch::Receiver<bool>) {
        let config = LeaseConfig {
            lease: self.config.lease,
            concurrency: 1,
            poll: self.config.poll,
            grace: self.config.grace,
        };
        let wake = self.wake.clone();
        leased::run(self, config, wake, stop).await;
    }

    fn lease_ms(&self) -> i64 {
        self.config.lease.as_millis() as i64
    }

    fn lease_until(&self) -> i64 {
        now_millis() + self.lease_ms()
    }

    /// One build: the file, then its end (with its delivery).
    async fn build(&self, lease: &str, report: &ReportRecord) {
        let started = std::time::Instant::now();
        let end = match self.write_file(lease, report).await {
            Ok((rows, size_bytes)) => self.delivery(report, rows, size_bytes).await,
            Err(Abort::LeaseLost) => {
                tracing::warn!(report = %report.id, "lost the lease of a report build; another server builds it");
                return;
            }
            Err(Abort::Failed(error)) => (ReportEnd::Failed { error }, None),
            Err(Abort::Store(e)) => {
                tracing::error!(report = %report.id, error = %e, "a report build failed on the database");
                let error =
                    "the database failed while the report was built; ask for it again".into();
                (ReportEnd::Failed { error }, None)
            }
        };
        let (end, delivery) = end;
        match self
            .store
            .finish_report(report.id, lease, &end, delivery.as_ref())
            .await
        {
            Ok(true) => {
                if delivery.is_some() {
                    self.wake_deliveries.notify_one();
                }
                tracing::info!(report = %report.id, ?end, ms = started.elapsed().as_millis() as u64, "report built");
            }
            Ok(false) => {
                tracing::warn!(report = %report.id, "lost the lease of a report before its end was recorded")
            }
            Err(e) => {
                tracing::error!(report = %report.id, error = %e, "cannot record a report's end; it will be built again")
            }
        }
    }

    /// Both passes; the rows and bytes written.
    async fn write_file(&self, lease: &str, report: &ReportRecord) -> Result<(i64, i64), Abort> {
        let format = ReportFormat::parse(&report.format).map_err(Abort::Failed)?;
        let zone = TimeZone::parse(&report.time_zone).unwrap_or(TimeZone::UTC);
        // Executions starting from now on are not the report's.
        let to = report.to.min(now_millis());
        let mut pages = Pages {
            store: &*self.store,
            page: ReportPage {
                account: report.account_id,
                flow_id: &report.flow_id,
                from: report.from,
                to,
                after: None,
                limit: self.config.page_size,
            },
            done: false,
        };

        // First pass: how many rows, and which columns.
        let (mut keys, mut persisted, mut total) = (BTreeSet::new(), BTreeSet::new(), 0i64);
        while let Some(rows) = pages.next().await? {
            for row in &rows {
                let (vars, kept) = values_of(row);
                keys.extend(vars.into_keys().filter(|k| k.starts_with("$flow.key.")));
                persisted.extend(kept.into_keys());
            }
            total += rows.len() as i64;
            if keys.len() + persisted.len() > MAX_COLUMNS {
                return Err(Abort::Failed(format!(
                    "the executions have more than {MAX_COLUMNS} distinct $flow.key and persisted names; a report has at most that many columns"
                )));
            }
            self.progress(report, lease, None, 0).await?;
        }
        self.progress(report, lease, Some(total), 0).await?;
        let columns = Columns {
            keys: keys.into_iter().collect(),
            persisted: persisted.into_iter().collect(),
        };

        // Second pass: the table, stored a chunk at a time.
        pages.restart();
        let mut out = String::with_capacity(self.config.chunk_bytes + 4096);
        let mut writer = TableWriter::start(format, &columns, &mut out);
        let mut file = Chunks {
            reports: self,
            report,
            lease,
            seq: 0,
            size: 0,
            rows: 0,
        };
        while let Some(rows) = pages.next().await? {
            for row in &rows {
                let (vars, kept) = values_of(row);
                let values = columns
                    .keys
                    .iter()
                    .map(|k| vars.get(k).map(String::as_str))
                    .chain(
                        columns
                            .persisted
                            .iter()
                            .map(|p| kept.get(p).map(String::as_str)),
                    )
                    .collect();
                let line = Line {
                    uuid: row.id.to_string(),
                    contact: &row.contact,
                    status: &row.status,
                    start: format_time(row.started_at, zone),
                    end: row.finished_at.map(|t| format_time(t, zone)),
                    duration: row
                        .finished_at
                        .map(|t| (t - row.started_at).max(0) as f64 / 1000.0),
                    values,
                };
                writer.row(&line, &mut out);
                file.rows += 1;
                if out.len() >= self.config.chunk_bytes {
                    file.store(&mut out).await?;
                }
            }
        }
        writer.finish(&mut out);
        file.store(&mut out).await?;
        Ok((file.rows, file.size))
    }

    async fn progress(
        &self,
        report: &ReportRecord,
        lease: &str,
        total: Option<i64>,
        done: i64,
    ) -> Result<(), Abort> {
        match self
            .store
            .report_progress(report.id, lease, total, done, self.lease_until())
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(Abort::LeaseLost),
            Err(e) => Err(Abort::Store(e)),
        }
    }

    /// The report's end, and the delivery of its file if one was asked for
    /// and can be made.
    async fn delivery(
        &self,
        report: &ReportRecord,
        rows: i64,
        size_bytes: i64,
    ) -> (ReportEnd, Option<DeliveryRecord>) {
        let ready = |undelivered: Option<String>| ReportEnd::Ready {
            rows,
            size_bytes,
            undelivered,
        };
        let Some(hook) = report.deliver_to else {
            return (ready(None), None);
        };
        if size_bytes > MAX_DELIVERED_BYTES {
            let why = format!(
                "not delivered: the file is {size_bytes} bytes, over the {MAX_DELIVERED_BYTES} bytes (8 MiB) a delivered report may be; download it from GET /v1/reports/{}/file",
                report.id
            );
            return (ready(Some(why)), None);
        }
        match self.store.webhook(report.account_id, hook).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                let why = format!("not delivered: webhook {hook} was deleted; download the file");
                return (ready(Some(why)), None);
            }
            Err(e) => {
                tracing::error!(report = %report.id, error = %e, "cannot read the webhook of a report");
                let why = "not delivered: the webhook could not be read; download the file".into();
                return (ready(Some(why)), None);
            }
        }
        match self.document(report, rows, size_bytes).await {
            Ok(payload) => {
                let delivery =
                    DeliveryRecord::new(report.account_id, hook, ExecutionId::nil(), payload);
                (ready(None), Some(delivery))
            }
            Err(e) => {
                tracing::error!(report = %report.id, error = %e, "cannot read a report's file back");
                let why = "not delivered: the file could not be read back; download it".into();
                (ready(Some(why)), None)
            }
        }
    }

    /// The `report.ready` document delivered to a webhook: the report's
    /// description and its whole file (`csv`: the text; `json`: the array,
    /// as `executions`).
    async fn document(
        &self,
        report: &ReportRecord,
        rows: i64,
        size_bytes: i64,
    ) -> Result<String, StoreError> {
        let mut file = String::with_capacity(size_bytes as usize);
        let mut seq = 0;
        loop {
            let chunks = self.store.report_chunks(report.id, seq, 16).await?;
            let Some((last, _)) = chunks.last() else {
                break;
            };
            seq = last + 1;
            for (_, data) in chunks {
                file.push_str(&data);
            }
        }
        let zone = TimeZone::parse(&report.time_zone).unwrap_or(TimeZone::UTC);
        let head = serde_json::json!({
            "type": "report.ready",
            "reportId": report.id,
            "flowId": report.flow_id,
            "from": format_time(report.from, zone),
            "to": format_time(report.to, zone),
            "format": report.format,
            "rows": rows,
            "sizeBytes": size_bytes,
        })
        .to_string();
        // The head without its closing brace, then the file.
        let mut doc = String::with_capacity(head.len() + file.len() + file.len() / 8 + 32);
        doc.push_str(&head[..head.len() - 1]);
        if report.format == ReportFormat::Json.as_str() {
            doc.push_str(",\"executions\":");
            doc.push_str(file.trim_end());
        } else {
            doc.push_str(",\"csv\":");
            doc.push_str(&serde_json::Value::String(file).to_string());
        }
        doc.push('}');
        Ok(doc)
    }
}

#[async_trait::async_trait]
impl Jobs for Reports {
    type Job = ReportRecord;
    const NAME: &'static str = "report build";

    async fn claim(
        &self,
        lease: &str,
        now: i64,
        lease_ms: i64,
        _limit: i64,
    ) -> Result<Vec<ReportRecord>, StoreError> {
        // One at a time: a build is long, and its memory is one page.
        Ok(self
            .store
            .claim_report(lease, now, lease_ms)
            .await?
            .into_iter()
            .collect())
    }

    async fn work(&self, lease: &str, report: ReportRecord) {
        self.build(lease, &report).await;
    }

    async fn release(&self, owner: &str) -> Result<u64, StoreError> {
        self.store.release_report_leases(Some(owner)).await
    }
}

/// Why a build stopped before its end.
enum Abort {
    /// Another server holds the report now.
    LeaseLost,
    /// The report cannot be built; the text says why, for its owner.
    Failed(String),
    Store(StoreError),
}

/// The keyset pages of a build's executions.
struct Pages<'a> {
    store: &'a dyn Store,
    page: ReportPage<'a>,
    done: bool,
}

impl Pages<'_> {
    async fn next(&mut self) -> Result<Option<Vec<ReportRow>>, Abort> {
        if self.done {
            return Ok(None);
        }
        let rows = self
            .store
            .report_rows(&self.page)
            .await
            .map_err(Abort::Store)?;
        self.done = (rows.len() as i64) < self.page.limit;
        match rows.last() {
            Some(last) => self.page.after = Some(last.key()),
            None => return Ok(None),
        }
        Ok(Some(rows))
    }

    fn restart(&mut self) {
        self.page.after = None;
        self.done = false;
    }
}

/// The file as it is stored, chunk by chunk.
struct Chunks<'a> {
    reports: &'a Reports,
    report: &'a ReportRecord,
    lease: &'a str,
    seq: i64,
    size: i64,
    rows: i64,
}

impl Chunks<'_> {
    /// Stores what `out` holds as the next chunk and empties it.
    async fn store(&mut self, out: &mut String) -> Result<(), Abort> {
        self.size += out.len() as i64;
        if self.size > MAX_FILE_BYTES {
            return Err(Abort::Failed(format!(
                "the file would be over {MAX_FILE_BYTES} bytes (1 GiB); ask for a shorter range"
            )));
        }
        let stored = self
            .reports
            .store
            .append_report_chunk(
                self.report.id,
                self.lease,
                self.seq,
                out,
                self.rows,
                self.size,
                self.reports.lease_until(),
            )
            .await
            .map_err(Abort::Store)?;
        if !stored {
            return Err(Abort::LeaseLost);
        }
        self.seq += 1;
        out.clear();
        Ok(())
    }
}

/// An execution's variables and persisted values, by full name. Values are
/// strings as the runner stores them; anything else is shown as its JSON.
fn values_of(row: &ReportRow) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    (object(&row.variables), object(&row.persisted))
}

fn object(json: &str) -> BTreeMap<String, String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(json) else {
        return BTreeMap::new();
    };
    map.into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        })
        .collect()
}
