//! Sealed values at rest: the start-up migration of the first format, and
//! `flowhook rotate-master-key` (through the function the command calls), each
//! on SQLite and on PostgreSQL. After either, every credential still reaches
//! its destination.

use std::time::Duration;

use flowhook_core::flow::secrets as flow_secrets;
use flowhook_core::ids::{AccountId, FlowId, WebhookId};
use flowhook_core::providers;
use flowhook_core::secret::{Binding, MasterKey, Purpose, SecretError, SigningSecret};
use flowhook_storage::{AccountPatch, Sealed, Store, StoredAuth};
use reqwest::Method;
use serde_json::{Value, json};

use crate::flows::post_flow;
use crate::helpers::{Account, Db, MASTER_KEY, Options, TestApp, TestReceiver, spawn_with};

macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$name(crate::helpers::Db::Sqlite).await;
            }
            #[tokio::test]
            async fn postgres() {
                super::$name(crate::helpers::Db::Postgres).await;
            }
        }
    )*};
}

on_both!(
    first_format_values_are_migrated_at_start_and_still_sent,
    rotating_the_master_key_reseals_everything,
);

const NEW_KEY: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/// Values sealed in the first format under [`MASTER_KEY`] (no binding, no key
/// id), as the version before bindings stored them.
const OLD_PASSWORD: &str = "v1:+BoWHcVHasPNJiDguwXwRR2YpRnjqloNCuPEkjWFBVAOgg=="; // old-pw
const OLD_HEADER: &str = "v1:a8jvr0J2YkZwHz9iGQs729OQJW2jV4OAO8MQcjyKYYn3"; // k-old
const OLD_SIGNING_SECRET: &str =
    "v1:vv9hEMLMwmac0kPSS8b7BiKJ0ui0E3ryuRSbvArElVvxvATKCiLnNaW+UTv8ZPDYosJXFtMmr1eYSBk1R/Vi0vWp";
const OLD_SIGNING_SECRET_TEXT: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OLD_PROVIDER_KEY: &str = "v1:CULtq4kL/Oq01tIaX+zu2H8FK0FF+xv6Re3BMuRnex9tbMwg"; // prov-key
const OLD_LITERAL: &str = "v1:azcCNQ7Z60VL4acPlzLTmlnh2aaDxBo2DyHqBTjbo72s6/s="; // lit-old

/// A flow whose webhook widget carries a literal credential, and whose end is
/// sent to the default webhook.
fn flow(url: &str) -> String {
    json!({
        "name": "sealed", "webhook_on_complete": true, "start": "call",
        "widgets": {"call": {"type": "webhook", "lines": [null, null], "request": {
            "url": url,
            "auth": {"type": "basic", "username": "u", "password": "lit-pw"}}}}
    })
    .to_string()
}

struct Setup {
    app: TestApp,
    acct: Account,
    rx: TestReceiver,
    account: AccountId,
    webhook: WebhookId,
    flow: FlowId,
    store: std::sync::Arc<dyn Store>,
}

/// An account with provider secrets, a default webhook with a password and a
/// credential header, and a flow with a literal credential.
async fn setup(db: Db) -> Option<Setup> {
    let rx = TestReceiver::start().await;
    let options = Options {
        allow_cidrs: Some("127.0.0.1/32".into()),
        retry_schedule: Some("1".into()),
        ..Options::default()
    };
    let app = spawn_with(db, options).await?;
    let acct = app.create_account(true).await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/accounts/{}", acct.id),
            &acct.key,
            Some(json!({"providers": {"translate": {"api_key": "prov-key"}, "nlu": [{"token": "t-1"}]}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, hook) = app
        .call(
            Method::POST,
            "/v1/webhooks",
            &acct.key,
            Some(json!({
                "name": "end", "url": rx.url("/end"), "is_default": true,
                "auth": {"type": "basic", "username": "crm", "password": "pw-1"},
                "headers": [{"key": "X-Api-Key", "value": "k-1"}]
            })),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let (status, saved) = post_flow(
        &app,
        &acct.key,
        "/v1/flows",
        Method::POST,
        &flow(&rx.url("/lit")),
    )
    .await;
    assert_eq!(status, 201, "{saved}");
    let store = flowhook_storage::connect(&app.db_url).await.expect("store");
    Some(Setup {
        account: AccountId::parse(&acct.id).expect("id"),
        webhook: WebhookId::parse(hook["id"].as_str().expect("id")).expect("id"),
        flow: FlowId::parse(saved["id"].as_str().expect("id")).expect("id"),
        app,
        acct,
        rx,
        store,
    })
}

/// Runs the flow; returns the literal request and the flow-end message.
async fn run(s: &Setup) -> (crate::helpers::Received, crate::helpers::Received) {
    let before = s.rx.requests_to("/end").len();
    let (status, exec) = s
        .app
        .call(
            Method::POST,
            &format!("/v1/flows/{}/executions", s.flow),
            &s.acct.key,
            Some(json!({"contact": "1", "wait": true})),
        )
        .await;
    assert_eq!(status, 200, "{exec}");
    assert_eq!(exec["status"], "completed", "{exec}");
    let ends =
        s.rx.wait_for("/end", before + 1, Duration::from_secs(10))
            .await;
    assert_eq!(ends.len(), before + 1, "the flow-end message arrived");
    let lit =
        s.rx.requests_to("/lit")
            .pop()
            .expect("the widget's request");
    (lit, ends[before].clone())
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The signature a receiver checks, with `secret`.
fn signed_with(secret: &str, r: &crate::helpers::Received) -> bool {
    let secret = SigningSecret::parse(secret).expect("secret");
    let ts: i64 = r
        .header("webhook-timestamp")
        .expect("ts")
        .parse()
        .expect("ts");
    let expected = secret.sign(r.header("webhook-id").expect("id"), ts, &r.body);
    r.header("webhook-signature")
        .expect("signature")
        .split(' ')
        .any(|s| s == expected)
}

async fn first_format_values_are_migrated_at_start_and_still_sent(db: Db) {
    let Some(s) = setup(db).await else { return };
    // Write what the version before bindings stored.
    let mut hook = s
        .store
        .webhook(s.account, s.webhook)
        .await
        .expect("get")
        .expect("hook");
    hook.auth = StoredAuth::Basic {
        username: "crm".into(),
        password: Sealed(OLD_PASSWORD.into()),
    };
    hook.headers[0].value = format!("sealed:{OLD_HEADER}");
    assert!(s.store.update_webhook(&hook).await.expect("update"));
    // The rotation column write puts the old secret first as previous, then
    // the first-format one as current.
    let far = flowhook_storage::now_millis() + 3_600_000;
    let current = Sealed(OLD_SIGNING_SECRET.into());
    assert!(
        s.store
            .rotate_secret(s.account, s.webhook, &current, far)
            .await
            .expect("rotate")
    );
    let patch = AccountPatch {
        providers: Some(
            json!({"translate": {"api_key": OLD_PROVIDER_KEY}, "nlu": [{"token": OLD_PROVIDER_KEY}]}),
        ),
        ..AccountPatch::default()
    };
    s.store
        .update_account(s.account, &patch)
        .await
        .expect("providers");
    let stored = s
        .store
        .flow(s.account, &s.flow)
        .await
        .expect("get")
        .expect("flow");
    let mut doc: Value = serde_json::from_str(&stored.document).expect("json");
    doc["widgets"]["call"]["request"]["auth"]["password"] = json!(format!("sealed:{OLD_LITERAL}"));
    s.store
        .update_flow(s.account, &s.flow, &stored.name, &doc.to_string())
        .await
        .expect("update")
        .expect("flow");

    // Start-up migrates; then every credential reaches its destination.
    let mut s = s;
    s.app = s.app.restart().await;
    let key = MasterKey::parse(MASTER_KEY).expect("key");
    let hook = s
        .store
        .webhook(s.account, s.webhook)
        .await
        .expect("get")
        .expect("hook");
    let StoredAuth::Basic { password, .. } = &hook.auth else {
        panic!("basic auth")
    };
    let bound = |purpose| Binding::new(s.account, purpose);
    assert_eq!(
        key.open(bound(Purpose::WebhookPassword), &password.0)
            .expect("bound")
            .expose(),
        "old-pw"
    );
    assert!(
        hook.headers[0].value.starts_with("sealed:v2:"),
        "{:?}",
        hook.headers
    );
    assert!(hook.signing_secret.0.starts_with("v2:"));
    let account = s
        .store
        .account(s.account)
        .await
        .expect("get")
        .expect("account");
    let opened = providers::open(&account.providers, &key, s.account).expect("bound");
    assert_eq!(opened["translate"]["api_key"], "prov-key");
    assert_eq!(opened["nlu"][0]["token"], "prov-key");
    assert!(
        opened["nlu"][0]["id"].is_string(),
        "entries got ids: {opened}"
    );

    let (lit, end) = run(&s).await;
    assert_eq!(
        lit.header("authorization"),
        Some(basic("u", "lit-old").as_str())
    );
    assert_eq!(
        end.header("authorization"),
        Some(basic("crm", "old-pw").as_str())
    );
    assert_eq!(end.header("x-api-key"), Some("k-old"));
    assert!(
        signed_with(OLD_SIGNING_SECRET_TEXT, &end),
        "signed with the migrated secret"
    );
}

async fn rotating_the_master_key_reseals_everything(db: Db) {
    let Some(mut s) = setup(db).await else { return };
    let (status, rotated) = s
        .app
        .call(
            Method::POST,
            &format!("/v1/webhooks/{}/rotate-secret", s.webhook),
            &s.acct.key,
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let secret = rotated["signing_secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    run(&s).await;

    s.app.stop().await;
    let old = MasterKey::parse(MASTER_KEY).expect("key");
    let new = MasterKey::parse(NEW_KEY).expect("key");
    let done = flowhook::sealing::rotate(&*s.store, &old, &new)
        .await
        .expect("rotates");
    assert_eq!(
        (done.webhooks, done.accounts, done.flow_versions),
        (1, 1, 1),
        "{done:?}"
    );
    let again = flowhook::sealing::rotate(&*s.store, &old, &new)
        .await
        .expect("nothing to do");
    assert_eq!(again.total(), 0, "everything is under the new key already");
    // A wrong old key stops the rotation before anything is written.
    let stranger = MasterKey::parse(&"ee".repeat(32)).expect("key");
    let third = MasterKey::parse(&"dd".repeat(32)).expect("key");
    assert!(
        flowhook::sealing::rotate(&*s.store, &stranger, &third)
            .await
            .is_err()
    );

    // At rest, nothing opens with the old key, everything with the new one.
    let hook = s
        .store
        .webhook(s.account, s.webhook)
        .await
        .expect("get")
        .expect("hook");
    let bound = |purpose| Binding::new(s.account, purpose);
    let StoredAuth::Basic { password, .. } = &hook.auth else {
        panic!("basic auth")
    };
    assert!(matches!(
        old.open(bound(Purpose::WebhookPassword), &password.0),
        Err(SecretError::OtherKey { .. })
    ));
    assert_eq!(
        new.open(bound(Purpose::WebhookPassword), &password.0)
            .expect("opens")
            .expose(),
        "pw-1"
    );
    let previous = hook.previous_secret.as_ref().expect("previous secret");
    new.open(bound(Purpose::SigningSecret), &previous.0)
        .expect("previous re-sealed");
    assert_eq!(
        hook.headers[0].opened(&new, s.account).expect("opens").1,
        "k-1"
    );
    let account = s
        .store
        .account(s.account)
        .await
        .expect("get")
        .expect("account");
    assert!(providers::open(&account.providers, &old, s.account).is_err());
    let opened = providers::open(&account.providers, &new, s.account).expect("opens");
    assert_eq!(opened["translate"]["api_key"], "prov-key");
    assert_eq!(opened["nlu"][0]["token"], "t-1");
    let stored = s
        .store
        .flow(s.account, &s.flow)
        .await
        .expect("get")
        .expect("flow");
    let mut doc: Value = serde_json::from_str(&stored.document).expect("json");
    flow_secrets::open(&mut doc, &new, s.account).expect("opens");
    assert_eq!(
        doc["widgets"]["call"]["request"]["auth"]["password"],
        "lit-pw"
    );

    // A server with the new key sends every credential as before.
    let options = Options {
        allow_cidrs: Some("127.0.0.1/32".into()),
        retry_schedule: Some("1".into()),
        master_key: Some(NEW_KEY.into()),
        ..Options::default()
    };
    s.app = s.app.restart_with(options).await;
    let (lit, end) = run(&s).await;
    assert_eq!(
        lit.header("authorization"),
        Some(basic("u", "lit-pw").as_str())
    );
    assert_eq!(
        end.header("authorization"),
        Some(basic("crm", "pw-1").as_str())
    );
    assert_eq!(end.header("x-api-key"), Some("k-1"));
    assert!(signed_with(&secret, &end), "signed with the current secret");
}
