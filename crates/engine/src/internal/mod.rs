//! The platform functions behind internal webhooks (SPEC §5), and the narrow
//! interface through which widgets reach them.
//!
//! [`Functions::dispatch`] is the one entry: `POST /internal` (and its path
//! aliases) and the `internal_webhook` widget, when its webhook is this
//! server's own URL, both call it. Each method lives in its own file and
//! answers its output keys or an error naming the key at fault (a [`Failure`]
//! with keys for the methods that set `$flow.key.status` either way); the pure
//! rules (the envelope, calendars, cli matching, languages, intent matching)
//! live in `flowhook_core`. Methods that call a provider (translation, NLU) do
//! so through the server's one egress client.
//!
//! Widgets see [`Platform`], not storage: the registered webhooks a widget may
//! name, how to reach one with its credentials, and the in-process dispatch.
//! A local run (`flowhook run`) has no server, so it gets [`Offline`].

mod agent_cli;
mod bots;
mod business_hours;
mod get_pause_status;
mod links;
mod outbound;
mod preferences;
mod reports;
mod speech;
mod translate;
mod update_pause_status;

use std::sync::Arc;

use flowhook_core::ids::{AccountId, WebhookId};
use flowhook_core::internal::{Answer, Envelope, Key, Keys, Method, output};
use flowhook_core::secret::MasterKey;
use flowhook_storage::{AccountRecord, Store, WebhookRecord};

use crate::egress::Egress;
use crate::links::Links;
use crate::outbound::Outbound;
use crate::reports::Reports;

/// What widgets may ask of the platform.
#[async_trait::async_trait]
pub trait Platform: Send + Sync {
    /// The account's registered webhook `id`, if it has one.
    async fn webhook(
        &self,
        account: AccountId,
        id: WebhookId,
    ) -> Result<Option<WebhookRecord>, String>;

    /// The headers a request to `hook`'s own URL carries: its stored headers
    /// and auth, opened (`crate::credentials::stored_headers`).
    fn stored_headers(&self, hook: &WebhookRecord) -> Result<Vec<(String, String)>, String>;

    /// Is `url` this server's internal endpoint (its public URL plus
    /// `/internal` or one of the seeds' path aliases)?
    fn is_internal(&self, url: &url::Url) -> bool;

    /// Runs a platform function in process for `account`, as `POST /internal`.
    async fn dispatch(&self, account: AccountId, envelope: &Envelope) -> Answer;
}

/// The platform functions of a server, over its storage.
pub struct Functions {
    store: Arc<dyn Store>,
    master_key: MasterKey,
    public_url: url::Url,
    links: Arc<Links>,
    egress: Egress,
    outbound: Arc<Outbound>,
    /// `pullreport`'s reports; none until [`Functions::with_reports`].
    reports: Option<Arc<Reports>>,
}

impl Functions {
    /// `public_url` is the server's own base URL (`FLOWHOOK_PUBLIC_URL`);
    /// `links` makes short links on the short base URL
    /// (`FLOWHOOK_SHORT_BASE_URL`, or an account's own); `egress` is the
    /// server's one HTTP client, through which every provider is called;
    /// `outbound` stores outbound requests.
    pub fn new(
        store: Arc<dyn Store>,
        master_key: MasterKey,
        public_url: url::Url,
        links: Arc<Links>,
        egress: Egress,
        outbound: Arc<Outbound>,
    ) -> Functions {
        Functions {
            store,
            master_key,
            public_url,
            links,
            egress,
            outbound,
            reports: None,
        }
    }

    /// Gives `pullreport` the server's reports.
    pub fn with_reports(mut self, reports: Arc<Reports>) -> Functions {
        self.reports = Some(reports);
        self
    }

    /// Runs `envelope.method` for `account`. An unknown method, a missing key
    /// or a bad value is a `FAILED` answer naming it, with nothing changed.
    pub async fn dispatch_for(&self, account: &AccountRecord, envelope: &Envelope) -> Answer {
        let Some(method) = Method::parse(&envelope.method) else {
            return Answer::failed(format!(
                "method: unknown method {:?}; expected one of {}",
                envelope.method,
                Method::names()
            ));
        };
        let keys = Keys::new(&envelope.keys);
        let cx = Context {
            store: &*self.store,
            account,
            master_key: &self.master_key,
            links: &self.links,
            egress: &self.egress,
            outbound: &self.outbound,
            reports: self.reports.as_deref(),
        };
        let outcome = match method {
            Method::UpdateUserPreferences => preferences::update(&cx, &keys).await,
            Method::FetchUserPreferences => preferences::fetch(&cx, &keys).await,
            Method::ValidateDateTime => business_hours::validate(&cx, &keys),
            Method::UpdatePauseStatusForCli => update_pause_status::update(&cx, &keys).await,
            Method::GetPauseStatusForCli => get_pause_status::get(&cx, &keys).await,
            Method::ShortUrl => links::short_url(&cx, &keys).await,
            Method::LinkCreation => bots::link_creation(&cx, &keys).await,
            // Its answer carries the result code also when it refuses.
            Method::CreateOutbound => return outbound::create(&cx, &keys).await,
            Method::PullReport => reports::pull_report(&cx, &keys).await,
            Method::TranslateText => {
                let outcome = translate::translate(&cx, &keys).await;
                return with_status(account, method, "FAILED", outcome);
            }
            Method::SpeechProcessing => {
                let outcome = speech::process(&cx, &keys).await;
                return with_status(account, method, "FAILURE", outcome);
            }
        };
        match outcome {
            Ok(keys) => Answer::success(keys),
            Err(error) => {
                tracing::info!(account = %account.id, %method, %error, "internal webhook failed");
                Answer::failed(error)
            }
        }
    }
}

/// What a method runs with.
pub(crate) struct Context<'a> {
    pub store: &'a dyn Store,
    pub account: &'a AccountRecord,
    pub master_key: &'a MasterKey,
    pub links: &'a Links,
    pub egress: &'a Egress,
    pub outbound: &'a Outbound,
    pub reports: Option<&'a Reports>,
}

/// Why a method that answers keys on failure too failed: `translateText` and
/// `speechprocessing` set the seeds' `$flow.key.status` either way.
pub(crate) struct Failure {
    pub error: String,
    /// Keys answered besides `status`.
    pub keys: Vec<Key>,
}

impl From<String> for Failure {
    fn from(error: String) -> Failure {
        Failure {
            error,
            keys: Vec::new(),
        }
    }
}

/// The answer of a method with a `status` output key: `SUCCESS`, or
/// `failed` (the seeds spell it `FAILED` or `FAILURE` by method) beside the
/// envelope's own `FAILED` and the error.
fn with_status(
    account: &AccountRecord,
    method: Method,
    failed: &str,
    outcome: Result<Vec<Key>, Failure>,
) -> Answer {
    match outcome {
        Ok(keys) => Answer::success(
            [output("status", "SUCCESS")]
                .into_iter()
                .chain(keys)
                .collect(),
        ),
        Err(Failure { error, keys }) => {
            tracing::info!(account = %account.id, %method, %error, "internal webhook failed");
            let keys = [output("status", failed)].into_iter().chain(keys).collect();
            Answer::failed_with(error, keys)
        }
    }
}

#[async_trait::async_trait]
impl Platform for Functions {
    async fn webhook(
        &self,
        account: AccountId,
        id: WebhookId,
    ) -> Result<Option<WebhookRecord>, String> {
        self.store
            .webhook(account, id)
            .await
            .map_err(|e| e.to_string())
    }

    fn stored_headers(&self, hook: &WebhookRecord) -> Result<Vec<(String, String)>, String> {
        crate::credentials::stored_headers(hook, &self.master_key)
    }

    fn is_internal(&self, url: &url::Url) -> bool {
        // The public URL may carry a path (a proxy's prefix): the endpoint is
        // under it.
        let prefix = self.public_url.path().trim_end_matches('/');
        url.origin() == self.public_url.origin()
            && url
                .path()
                .strip_prefix(prefix)
                .is_some_and(flowhook_core::internal::is_internal_path)
    }

    async fn dispatch(&self, account: AccountId, envelope: &Envelope) -> Answer {
        match self.store.account(account).await {
            Ok(Some(record)) => self.dispatch_for(&record, envelope).await,
            Ok(None) => Answer::failed("the account no longer exists"),
            Err(e) => {
                tracing::error!(%account, error = %e, "internal webhook: account unreadable");
                Answer::failed("the platform could not read the account; try again")
            }
        }
    }
}

/// The platform of a local run: no registered webhooks, no functions.
pub struct Offline;

#[async_trait::async_trait]
impl Platform for Offline {
    async fn webhook(&self, _: AccountId, _: WebhookId) -> Result<Option<WebhookRecord>, String> {
        Err("a local run has no registered webhooks; run the flow on a server".into())
    }

    fn stored_headers(&self, _: &WebhookRecord) -> Result<Vec<(String, String)>, String> {
        Err("a local run has no registered webhooks".into())
    }

    fn is_internal(&self, _: &url::Url) -> bool {
        false
    }

    async fn dispatch(&self, _: AccountId, _: &Envelope) -> Answer {
        Answer::failed("a local run has no platform functions; run the flow on a server")
    }
}
