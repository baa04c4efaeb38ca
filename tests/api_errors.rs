//! The API's generic failures: unknown routes, wrong methods, bodies that are
//! not JSON objects, oversized bodies. Every one answers the JSON fault body
//! and changes nothing.

mod common;

use common::api::{Tree, http_with_head};
use common::{Ballast, assert_fault, http, http_raw};
use serde_json::{Value, json};

fn raw(b: &Ballast, method: &str, path: &str, body: &str) -> (u16, Value) {
    http(method, &b.url(path), Some(body.to_string()))
}

#[test]
fn unknown_paths_answer_404_with_the_json_fault_body() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let before = b.snapshot();
    let id = uuid::Uuid::new_v4();
    for path in [
        "/v1/nope".to_string(),
        "/v1".to_string(),
        "/v1/loadbalancer".to_string(),
        format!("{}/nonsense", t.lb_path()),
        format!("{}/pools/{id}/members/{id}/more", t.listener_path()),
        format!("{}/monitor", t.pool_path()),
        format!("/v1/networks/{id}/ports"),
    ] {
        let (s, v) = b.get(&path);
        assert_fault(s, &v, 404, "");
        let (s, v) = b.post(&path, json!({}));
        assert_fault(s, &v, 404, "");
    }
    b.assert_unchanged(&before);
}

#[test]
fn a_known_path_with_a_method_it_lacks_answers_405() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let before = b.snapshot();
    let net = format!("/v1/networks/{}", b.network_id());
    let cases: Vec<(&str, String)> = vec![
        ("DELETE", "/v1/loadbalancers".into()),
        ("PUT", "/v1/loadbalancers".into()),
        ("POST", t.lb_path()),
        ("PATCH", t.lb_path()),
        ("DELETE", format!("{}/listeners", t.lb_path())),
        ("POST", t.listener_path()),
        ("POST", format!("{}/stats", t.listener_path())),
        ("DELETE", format!("{}/stats", t.listener_path())),
        ("PUT", format!("{}/pools", t.listener_path())),
        ("POST", t.pool_path()),
        ("DELETE", t.members_path()),
        ("POST", t.member_path()),
        ("POST", "/v1/networks".into()),
        ("PUT", net.clone()),
        ("DELETE", net),
        ("PUT", "/v1/ports".into()),
        ("DELETE", "/v1/ports".into()),
    ];
    for (method, path) in cases {
        let (s, v) = http(method, &b.url(&path), None);
        assert_fault(s, &v, 405, method);
        b.assert_unchanged(&before);
    }
}

#[test]
fn a_body_that_is_not_a_json_object_is_400_and_changes_nothing() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let before = b.snapshot();
    let creates = [
        "/v1/loadbalancers".to_string(),
        format!("{}/listeners", t.lb_path()),
        t.members_path(),
        t.monitor_path(),
        "/v1/ports".to_string(),
    ];
    let updates = [
        t.lb_path(),
        t.listener_path(),
        t.pool_path(),
        t.member_path(),
        t.monitor_path(),
    ];
    let calls = creates
        .iter()
        .map(|p| ("POST", p))
        .chain(updates.iter().map(|p| ("PUT", p)));
    for (method, path) in calls {
        for (body, needle) in [
            ("{\"name\": ", "malformed JSON"),
            ("{name: 1}", "malformed JSON"),
            ("", "malformed JSON"),
            ("{} trailing", "malformed JSON"),
            ("[]", "JSON object"),
            ("[{\"name\": \"x\"}]", "JSON object"),
            ("\"text\"", "JSON object"),
            ("42", "JSON object"),
            ("null", "JSON object"),
            ("true", "JSON object"),
        ] {
            let (s, v) = raw(&b, method, path, body);
            assert_fault(s, &v, 400, needle);
        }
        b.assert_unchanged(&before);
    }
}

#[test]
fn a_body_over_one_mib_is_413_with_the_json_fault_body() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let before = b.snapshot();
    // Valid JSON, just too big: the limit is on bytes, not on content.
    let name = "x".repeat(1024 * 1024);
    let body = json!({ "vip": { "network_id": b.network_id() }, "name": name }).to_string();
    assert!(body.len() > 1024 * 1024);
    for (method, path) in [
        ("POST", "/v1/loadbalancers".to_string()),
        ("PUT", t.lb_path()),
        ("POST", format!("{}/listeners", t.lb_path())),
        ("PUT", t.member_path()),
    ] {
        let (s, text) = http_raw(method, &b.url(&path), Some(body.as_bytes()), &[]);
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("413 body is not JSON: {text:?}"));
        assert_fault(s, &v, 413, "1 MiB");
    }
    b.assert_unchanged(&before);

    // Just under the limit is parsed, and then refused for what it says.
    let name = "x".repeat(1024 * 1024 - 100);
    let body = json!({ "name": name }).to_string();
    assert!(body.len() < 1024 * 1024);
    let (s, v) = raw(&b, "PUT", &t.lb_path(), &body);
    assert_fault(s, &v, 400, "name");
    b.assert_unchanged(&before);
}

/// Every route below (and including) `level` of `t`, with a harmless body.
fn routes_below(t: &Tree, level: usize) -> Vec<(&'static str, String, Option<Value>)> {
    let mut all = vec![
        (3, "GET", t.member_path(), None),
        (3, "PUT", t.member_path(), Some(json!({"weight": 3}))),
        (3, "DELETE", t.member_path(), None),
        (2, "GET", t.pool_path(), None),
        (2, "PUT", t.pool_path(), Some(json!({"name": "n"}))),
        (2, "DELETE", t.pool_path(), None),
        (2, "GET", t.members_path(), None),
        (
            2,
            "POST",
            t.members_path(),
            Some(json!({"ip_address": "127.0.0.1", "protocol_port": 2})),
        ),
        (2, "GET", t.monitor_path(), None),
        (2, "PUT", t.monitor_path(), Some(json!({"delay": 40}))),
        (2, "DELETE", t.monitor_path(), None),
        (
            2,
            "POST",
            t.monitor_path(),
            Some(json!({"type": "TCP", "delay": 5, "timeout": 5,
                        "fall_threshold": 1, "rise_threshold": 1})),
        ),
        (1, "GET", t.listener_path(), None),
        (1, "PUT", t.listener_path(), Some(json!({"name": "n"}))),
        (1, "DELETE", t.listener_path(), None),
        (1, "GET", format!("{}/stats", t.listener_path()), None),
        (1, "GET", format!("{}/pools", t.listener_path()), None),
        (
            1,
            "POST",
            format!("{}/pools", t.listener_path()),
            Some(json!({"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"})),
        ),
        (0, "GET", t.lb_path(), None),
        (0, "PUT", t.lb_path(), Some(json!({"name": "n"}))),
        (0, "DELETE", t.lb_path(), None),
        (0, "GET", format!("{}/listeners", t.lb_path()), None),
        (
            0,
            "POST",
            format!("{}/listeners", t.lb_path()),
            Some(json!({"protocol": "HTTP", "protocol_port": 81})),
        ),
    ];
    all.retain(|r| r.0 >= level);
    all.into_iter().map(|(_, m, p, b)| (m, p, b)).collect()
}

#[test]
fn unknown_ids_and_ids_that_are_not_uuids_are_404_on_every_route() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let before = b.snapshot();
    for other in [uuid::Uuid::new_v4().to_string(), "not-a-uuid".to_string()] {
        let variants = [
            (
                0,
                Tree {
                    lb: other.clone(),
                    ..t.clone()
                },
            ),
            (
                1,
                Tree {
                    listener: other.clone(),
                    ..t.clone()
                },
            ),
            (
                2,
                Tree {
                    pool: other.clone(),
                    ..t.clone()
                },
            ),
            (
                3,
                Tree {
                    member: other.clone(),
                    ..t.clone()
                },
            ),
        ];
        for (level, tree) in &variants {
            for (method, path, body) in routes_below(tree, *level) {
                let (s, v) = http(method, &b.url(&path), body.map(|v| v.to_string()));
                assert_eq!(s, 404, "{method} {path}: {v}");
                assert_fault(s, &v, 404, "not found");
            }
        }
        for (method, path) in [
            ("GET", format!("/v1/ports/{other}")),
            ("DELETE", format!("/v1/ports/{other}")),
            ("GET", format!("/v1/networks/{other}")),
        ] {
            let (s, v) = http(method, &b.url(&path), None);
            assert_fault(s, &v, 404, "not found");
        }
        b.assert_unchanged(&before);
    }
}

#[test]
fn every_error_answers_application_json_never_html() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let before = b.snapshot();
    let cases: Vec<(&str, String, Option<String>, u16)> = vec![
        ("GET", "/v1/nope".into(), None, 404),
        ("GET", "/v1/loadbalancers/x/y".into(), None, 404),
        (
            "GET",
            format!("/v1/loadbalancers/{}", uuid::Uuid::new_v4()),
            None,
            404,
        ),
        ("DELETE", "/v1/loadbalancers".into(), None, 405),
        ("POST", "/v1/loadbalancers".into(), Some("{".into()), 400),
        ("POST", "/v1/loadbalancers".into(), Some("{}".into()), 400),
        (
            "POST",
            format!("{}/listeners", t.lb_path()),
            Some(r#"{"protocol": "HTTP", "protocol_port": 8080}"#.into()),
            409,
        ),
    ];
    for (method, path, body, want) in cases {
        let (s, head, text) = http_with_head(method, &b.url(&path), body.as_deref());
        assert_eq!(s, want, "{method} {path}: {text}");
        assert!(
            head.contains("content-type: application/json"),
            "{method} {path} answers JSON: {head}"
        );
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
        assert_fault(s, &v, want, "");
    }
    b.assert_unchanged(&before);
}
