//! Ballast's extension routes beside `/v1`: traffic history per listener and
//! per load balancer, the events feed, and members' health. Status, shape,
//! bounds and 404s, against the real binary.

mod common;

use std::time::Duration;

use common::api::{assert_keys, listener_path, pool_path};
use common::{Ballast, Options, assert_fault, fresh_cidr, http_member, http_raw, wait_until};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// An instance sampling traffic every second.
fn start_sampling_every_second() -> (Ballast, tempfile::TempDir) {
    let tmp = tempfile::tempdir().unwrap();
    let options = Options {
        extra_toml: "\n[housekeeping]\ntraffic_sample_interval_secs = 1\n".into(),
        ..Options::default()
    };
    (Ballast::start_in(tmp.path(), &fresh_cidr(), options), tmp)
}

#[test]
fn history_shows_rates_per_listener_and_their_sum_per_load_balancer() {
    let (b, _tmp) = start_sampling_every_second();
    let lb = id(&b.create_lb());
    let web = id(&b.add_listener(&lb, "HTTP", 8080));
    let idle = id(&b.add_listener(&lb, "HTTP", 8081));
    let pool = id(&b.add_pool(&lb, &web, "HTTP"));
    let member = http_member("alpha");
    b.add_member(&lb, &web, &pool, "127.0.0.1", member.port());
    let (_, lbv) = b.get(&format!("/v1/loadbalancers/{lb}"));
    let url = format!(
        "http://{}:8080/",
        lbv["vip"]["ip_address"].as_str().unwrap()
    );

    let lb_history = format!("/v1/loadbalancers/{lb}/history");
    let web_history = format!("{}/history", listener_path(&lb, &web));
    let mut last = Value::Null;
    wait_until(Duration::from_secs(15), "a sample with traffic", || {
        let (status, body) = http_raw("GET", &url, None, &[]);
        assert_eq!(status, 200, "{body}");
        let (s, v) = b.get(&web_history);
        assert_eq!(s, 200, "{v}");
        last = v.clone();
        v["samples"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["connections_per_sec"].as_f64().unwrap() > 0.0)
    });
    assert_keys(&last, &["interval_secs", "window_secs", "samples"]);
    assert_eq!(last["interval_secs"], 1);
    assert_eq!(last["window_secs"], 3600);
    let busy = last["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["connections_per_sec"].as_f64().unwrap() > 0.0)
        .unwrap()
        .clone();
    assert_keys(
        &busy,
        &[
            "at_ms",
            "connections_per_sec",
            "bytes_in_per_sec",
            "bytes_out_per_sec",
            "active_connections",
        ],
    );
    assert!(busy["bytes_in_per_sec"].as_f64().unwrap() > 0.0, "{busy}");
    assert!(busy["bytes_out_per_sec"].as_f64().unwrap() > 0.0, "{busy}");

    // The load balancer's history adds its listeners up point by point: the
    // idle listener contributes zeros, so each point equals the busy one's.
    let (s, sum) = b.get(&lb_history);
    assert_eq!(s, 200, "{sum}");
    let (_, web_now) = b.get(&web_history);
    let at = busy["at_ms"].clone();
    let point = sum["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["at_ms"] == at)
        .unwrap_or_else(|| panic!("no point at {at} in {sum}"));
    assert_eq!(point["connections_per_sec"], busy["connections_per_sec"]);
    let (_, idle_history) = b.get(&format!("{}/history", listener_path(&lb, &idle)));
    assert!(
        idle_history["samples"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["connections_per_sec"] == 0.0),
        "{idle_history}"
    );
    let times: Vec<i64> = web_now["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["at_ms"].as_i64().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] < w[1]),
        "oldest first: {times:?}"
    );
}

#[test]
fn history_events_and_member_health_of_unknown_objects_are_404() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let other = id(&b.create_lb());
    let unknown = uuid::Uuid::new_v4();
    let before = b.snapshot();
    for path in [
        format!("/v1/loadbalancers/{unknown}/history"),
        format!("/v1/loadbalancers/{unknown}/events"),
        "/v1/loadbalancers/not-a-uuid/events".to_string(),
        format!("{}/history", listener_path(&t.lb, &unknown.to_string())),
        // A listener under another load balancer is unknown there.
        format!("{}/history", listener_path(&other, &t.listener)),
        format!("{}/member_health", pool_path(&other, &t.listener, &t.pool)),
        format!(
            "{}/member_health",
            pool_path(&t.lb, &t.listener, &unknown.to_string())
        ),
    ] {
        let (s, v) = b.get(&path);
        assert_fault(s, &v, 404, "not found");
    }
    b.assert_unchanged(&before);
}

#[test]
fn a_down_member_tells_its_last_probe_and_cause_and_the_feed_records_it() {
    let b = Ballast::start();
    // A member new to a monitored pool is decided by its first probe, which
    // runs at once: 127.0.0.1:1 refuses it.
    let lb = id(&b.create_lb());
    let l = id(&b.add_listener(&lb, "HTTP", 8080));
    let p = id(&b.add_pool(&lb, &l, "HTTP"));
    b.add_monitor(&lb, &l, &p);
    let m = id(&b.add_member(&lb, &l, &p, "127.0.0.1", 1));
    let health_path = format!("{}/member_health", pool_path(&lb, &l, &p));
    let mut entry = Value::Null;
    wait_until(
        Duration::from_secs(10),
        "member OFFLINE with a cause",
        || {
            let (s, v) = b.get(&health_path);
            assert_eq!(s, 200, "{v}");
            entry = v["members"][0].clone();
            entry["status"] == "OFFLINE"
        },
    );
    assert_eq!(entry["member_id"], m.as_str());
    assert_eq!(entry["monitored"], true);
    let cause = entry["cause"].as_str().unwrap();
    assert!(cause.contains("consecutive failure"), "{cause}");
    assert!(entry["since"].as_i64().unwrap() > 0);
    let probe = &entry["last_probe"];
    assert_keys(probe, &["type", "result", "detail", "latency_ms", "at"]);
    assert_eq!(probe["type"], "TCP");
    assert_eq!(probe["result"], "failure");

    let events_path = format!("/v1/loadbalancers/{lb}/events");
    let mut feed = Value::Null;
    wait_until(Duration::from_secs(10), "the status event", || {
        feed = b.get(&events_path).1;
        feed["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "status")
    });
    assert_keys(&feed, &["limit", "events"]);
    assert_eq!(feed["limit"], 200);
    let events = feed["events"].as_array().unwrap();
    let status = events.iter().find(|e| e["kind"] == "status").unwrap();
    assert_keys(status, &["id", "at", "kind", "subject", "message"]);
    assert_eq!(status["subject"], "member 127.0.0.1:1");
    assert!(
        status["message"].as_str().unwrap().starts_with("OFFLINE: "),
        "{status}"
    );
    // Every job of the tree's build is in the feed, newest first.
    let jobs: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "provisioning")
        .map(|e| e["subject"].as_str().unwrap())
        .collect();
    assert_eq!(
        jobs,
        [
            "CreateMember",
            "CreateHealthMonitor",
            "CreatePool",
            "CreateListener",
            "CreateLoadBalancer"
        ]
    );
    assert!(
        events
            .windows(2)
            .all(|w| w[0]["id"].as_i64() > w[1]["id"].as_i64())
    );
    let done = events.iter().find(|e| e["kind"] == "provisioning").unwrap();
    assert!(
        done["message"].as_str().unwrap().starts_with("done in "),
        "{done}"
    );
}

#[test]
fn a_pool_without_a_monitor_reports_its_members_unmonitored() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let l = id(&b.add_listener(&lb, "HTTP", 8080));
    let p = id(&b.add_pool(&lb, &l, "HTTP"));
    let m = id(&b.add_member(&lb, &l, &p, "127.0.0.1", 1));
    let (s, v) = b.get(&format!("{}/member_health", pool_path(&lb, &l, &p)));
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"members": [{"member_id": m, "monitored": false}]})
    );
}
