//! One fault for every invalid field of a body: `faultstring` keeps the
//! first field's `field: reason`, the `errors` extension lists them all in
//! order, `debuginfo` stays null, and nothing changes.

mod common;

use common::{Ballast, assert_fault, http};
use serde_json::{Value, json};

/// Send a bad body, check the one fault it answers (status 400, the first
/// field first in `faultstring`, `errors` naming `fields` in order), and
/// that nothing changed. Returns the fault.
fn expect_fields(b: &Ballast, method: &str, path: &str, body: Value, fields: &[&str]) -> Value {
    let before = b.snapshot();
    let (s, v) = http(method, &b.url(path), Some(body.to_string()));
    assert_fault(s, &v, 400, &format!("{}: ", fields[0]));
    let errors = v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors list in {v}"));
    let named: Vec<&str> = errors
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(named, fields, "{v}");
    for e in errors {
        let message = e["message"].as_str().unwrap();
        assert!(!message.is_empty(), "{v}");
        assert!(!message.starts_with(e["field"].as_str().unwrap()), "{v}");
    }
    assert_eq!(
        v["faultstring"],
        format!("{}: {}", fields[0], errors[0]["message"].as_str().unwrap()),
        "the first error stays first in faultstring"
    );
    b.assert_unchanged(&before);
    v
}

#[test]
fn a_member_with_three_bad_fields_gets_three_messages_in_one_fault() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let v = expect_fields(
        &b,
        "POST",
        &t.members_path(),
        json!({"ip_address": "999.1.1.1", "protocol_port": 70000, "weight": 300}),
        &["ip_address", "protocol_port", "weight"],
    );
    assert_eq!(v["errors"][0]["message"], "must be an IP address");
    assert_eq!(v["errors"][1]["message"], "must be an integer 1..65535");
    assert_eq!(v["errors"][2]["message"], "must be an integer 0..256");
    expect_fields(
        &b,
        "POST",
        &t.members_path(),
        json!({"weight": -1}),
        &["ip_address", "protocol_port", "weight"],
    );
    expect_fields(
        &b,
        "PUT",
        &t.member_path(),
        json!({"protocol_port": 0, "weight": 257}),
        &["protocol_port", "weight"],
    );
}

#[test]
fn listener_pool_and_monitor_writes_list_every_bad_field() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    expect_fields(
        &b,
        "POST",
        &format!("{}/listeners", t.lb_path()),
        json!({"protocol": "FTP", "protocol_port": 0, "connection_limit": 0,
               "name": "x".repeat(300)}),
        &["protocol", "protocol_port", "connection_limit", "name"],
    );
    expect_fields(
        &b,
        "PUT",
        &t.listener_path(),
        json!({"protocol_port": 65536, "default_tls_container_id": "nope"}),
        &["protocol_port", "default_tls_container_id"],
    );
    expect_fields(
        &b,
        "POST",
        &format!("{}/pools", t.listener_path()),
        json!({"lb_algorithm": "RANDOM", "session_persistence": {"type": "NONE"}}),
        &["protocol", "lb_algorithm", "session_persistence.type"],
    );
    expect_fields(
        &b,
        "PUT",
        &t.pool_path(),
        json!({"protocol": "UDP", "lb_algorithm": "RANDOM"}),
        &["protocol", "lb_algorithm"],
    );
    expect_fields(
        &b,
        "PUT",
        &t.monitor_path(),
        json!({"type": "SMTP", "delay": 0, "fall_threshold": 11, "url_path": "no-slash"}),
        &["type", "delay", "fall_threshold", "url_path"],
    );
    // Cross-field rules come after the fields themselves, in the same list.
    expect_fields(
        &b,
        "PUT",
        &t.monitor_path(),
        json!({"rise_threshold": 0, "timeout": 31}),
        &["rise_threshold", "timeout"],
    );
}

#[test]
fn a_monitor_create_names_every_missing_field_at_once() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let (s, v) = b.delete(&t.monitor_path());
    assert_eq!(s, 202, "{v}");
    b.wait_lb_active(&t.lb);
    expect_fields(
        &b,
        "POST",
        &t.monitor_path(),
        json!({"type": "HTTP", "expected_codes": "abc"}),
        &[
            "delay",
            "timeout",
            "fall_threshold",
            "rise_threshold",
            "expected_codes",
        ],
    );
}

#[test]
fn load_balancer_writes_list_every_bad_field() {
    let b = Ballast::start();
    expect_fields(
        &b,
        "POST",
        "/v1/loadbalancers",
        json!({"id": "not-a-uuid", "vip": {"ip_address": "nope", "port_id": "x"},
               "description": "a\u{0}b"}),
        &["id", "vip.port_id", "vip.ip_address", "description"],
    );
    let lb = b.create_lb();
    let id = lb["id"].as_str().unwrap();
    expect_fields(
        &b,
        "PUT",
        &format!("/v1/loadbalancers/{id}"),
        json!({"name": "n\u{0}", "description": "d".repeat(256)}),
        &["name", "description"],
    );
}

#[test]
fn a_vip_outside_its_network_is_named_by_network_name_and_cidr() {
    let b = Ballast::start();
    let before = b.snapshot();
    let (s, v) = b.post(
        "/v1/loadbalancers",
        json!({"vip": {"network_id": b.network_id(), "ip_address": "10.9.9.9"}}),
    );
    assert_fault(s, &v, 400, &format!("network test ({})", b.cidr));
    assert!(
        !v["faultstring"].as_str().unwrap().contains(&b.network_id()),
        "{v}"
    );
    assert_eq!(v["errors"][0]["field"], "vip.ip_address");
    b.assert_unchanged(&before);
}

#[test]
fn faults_about_no_field_carry_no_errors_list() {
    let b = Ballast::start();
    let before = b.snapshot();
    let (s, v) = b.get(&format!("/v1/loadbalancers/{}", uuid::Uuid::new_v4()));
    assert_fault(s, &v, 404, "not found");
    assert!(v.get("errors").is_none(), "{v}");
    let (s, v) = http("POST", &b.url("/v1/loadbalancers"), Some("{".into()));
    assert_fault(s, &v, 400, "malformed JSON");
    assert!(v.get("errors").is_none(), "{v}");
    b.assert_unchanged(&before);
}
