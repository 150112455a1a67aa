//! What `GET /metrics` reports (Prometheus/OpenMetrics text), and the
//! rolling last-hour counts the hub heartbeat carries.
//!
//! Counters are bumped where things happen (the gateway, the gate, the hub
//! link); values that live elsewhere (pending approvals, the bundle
//! revision, plugin failures) are read when scraped, so they cannot drift.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    redactions: Family<Labels, Counter>,
    plugin_failures: Family<Labels, Counter>,
    gate: Family<Labels, Counter>,
    hub: Family<Labels, Counter>,
    untrusted: Family<Labels, Counter>,
    model_calls: Family<Labels, Counter>,
    neutralised: Counter,
    /// Flagged tool results and calls held by taint so far, for the heartbeat.
    taint: Mutex<(u64, u64)>,
    approvals_pending: Gauge,
    revision: Gauge,
    alert_level: Family<Labels, Gauge>,
    used_percent: Family<Labels, Gauge<f64, AtomicU64>>,
    cert_days: Family<Labels, Gauge>,
    /// Registered only with a hub link: seconds since the last heartbeat
    /// the hub took (since start while there has been none).
    heartbeat_age: Option<Gauge<f64, AtomicU64>>,
    last_heartbeat: Mutex<Option<Instant>>,
    /// Redactions summed by layer, for the heartbeat (a `Family` cannot be
    /// read back without encoding it).
    by_layer: Mutex<BTreeMap<String, u64>>,
    last_hour: Mutex<LastHour>,
    started: Instant,
}

/// Values read at scrape time.
#[derive(Debug, Default)]
pub struct Scraped {
    /// Approvals waiting for a decision.
    pub approvals_pending: u64,
    /// The active bundle's revision.
    pub revision: u64,
    /// Plugin failures so far, by plugin and kind.
    pub plugin_failures: Vec<(String, String, u64)>,
    /// The watchman's checks.
    pub checks: crate::checks::Report,
}

fn latency_histogram() -> Histogram {
    // 100 us .. ~26 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 19))
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set, registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        let latency = Family::<Labels, Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let redactions = Family::<Labels, Counter>::default();
        let plugin_failures = Family::<Labels, Counter>::default();
        let gate = Family::<Labels, Counter>::default();
        let hub = Family::<Labels, Counter>::default();
        let untrusted = Family::<Labels, Counter>::default();
        let model_calls = Family::<Labels, Counter>::default();
        let neutralised = Counter::default();
        let approvals_pending = Gauge::default();
        let revision = Gauge::default();
        registry.register("warden_requests", "Requests served, by port, route and status", requests.clone());
        registry.register("warden_request_duration_seconds", "Time to the response head, by port", latency.clone());
        registry.register(
            "warden_redactions",
            "Findings redacted from outbound text, by layer and rule",
            redactions.clone(),
        );
        registry.register(
            "warden_plugin_failures",
            "Plugin calls that failed (and failed closed), by plugin and kind",
            plugin_failures.clone(),
        );
        registry.register("warden_gate_decisions", "Tool-call decisions, by tier and decision", gate.clone());
        registry.register(
            "warden_untrusted_flagged",
            "Model requests whose tool results screening flagged as prompt injection, by strongest reason",
            untrusted.clone(),
        );
        registry.register(
            "warden_model_tool_calls",
            "Tool calls in model answers judged at the gateway, by outcome (pass, deny, gate, tainted-gate)",
            model_calls.clone(),
        );
        registry.register(
            "warden_links_neutralised",
            "Answer texts (whole answers) in which links carrying data to hosts off [output] allow_hosts were neutralised",
            neutralised.clone(),
        );
        registry.register("warden_hub_calls", "Calls to the hub, by call and outcome", hub.clone());
        registry.register("warden_approvals_pending", "Approvals waiting for a decision", approvals_pending.clone());
        registry.register(
            "warden_policy_revision",
            "Revision of the active policy bundle (0: embedded default)",
            revision.clone(),
        );
        let alert_level = Family::<Labels, Gauge>::default();
        registry.register(
            "warden_alert_level",
            "The watchman's checks, by check: 0 ok, 1 medium, 2 hard (absent: not measured)",
            alert_level.clone(),
        );
        let used_percent = Family::<Labels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "warden_resource_used_percent",
            "Percent used of the state directory's disk and of the machine's memory",
            used_percent.clone(),
        );
        let cert_days = Family::<Labels, Gauge>::default();
        registry.register(
            "warden_tls_cert_days_left",
            "Days until the earliest certificate expiry of each [checks] tls target and file (negative: expired)",
            cert_days.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            redactions,
            plugin_failures,
            gate,
            hub,
            untrusted,
            model_calls,
            neutralised,
            taint: Mutex::default(),
            approvals_pending,
            revision,
            alert_level,
            used_percent,
            cert_days,
            heartbeat_age: None,
            last_heartbeat: Mutex::new(None),
            by_layer: Mutex::default(),
            last_hour: Mutex::new(LastHour::default()),
            started: Instant::now(),
        }
    }

    /// With a hub link: also report `warden_hub_heartbeat_age_seconds`.
    pub fn with_hub_link(mut self) -> Metrics {
        let age = Gauge::<f64, AtomicU64>::default();
        self.registry.register(
            "warden_hub_heartbeat_age_seconds",
            "Seconds since the hub last took a heartbeat (since start while it has taken none)",
            age.clone(),
        );
        self.heartbeat_age = Some(age);
        self
    }

    /// The hub took a heartbeat.
    pub fn heartbeat_ok(&self) {
        *self.last_heartbeat.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    /// One request served.
    pub fn request(&self, port: &'static str, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .get_or_create(&vec![
                ("port", port.to_string()),
                ("route", route.to_string()),
                ("status", status.to_string()),
            ])
            .inc();
        self.latency.get_or_create(&vec![("port", port.to_string())]).observe(elapsed.as_secs_f64());
        let error = status >= 500;
        self.last_hour.lock().unwrap_or_else(|e| e.into_inner()).add(self.minute(), error);
    }

    /// Findings redacted by one layer and rule.
    pub fn redacted(&self, layer: &str, rule: &str, n: u64) {
        self.redactions.get_or_create(&vec![("layer", layer.to_string()), ("rule", rule_label(rule))]).inc_by(n);
        *self.by_layer.lock().unwrap_or_else(|e| e.into_inner()).entry(layer.to_string()).or_insert(0) += n;
    }

    /// One tool-call decision.
    pub fn decided(&self, tier: &str, decision: &str) {
        self.gate.get_or_create(&vec![("tier", tier.to_string()), ("decision", decision.to_string())]).inc();
    }

    /// A model request's conversation carried flagged untrusted content.
    pub fn untrusted_flagged(&self, reason: &str) {
        self.untrusted.get_or_create(&vec![("reason", reason.to_string())]).inc();
        self.taint.lock().unwrap_or_else(|e| e.into_inner()).0 += 1;
    }

    /// A tool call in a model answer was judged (`pass`, `deny`, `gate`,
    /// `tainted-gate`).
    pub fn model_call(&self, outcome: &'static str) {
        self.model_calls.get_or_create(&vec![("outcome", outcome.to_string())]).inc();
        if outcome == "tainted-gate" {
            self.taint.lock().unwrap_or_else(|e| e.into_inner()).1 += 1;
        }
    }

    /// Answer texts whose links were neutralised.
    pub fn neutralised(&self, n: u64) {
        self.neutralised.inc_by(n);
    }

    /// Flagged requests and calls held because of taint, so far.
    pub fn taint_counts(&self) -> (u64, u64) {
        *self.taint.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One call to the hub.
    pub fn hub_call(&self, call: &'static str, ok: bool) {
        self.hub
            .get_or_create(&vec![("call", call.to_string()), ("outcome", if ok { "ok" } else { "error" }.to_string())])
            .inc();
    }

    /// Redactions so far, summed by layer.
    pub fn redactions_by_layer(&self) -> BTreeMap<String, u64> {
        self.by_layer.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Requests and server errors in the last hour.
    pub fn last_hour(&self) -> (u64, u64) {
        self.last_hour.lock().unwrap_or_else(|e| e.into_inner()).sum(self.minute())
    }

    fn minute(&self) -> u64 {
        self.started.elapsed().as_secs() / 60
    }

    /// The text exposition, with scraped values filled in.
    pub fn render(&self, s: &Scraped) -> String {
        self.approvals_pending.set(s.approvals_pending as i64);
        self.revision.set(s.revision as i64);
        self.alert_level.clear();
        for (check, severity) in s.checks.severities() {
            self.alert_level.get_or_create(&vec![("check", check.to_string())]).set(severity.gauge());
        }
        self.used_percent.clear();
        for (resource, level) in [("disk", &s.checks.disk), ("memory", &s.checks.memory)] {
            if let Some(l) = level {
                self.used_percent.get_or_create(&vec![("resource", resource.to_string())]).set(l.used_percent);
            }
        }
        self.cert_days.clear();
        for c in &s.checks.tls {
            if let Some(days) = c.days_left {
                self.cert_days.get_or_create(&vec![("target", c.target.clone())]).set(days);
            }
        }
        if let Some(age) = &self.heartbeat_age {
            let last = *self.last_heartbeat.lock().unwrap_or_else(|e| e.into_inner());
            age.set(last.unwrap_or(self.started).elapsed().as_secs_f64());
        }
        for (plugin, kind, n) in &s.plugin_failures {
            // A counter only goes up: add what happened since the last scrape.
            let c = self.plugin_failures.get_or_create(&vec![("plugin", plugin.clone()), ("kind", kind.clone())]);
            c.inc_by(n.saturating_sub(c.get()));
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Rule ids are policy-defined; keep the label bounded and printable.
fn rule_label(rule: &str) -> String {
    // `secret:NAME` would put vault secret names in metrics: the layer says enough.
    if rule.starts_with("secret:") {
        return "vault".into();
    }
    rule.chars().filter(|c| c.is_ascii_graphic()).take(64).collect()
}

/// Requests and errors per minute for the last 60 minutes.
#[derive(Debug)]
struct LastHour {
    /// (minute, requests, errors), indexed by minute modulo 60.
    slots: [(u64, u64, u64); 60],
}

impl Default for LastHour {
    fn default() -> Self {
        LastHour { slots: [(0, 0, 0); 60] }
    }
}

impl LastHour {
    fn add(&mut self, minute: u64, error: bool) {
        let slot = &mut self.slots[(minute % 60) as usize];
        if slot.0 != minute {
            *slot = (minute, 0, 0);
        }
        slot.1 += 1;
        slot.2 += u64::from(error);
    }

    fn sum(&self, minute: u64) -> (u64, u64) {
        self.slots.iter().filter(|s| s.0 + 60 > minute && (s.1 > 0)).fold((0, 0), |acc, s| (acc.0 + s.1, acc.1 + s.2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_names_what_happened() {
        let m = Metrics::new();
        m.request("egress", "llm", 200, Duration::from_millis(3));
        m.request("egress", "llm", 502, Duration::from_millis(3));
        m.redacted("pattern", "email", 2);
        m.redacted("exact", "secret:db-password", 1);
        m.decided("RED", "gate");
        let text = m.render(&Scraped {
            approvals_pending: 3,
            revision: 7,
            plugin_failures: vec![("p".into(), "trap".into(), 4)],
            checks: crate::checks::Report {
                disk: crate::checks::Level::of(90, 100, 85.0),
                memory: crate::checks::Level::of(50, 100, 90.0),
                backup: None,
                tls: vec![crate::checks::CertResult::expiring(
                    "app.example:443",
                    std::time::SystemTime::now() + Duration::from_secs(10 * 86_400 + 60),
                    std::time::SystemTime::now(),
                    14,
                )],
            },
        });
        for want in [
            "warden_alert_level{check=\"disk\"} 1",
            "warden_alert_level{check=\"memory\"} 0",
            "warden_resource_used_percent{resource=\"disk\"} 90.0",
            "warden_alert_level{check=\"tls\"} 1",
            "warden_tls_cert_days_left{target=\"app.example:443\"} 10",
            "warden_requests_total{port=\"egress\",route=\"llm\",status=\"502\"} 1",
            "warden_redactions_total{layer=\"pattern\",rule=\"email\"} 2",
            "warden_redactions_total{layer=\"exact\",rule=\"vault\"} 1",
            "warden_gate_decisions_total{tier=\"RED\",decision=\"gate\"} 1",
            "warden_approvals_pending 3",
            "warden_policy_revision 7",
            "warden_plugin_failures_total{plugin=\"p\",kind=\"trap\"} 4",
        ] {
            assert!(text.contains(want), "missing {want} in\n{text}");
        }
        assert!(!text.contains("db-password"));
        assert_eq!(m.last_hour(), (2, 1));
        assert_eq!(m.redactions_by_layer().get("pattern"), Some(&2));
        // A later scrape with the same plugin total does not double it.
        let again = m.render(&Scraped { plugin_failures: vec![("p".into(), "trap".into(), 4)], ..Default::default() });
        assert!(again.contains("warden_plugin_failures_total{plugin=\"p\",kind=\"trap\"} 4"));
        assert!(!again.contains("warden_alert_level{"), "unmeasured checks are absent");
        assert!(!again.contains("warden_hub_heartbeat_age_seconds"), "no hub link, no heartbeat age");
    }

    #[test]
    fn the_heartbeat_age_counts_from_the_last_heartbeat() {
        let m = Metrics::new().with_hub_link();
        let age = |text: &str| -> f64 {
            let line = text.lines().find(|l| l.starts_with("warden_hub_heartbeat_age_seconds ")).unwrap();
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert!(age(&m.render(&Scraped::default())) < 5.0, "counted from start while there was none");
        *m.last_heartbeat.lock().unwrap() = Some(Instant::now() - Duration::from_secs(40));
        let stale = age(&m.render(&Scraped::default()));
        assert!((40.0..45.0).contains(&stale), "{stale}");
        m.heartbeat_ok();
        assert!(age(&m.render(&Scraped::default())) < 5.0);
    }
}
