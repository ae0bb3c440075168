//! Load harness for short-link redirects: `GET /{code}` on the real
//! `flowhook serve` process, driven closed-loop over many connections, beside
//! a baseline measured in the same run:
//!
//! - `hello`: a hyper hello-world server in its own process (this bench run as
//!   `LOAD_ROLE=hello`): HTTP/1.1, one fixed 13-byte answer, nothing else —
//!   the floor of any HTTP answer on this machine;
//! - `redirect sqlite` / `redirect postgres`: flowhook answering a 302 for one
//!   of `LOAD_LINKS` short links (made through `POST /UrlShortner/shortUrl`),
//!   with everything a redirect does: routing, the request guards, the access
//!   log and metrics, the target lookup (cached after its first read) and the
//!   click counted (written in batches every second).
//!
//! Each mode is warmed up with `LOAD_WARMUP` requests, then measured over
//! `LOAD_N`. After a flowhook run the harness checks that every redirect was
//! counted: the links' clicks must add up to the requests sent.
//!
//! Goal: flowhook's redirects at least 0.5× the hello world's requests/s.
//!
//! Run: `cargo bench -p flowhook --bench redirect_load` (env `LOAD_N`,
//! `LOAD_WARMUP`, `LOAD_CONCURRENCY`, `LOAD_LINKS`, `LOAD_MODES`=comma list
//! of hello,sqlite,postgres; PostgreSQL from `LOAD_POSTGRES_URL` or
//! `FLOWHOOK_TEST_DATABASE_URL`).

mod support;

use std::sync::Arc;

use serde_json::{Value, json};
use support::{Server, drive, env_usize, report};

/// The hello-world baseline, as `LOAD_ROLE=hello <this bench>`.
fn hello_main() {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        eprintln!(
            "hello serving listen={}",
            listener.local_addr().expect("addr")
        );
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"Hello, world!"),
                    )))
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

/// A client that reports redirects instead of following them.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Drives `n` GETs over `urls` (round robin), each answered `status`;
/// reports, and the server's CPU per request.
async fn load(
    name: &str,
    server: &Server,
    urls: Arc<Vec<String>>,
    status: u16,
    warmup: usize,
    n: usize,
    concurrency: usize,
) -> f64 {
    let http = client();
    let get = move |i: usize| {
        let (http, urls) = (http.clone(), urls.clone());
        async move {
            let resp = http.get(&urls[i % urls.len()]).send().await.expect("send");
            assert_eq!(resp.status().as_u16(), status);
            let _ = resp.bytes().await.expect("body");
        }
    };
    let get = Arc::new(get);
    let warm = get.clone();
    drive(warmup, concurrency, move |i| warm(i)).await;
    let cpu = server.cpu();
    let result = drive(n, concurrency, move |i| get(i)).await;
    let rate = report(name, n, result);
    let (rss, peak) = server.rss();
    println!(
        "{:16} server CPU {:.3} ms/request, RSS {rss:.1} MB (peak {peak:.1} MB)",
        "",
        (server.cpu() - cpu) * 1000.0 / n as f64
    );
    rate
}

/// An account on a running flowhook and `links` short links of it; the
/// account's API key and the short URLs.
async fn links(addr: &str, links: usize) -> (String, Vec<String>) {
    let http = client();
    let account: Value = http
        .post(format!("http://{addr}/v1/accounts"))
        .bearer_auth(support::ADMIN)
        .json(&json!({"name": "bench"}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let token = account["short_token"].as_str().expect("short token");
    let mut urls = Vec::with_capacity(links);
    for i in 0..links {
        let made: Value = http
            .post(format!("http://{addr}/UrlShortner/shortUrl"))
            .json(&json!({"custToken": token, "longUrl": format!("https://example.com/offer/{i}?src=sms")}))
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        urls.push(made["shortUrl"].as_str().expect("shortUrl").to_owned());
    }
    let key = account["security_id"].as_str().expect("key").to_owned();
    (key, urls)
}

/// The clicks of the account's links, added up (listing writes them first).
async fn clicks(addr: &str, key: &str) -> i64 {
    let listed: Value = client()
        .get(format!("http://{addr}/v1/links?limit=1000"))
        .bearer_auth(key)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    listed
        .as_array()
        .expect("links")
        .iter()
        .map(|l| l["clicks"].as_i64().expect("clicks"))
        .sum()
}

fn main() {
    if std::env::var("LOAD_ROLE").as_deref() == Ok("hello") {
        return hello_main();
    }
    let n = env_usize("LOAD_N", 50_000);
    let warmup = env_usize("LOAD_WARMUP", 5_000);
    let concurrency = env_usize("LOAD_CONCURRENCY", 64);
    let link_count = env_usize("LOAD_LINKS", 100).clamp(1, 1000);
    let modes = std::env::var("LOAD_MODES").unwrap_or("hello,sqlite,postgres".into());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async move {
        println!(
            "redirect load: {n} requests per mode after {warmup} to warm up, {concurrency} connections, {link_count} links"
        );
        let mut rates = std::collections::BTreeMap::new();

        if modes.contains("hello") {
            let mut cmd = std::process::Command::new(std::env::current_exe().expect("exe"));
            cmd.env("LOAD_ROLE", "hello");
            let hello = Server::spawn(cmd, "hello serving");
            let urls = Arc::new(vec![format!("http://{}/", hello.addr)]);
            let rate = load("hello", &hello, urls, 200, warmup, n, concurrency).await;
            rates.insert("hello", rate);
        }

        for backend in ["sqlite", "postgres"] {
            if !modes.contains(backend) {
                continue;
            }
            let dir = tempfile::tempdir().expect("tempdir");
            let Some(db) = support::database(backend, dir.path()).await else {
                println!("redirect {backend}: skipped (set LOAD_POSTGRES_URL or FLOWHOOK_TEST_DATABASE_URL)");
                continue;
            };
            let server = Server::flowhook(&db, dir.path(), &[]);
            let (key, urls) = links(&server.addr, link_count).await;
            let name = format!("redirect {backend}");
            let rate = load(&name, &server, Arc::new(urls), 302, warmup, n, concurrency).await;
            let counted = clicks(&server.addr, &key).await;
            let sent = (warmup + n) as i64;
            println!("{:16} clicks counted {counted} of {sent}", "");
            assert_eq!(counted, sent, "every redirect is counted");
            rates.insert(if backend == "sqlite" { "redirect sqlite" } else { "redirect postgres" }, rate);
        }

        for mode in ["redirect sqlite", "redirect postgres"] {
            if let (Some(x), Some(hello)) = (rates.get(mode), rates.get("hello")) {
                let ratio = x / hello;
                let verdict = if ratio >= 0.5 { "met" } else { "MISSED" };
                println!("ratio {mode} / hello: {ratio:.2} (goal ≥ 0.50: {verdict})");
            }
        }
    });
}
