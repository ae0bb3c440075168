//! Prometheus metrics in the text exposition format, without a metrics framework:
//! a handful of labelled counters behind one mutex, rendered on scrape.
//!
//! Counting is a map lookup and an add under a short lock; scraping renders a copy.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

/// Counter name → label set (rendered `k="v",…`) → value.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<BTreeMap<&'static str, BTreeMap<String, u64>>>,
}

/// A labelled counter kept outside this registry (e.g. by the delivery worker).
pub struct External<'a> {
    pub name: &'a str,
    pub help: &'a str,
    pub label: &'a str,
    pub values: &'a [(&'a str, u64)],
}

/// Help text of each metric flowhook exposes.
const HELP: &[(&str, &str)] = &[
    (
        "flowhook_http_requests_total",
        "HTTP requests served, by route, method and status.",
    ),
    (
        "flowhook_webhook_checks_total",
        "Check-button probes, by outcome.",
    ),
];

impl Metrics {
    /// Adds one to `name{labels}`. Label values must not contain `"` or `\`
    /// (they are route templates, methods and codes).
    pub fn inc(&self, name: &'static str, labels: &[(&str, &str)]) {
        let key = labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect::<Vec<_>>()
            .join(",");
        let mut counters = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        *counters.entry(name).or_default().entry(key).or_default() += 1;
    }

    /// The exposition text. `gauges` are computed by the caller at scrape time;
    /// `external` are counters kept elsewhere (name, help, one label, values).
    pub fn render(&self, gauges: &[(&str, &str, f64)], external: &[External<'_>]) -> String {
        let counters = self
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let mut out = String::new();
        for (name, help) in HELP {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, value) in counters.get(name).into_iter().flatten() {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
        for e in external {
            let _ = writeln!(
                out,
                "# HELP {} {}\n# TYPE {} counter",
                e.name, e.help, e.name
            );
            for (label_value, value) in e.values {
                let _ = writeln!(out, "{}{{{}=\"{label_value}\"}} {value}", e.name, e.label);
            }
        }
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_counters_and_gauges() {
        let m = super::Metrics::default();
        m.inc(
            "flowhook_http_requests_total",
            &[("route", "/healthz"), ("status", "200")],
        );
        m.inc(
            "flowhook_http_requests_total",
            &[("route", "/healthz"), ("status", "200")],
        );
        let text = m.render(
            &[("flowhook_up", "Always 1.", 1.0)],
            &[super::External {
                name: "flowhook_x_total",
                help: "X.",
                label: "outcome",
                values: &[("ok", 3)],
            }],
        );
        assert!(
            text.contains("flowhook_x_total{outcome=\"ok\"} 3"),
            "{text}"
        );
        assert!(text.contains("flowhook_http_requests_total{route=\"/healthz\",status=\"200\"} 2"));
        assert!(text.contains("# TYPE flowhook_up gauge\nflowhook_up 1"));
    }
}
