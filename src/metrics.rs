//! Prometheus metrics: what `GET /metrics` answers.
//!
//! Owns: the process-lifetime metrics Ballast counts itself (provisioning jobs, health probes,
//! build info) and the encoding of a scrape in the Prometheus text format (0.0.4) with the
//! `prometheus-client` crate. Values that other parts already keep as absolute totals (listener
//! counters from the data plane, member up/down from the health checker) arrive as plain
//! snapshots at scrape time, so this module never reads the store or the data plane itself.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// The `Content-Type` of what [`Metrics::encode`] returns.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Upper bounds (seconds) of the provisioning job duration buckets: jobs normally finish in
/// milliseconds (bind a socket, add an address); the tail catches a stuck network driver.
const JOB_DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// One listener's counters at scrape time, as the data plane (plus persisted totals) reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerMetric {
    /// The listener's load balancer id.
    pub load_balancer_id: String,
    /// The listener id.
    pub listener_id: String,
    /// The listener's name (empty when it has none).
    pub name: String,
    /// Bytes received from clients, total since the listener was created.
    pub bytes_in: u64,
    /// Bytes sent to clients, total since the listener was created.
    pub bytes_out: u64,
    /// Client connections open now.
    pub active_connections: u64,
    /// Client connections accepted, total since the listener was created.
    pub total_connections: u64,
}

/// One member's health at scrape time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetric {
    /// The load balancer the member's pool belongs to.
    pub load_balancer_id: String,
    /// The member's pool id.
    pub pool_id: String,
    /// The member id.
    pub member_id: String,
    /// The member's address, `ip:port`.
    pub address: String,
    /// Whether the member takes traffic (health checks pass, or no monitor and enabled).
    pub up: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobKindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    r#type: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    load_balancer_id: String,
    listener_id: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    load_balancer_id: String,
    pool_id: String,
    member_id: String,
    address: String,
}

type HistogramFamily<S> = Family<S, Histogram, fn() -> Histogram>;

/// Ballast's metrics. Share one instance (behind an `Arc`) between the controller, the health
/// checker and the API; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    jobs: Family<JobLabels, Counter>,
    job_durations: HistogramFamily<JobKindLabels>,
    probes: Family<ProbeLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics: every counter at zero, `ballast_build_info{version}` set to this build.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let jobs = Family::<JobLabels, Counter>::default();
        let job_durations: HistogramFamily<JobKindLabels> =
            Family::new_with_constructor(|| Histogram::new(JOB_DURATION_BUCKETS));
        let probes = Family::<ProbeLabels, Counter>::default();
        registry.register(
            "ballast_provisioning_jobs",
            "Provisioning jobs finished, by job kind and outcome (success or error)",
            jobs.clone(),
        );
        registry.register(
            "ballast_provisioning_job_duration_seconds",
            "Time from claiming a provisioning job to finishing it, by job kind",
            job_durations.clone(),
        );
        registry.register(
            "ballast_health_probes",
            "Health probes sent, by monitor type and result (success, failure or error)",
            probes.clone(),
        );
        registry.register(
            "ballast_build",
            "Build information; the value is always 1",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_owned(),
            }),
        );
        Self {
            registry,
            jobs,
            job_durations,
            probes,
        }
    }

    /// Counts one finished provisioning job. `kind` is the job kind (`CreateListener`),
    /// `outcome` is `"success"` or `"error"`; `duration` is from claim to finish.
    pub fn observe_job(&self, kind: &str, outcome: &str, duration: Duration) {
        self.jobs
            .get_or_create(&JobLabels {
                kind: kind.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
        self.job_durations
            .get_or_create(&JobKindLabels {
                kind: kind.to_owned(),
            })
            .observe(duration.as_secs_f64());
    }

    /// Counts one health probe. `kind` is the monitor type (`PING`, `TCP`, `HTTP`, `HTTPS`);
    /// `result` is `"success"`, `"failure"` (the member answered wrongly or not at all) or
    /// `"error"` (the probe could not be attempted).
    pub fn observe_probe(&self, kind: &str, result: &str) {
        self.probes
            .get_or_create(&ProbeLabels {
                r#type: kind.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// One scrape in the Prometheus text format ([`CONTENT_TYPE`]): the process-lifetime
    /// metrics, then the per-listener and per-member values given here.
    pub fn encode(&self, listeners: &[ListenerMetric], members: &[MemberMetric]) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail, and our label sets and values encode infallibly,
        // so the only error source (fmt::Write) is absent.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        let snapshot = snapshot_registry(listeners, members);
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &snapshot);
        text
    }
}

/// A registry for one scrape holding the values that arrive as absolute totals. A fresh registry
/// per scrape means a deleted listener or member disappears from the next scrape instead of
/// lingering with its last value.
fn snapshot_registry(listeners: &[ListenerMetric], members: &[MemberMetric]) -> Registry {
    let mut registry = Registry::default();
    let bytes_in = Family::<ListenerLabels, Counter>::default();
    let bytes_out = Family::<ListenerLabels, Counter>::default();
    let active = Family::<ListenerLabels, Gauge<u64, std::sync::atomic::AtomicU64>>::default();
    let connections = Family::<ListenerLabels, Counter>::default();
    let member_up = Family::<MemberLabels, Gauge>::default();
    for listener in listeners {
        let labels = ListenerLabels {
            load_balancer_id: listener.load_balancer_id.clone(),
            listener_id: listener.listener_id.clone(),
            name: listener.name.clone(),
        };
        // inc_by on a fresh counter sets it to the total (a duplicate entry would add up).
        bytes_in.get_or_create(&labels).inc_by(listener.bytes_in);
        bytes_out.get_or_create(&labels).inc_by(listener.bytes_out);
        active
            .get_or_create(&labels)
            .inc_by(listener.active_connections);
        connections
            .get_or_create(&labels)
            .inc_by(listener.total_connections);
    }
    for member in members {
        member_up
            .get_or_create(&MemberLabels {
                load_balancer_id: member.load_balancer_id.clone(),
                pool_id: member.pool_id.clone(),
                member_id: member.member_id.clone(),
                address: member.address.clone(),
            })
            .set(i64::from(member.up));
    }
    registry.register(
        "ballast_listener_bytes_in",
        "Bytes received from clients by the listener",
        bytes_in,
    );
    registry.register(
        "ballast_listener_bytes_out",
        "Bytes sent to clients by the listener",
        bytes_out,
    );
    registry.register(
        "ballast_listener_active_connections",
        "Client connections open on the listener now",
        active,
    );
    registry.register(
        "ballast_listener_connections",
        "Client connections accepted by the listener",
        connections,
    );
    registry.register(
        "ballast_member_up",
        "Whether the member takes traffic (1) or not (0)",
        member_up,
    );
    registry
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses a scrape with a real Prometheus text parser.
    fn parse(text: &str) -> prometheus_parse::Scrape {
        prometheus_parse::Scrape::parse(text.lines().map(|line| Ok(line.to_owned())))
            .expect("the scrape parses as Prometheus text")
    }

    fn value(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
        let samples: Vec<_> = scrape
            .samples
            .iter()
            .filter(|s| s.metric == name)
            .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .collect();
        assert_eq!(samples.len(), 1, "one sample of {name} {labels:?}");
        match &samples[0].value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            other => panic!("{name} is not a plain value: {other:?}"),
        }
    }

    fn listener(id: &str, bytes_in: u64) -> ListenerMetric {
        ListenerMetric {
            load_balancer_id: "lb-1".to_owned(),
            listener_id: id.to_owned(),
            name: format!("web-{id}"),
            bytes_in,
            bytes_out: 2 * bytes_in,
            active_connections: 3,
            total_connections: 17,
        }
    }

    #[test]
    fn listener_totals_are_exported_with_their_labels() {
        let metrics = Metrics::new();
        let text = metrics.encode(&[listener("l-1", 1000), listener("l-2", 5)], &[]);
        let scrape = parse(&text);
        let l1 = [("load_balancer_id", "lb-1"), ("listener_id", "l-1")];
        assert_eq!(
            value(&scrape, "ballast_listener_bytes_in_total", &l1),
            1000.0
        );
        assert_eq!(
            value(&scrape, "ballast_listener_bytes_out_total", &l1),
            2000.0
        );
        assert_eq!(
            value(&scrape, "ballast_listener_active_connections", &l1),
            3.0
        );
        assert_eq!(
            value(&scrape, "ballast_listener_connections_total", &l1),
            17.0
        );
        let l2 = [("listener_id", "l-2"), ("name", "web-l-2")];
        assert_eq!(value(&scrape, "ballast_listener_bytes_in_total", &l2), 5.0);
        assert!(text.contains("# TYPE ballast_listener_bytes_in_total counter"));
        assert!(text.contains("# TYPE ballast_listener_active_connections gauge"));
    }

    #[test]
    fn member_up_is_one_or_zero() {
        let metrics = Metrics::new();
        let member = |id: &str, up| MemberMetric {
            load_balancer_id: "lb-1".to_owned(),
            pool_id: "p-1".to_owned(),
            member_id: id.to_owned(),
            address: "127.0.0.1:8080".to_owned(),
            up,
        };
        let scrape = parse(&metrics.encode(&[], &[member("m-1", true), member("m-2", false)]));
        assert_eq!(
            value(&scrape, "ballast_member_up", &[("member_id", "m-1")]),
            1.0
        );
        assert_eq!(
            value(
                &scrape,
                "ballast_member_up",
                &[
                    ("member_id", "m-2"),
                    ("pool_id", "p-1"),
                    ("address", "127.0.0.1:8080")
                ]
            ),
            0.0
        );
    }

    #[test]
    fn quotes_in_a_listener_name_are_escaped() {
        // prometheus-parse splits labels naively, so this checks the raw text instead.
        let mut quoted = listener("l-1", 1);
        quoted.name = "say \"hi\"\nthere".to_owned();
        let text = Metrics::new().encode(&[quoted], &[]);
        assert!(text.contains(r#"name="say \"hi\"\nthere""#), "{text}");
    }

    #[test]
    fn a_listener_missing_from_the_next_scrape_is_gone() {
        let metrics = Metrics::new();
        let first = metrics.encode(&[listener("l-1", 1)], &[]);
        assert!(first.contains("listener_id=\"l-1\""));
        let second = metrics.encode(&[], &[]);
        assert!(!second.contains("listener_id=\"l-1\""));
    }

    #[test]
    fn jobs_are_counted_by_kind_and_outcome_with_durations() {
        let metrics = Metrics::new();
        metrics.observe_job("CreateListener", "success", Duration::from_millis(3));
        metrics.observe_job("CreateListener", "success", Duration::from_millis(40));
        metrics.observe_job("CreateListener", "error", Duration::from_secs(2));
        let scrape = parse(&metrics.encode(&[], &[]));
        let success = [("kind", "CreateListener"), ("outcome", "success")];
        let error = [("kind", "CreateListener"), ("outcome", "error")];
        assert_eq!(
            value(&scrape, "ballast_provisioning_jobs_total", &success),
            2.0
        );
        assert_eq!(
            value(&scrape, "ballast_provisioning_jobs_total", &error),
            1.0
        );

        let histogram = scrape
            .samples
            .iter()
            .find(|s| s.metric == "ballast_provisioning_job_duration_seconds")
            .expect("the duration histogram is exported");
        let prometheus_parse::Value::Histogram(buckets) = &histogram.value else {
            panic!("duration is a histogram: {:?}", histogram.value);
        };
        let count_at = |le: f64| {
            buckets
                .iter()
                .find(|b| b.less_than == le)
                .map(|b| b.count)
                .expect("bucket exists")
        };
        assert_eq!(count_at(0.005), 1.0);
        assert_eq!(count_at(0.05), 2.0);
        assert_eq!(count_at(2.5), 3.0);
        assert_eq!(count_at(f64::INFINITY), 3.0);
        assert_eq!(
            value(
                &scrape,
                "ballast_provisioning_job_duration_seconds_count",
                &[]
            ),
            3.0
        );
    }

    #[test]
    fn probes_are_counted_by_type_and_result() {
        let metrics = Metrics::new();
        for _ in 0..3 {
            metrics.observe_probe("HTTP", "success");
        }
        metrics.observe_probe("HTTP", "failure");
        metrics.observe_probe("PING", "error");
        let scrape = parse(&metrics.encode(&[], &[]));
        let probes = "ballast_health_probes_total";
        assert_eq!(
            value(&scrape, probes, &[("type", "HTTP"), ("result", "success")]),
            3.0
        );
        assert_eq!(
            value(&scrape, probes, &[("type", "HTTP"), ("result", "failure")]),
            1.0
        );
        assert_eq!(
            value(&scrape, probes, &[("type", "PING"), ("result", "error")]),
            1.0
        );
    }

    #[test]
    fn build_info_carries_the_version() {
        let scrape = parse(&Metrics::new().encode(&[], &[]));
        let version = env!("CARGO_PKG_VERSION");
        assert_eq!(
            value(&scrape, "ballast_build_info", &[("version", version)]),
            1.0
        );
    }

    #[test]
    fn metrics_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Metrics>();
    }
}
