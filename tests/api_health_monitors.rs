//! `.../pools/{p}/health_monitor` (and its `healthmonitor` alias): one object
//! without an id, defaults, ranges, 404 when absent, 409 when present.

mod common;

use common::api::{MONITOR_KEYS, Tree, assert_keys, monitor_path};
use common::{Ballast, assert_fault};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// An ACTIVE load balancer, listener and pool without a monitor.
fn bare_pool(b: &Ballast) -> Tree {
    let lb = id(&b.create_lb());
    let listener = id(&b.add_listener(&lb, "HTTP", 80));
    let pool = id(&b.add_pool(&lb, &listener, "HTTP"));
    Tree {
        lb,
        listener,
        pool,
        member: String::new(),
    }
}

fn alias(t: &Tree) -> String {
    format!("{}/healthmonitor", t.pool_path())
}

fn minimal() -> Value {
    json!({"type": "HTTP", "delay": 10, "timeout": 5, "fall_threshold": 3, "rise_threshold": 2})
}

#[test]
fn get_put_and_delete_without_a_monitor_are_404() {
    let b = Ballast::start();
    let t = bare_pool(&b);
    let before = b.snapshot();
    for path in [t.monitor_path(), alias(&t)] {
        b.expect_fault(&before, "GET", &path, None, 404, &t.pool);
        b.expect_fault(
            &before,
            "PUT",
            &path,
            Some(json!({"delay": 20})),
            404,
            &t.pool,
        );
        b.expect_fault(&before, "DELETE", &path, None, 404, &t.pool);
    }
}

#[test]
fn create_answers_every_field_with_defaults_and_no_id() {
    let b = Ballast::start();
    let t = bare_pool(&b);
    let (s, h) = b.post(&t.monitor_path(), minimal());
    assert_eq!(s, 202, "{h}");
    assert_keys(&h, MONITOR_KEYS);
    assert_eq!(
        h,
        json!({"type": "HTTP", "delay": 10, "timeout": 5, "fall_threshold": 3,
               "rise_threshold": 2, "http_method": "GET", "url_path": "/",
               "expected_codes": "200", "enabled": true})
    );
    b.wait_lb_active(&t.lb);
    for path in [t.monitor_path(), alias(&t)] {
        let (s, got) = b.get(&path);
        assert_eq!(s, 200, "{got}");
        assert_eq!(got, h);
    }
}

#[test]
fn every_given_field_is_echoed_and_the_alias_works_for_every_method() {
    let b = Ballast::start();
    let t = bare_pool(&b);
    let body = json!({"type": "HTTPS", "delay": 7, "timeout": 7, "fall_threshold": 10,
                      "rise_threshold": 1, "http_method": "HEAD", "url_path": "/health?x=1",
                      "expected_codes": "200-204", "enabled": false});
    let h = b.post_and_settle(&t.lb, &alias(&t), body.clone());
    assert_eq!(h, body);
    let (_, got) = b.get(&t.monitor_path());
    assert_eq!(got, body);

    let (s, up) = b.put(&alias(&t), json!({"expected_codes": "200,202", "delay": 8}));
    assert_eq!(s, 202, "{up}");
    assert_keys(&up, MONITOR_KEYS);
    assert_eq!(up["expected_codes"], "200,202");
    assert_eq!(up["delay"], 8);
    assert_eq!(up["http_method"], "HEAD");
    b.wait_lb_active(&t.lb);

    let (s, body) = b.delete(&alias(&t));
    assert_eq!(s, 202, "{body}");
    assert!(body.is_null(), "DELETE answers no body: {body}");
    b.wait_lb_active(&t.lb);
    let (s, v) = b.get(&t.monitor_path());
    assert_fault(s, &v, 404, "not found");
    // A pool may get a monitor again after its delete.
    b.post_and_settle(&t.lb, &t.monitor_path(), minimal());
}

#[test]
fn every_http_method_and_monitor_type_is_accepted() {
    let b = Ballast::start();
    let t = bare_pool(&b);
    b.post_and_settle(&t.lb, &t.monitor_path(), minimal());
    for method in [
        "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
    ] {
        let up = b.put_and_settle(&t.lb, &t.monitor_path(), json!({"http_method": method}));
        assert_eq!(up["http_method"], method);
    }
    for kind in ["PING", "TCP", "HTTPS", "HTTP"] {
        let up = b.put_and_settle(&t.lb, &t.monitor_path(), json!({"type": kind}));
        assert_eq!(up["type"], kind);
    }
    let (_, got) = b.get(&t.monitor_path());
    assert_eq!(got["type"], "HTTP");
    assert_eq!(got["http_method"], "TRACE");
}

#[test]
fn a_second_monitor_on_a_pool_is_409() {
    let b = Ballast::start();
    let t = bare_pool(&b);
    b.post_and_settle(&t.lb, &t.monitor_path(), minimal());
    let before = b.snapshot();
    for path in [t.monitor_path(), alias(&t)] {
        b.expect_fault(&before, "POST", &path, Some(minimal()), 409, &t.pool);
    }
}

#[test]
fn bad_create_bodies_are_400_naming_the_field_and_change_nothing() {
    let b = Ballast::start();
    let t = bare_pool(&b);
    let before = b.snapshot();
    let with = |extra: Value| {
        let mut body = minimal();
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let without = |field: &str| {
        let mut body = minimal();
        body.as_object_mut().unwrap().remove(field);
        body
    };
    let mut cases = vec![];
    for field in [
        "type",
        "delay",
        "timeout",
        "fall_threshold",
        "rise_threshold",
    ] {
        cases.push((without(field), field.to_string()));
    }
    for (extra, needle) in [
        (json!({"type": "UDP"}), "type"),
        (json!({"type": "http"}), "type"),
        (json!({"delay": 0}), "delay"),
        (json!({"delay": -5}), "delay"),
        (json!({"delay": "10"}), "delay"),
        (json!({"timeout": 0}), "timeout"),
        (json!({"timeout": 11}), "timeout"),
        (json!({"delay": 4}), "timeout"),
        (json!({"fall_threshold": 0}), "fall_threshold"),
        (json!({"fall_threshold": 11}), "fall_threshold"),
        (json!({"rise_threshold": 0}), "rise_threshold"),
        (json!({"rise_threshold": 11}), "rise_threshold"),
        (json!({"rise_threshold": 2.5}), "rise_threshold"),
        (json!({"http_method": "FETCH"}), "http_method"),
        (json!({"http_method": "get"}), "http_method"),
        (json!({"url_path": "health"}), "url_path"),
        (json!({"url_path": ""}), "url_path"),
        (json!({"url_path": "/a b"}), "url_path"),
        (json!({"expected_codes": "abc"}), "expected_codes"),
        (json!({"expected_codes": ""}), "expected_codes"),
        (json!({"expected_codes": "200-"}), "expected_codes"),
        (json!({"expected_codes": "204-200"}), "expected_codes"),
        (json!({"expected_codes": "200,,202"}), "expected_codes"),
        (json!({"expected_codes": 200}), "expected_codes"),
        (json!({"enabled": "yes"}), "enabled"),
        (json!({"id": uuid::Uuid::new_v4().to_string()}), "id"),
        (json!({"pool_id": t.pool}), "pool_id"),
        (
            json!({"provisioning_status": "ACTIVE"}),
            "provisioning_status",
        ),
        (json!({"max_retries": 3}), "max_retries"),
    ] {
        cases.push((with(extra), needle.to_string()));
    }
    for (body, needle) in cases {
        b.expect_fault(&before, "POST", &t.monitor_path(), Some(body), 400, &needle);
    }
}

#[test]
fn bad_updates_are_400_naming_the_field_and_change_nothing() {
    let b = Ballast::start();
    let t = bare_pool(&b);
    b.post_and_settle(&t.lb, &t.monitor_path(), minimal());
    let before = b.snapshot();
    // The monitor has delay 10, timeout 5: each update is checked against
    // the fields it does not change too.
    for (body, needle) in [
        (json!({"timeout": 11}), "timeout"),
        (json!({"delay": 4}), "timeout"),
        (json!({"delay": 0}), "delay"),
        (json!({"fall_threshold": 11}), "fall_threshold"),
        (json!({"rise_threshold": 0}), "rise_threshold"),
        (json!({"type": "SCTP"}), "type"),
        (json!({"http_method": "FETCH"}), "http_method"),
        (json!({"url_path": "x"}), "url_path"),
        (json!({"expected_codes": "2xx"}), "expected_codes"),
        (json!({"id": uuid::Uuid::new_v4().to_string()}), "id"),
        (
            json!({"provisioning_status": "ACTIVE"}),
            "provisioning_status",
        ),
        (json!({"delay": 20, "bogus": true}), "bogus"),
    ] {
        b.expect_fault(&before, "PUT", &t.monitor_path(), Some(body), 400, needle);
    }
    // timeout == delay is allowed.
    let up = b.put_and_settle(&t.lb, &t.monitor_path(), json!({"delay": 5}));
    assert_eq!(
        (up["delay"].clone(), up["timeout"].clone()),
        (json!(5), json!(5))
    );
}

#[test]
fn a_monitor_under_another_pool_is_404() {
    let b = Ballast::start();
    let t = b.add_tree(80);
    let u = b.add_tree(81);
    let before = b.snapshot();
    for wrong in [
        monitor_path(&t.lb, &t.listener, &u.pool),
        monitor_path(&u.lb, &t.listener, &t.pool),
    ] {
        for (method, body) in [
            ("GET", None),
            ("PUT", Some(json!({"delay": 40}))),
            ("DELETE", None),
            ("POST", Some(minimal())),
        ] {
            let (s, v) = common::http(method, &b.url(&wrong), body.map(|v| v.to_string()));
            assert_fault(s, &v, 404, "not found");
        }
        b.assert_unchanged(&before);
    }
}
