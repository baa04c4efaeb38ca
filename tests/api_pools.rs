//! `.../listeners/{l}/pools`: 0 or 1 pool per listener, shapes, defaults,
//! protocol matching, session persistence, updates, parents and cascades.

mod common;

use common::api::{POOL_KEYS, assert_keys, assert_uuid, listener_path, pool_path};
use common::{Ballast, assert_fault};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

fn pools(lb: &str, l: &str) -> String {
    format!("{}/pools", listener_path(lb, l))
}

#[test]
fn create_answers_every_field_with_defaults() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let l = id(&b.add_listener(&lb, "HTTP", 80));
    let (s, p) = b.post(
        &pools(&lb, &l),
        json!({"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}),
    );
    assert_eq!(s, 202, "{p}");
    assert_keys(&p, POOL_KEYS);
    assert_uuid(&p["id"]);
    assert_eq!(p["protocol"], "HTTP");
    assert_eq!(p["lb_algorithm"], "ROUND_ROBIN");
    assert_eq!(p["session_persistence"], Value::Null);
    assert_eq!(p["name"], Value::Null);
    assert_eq!(p["description"], Value::Null);
    assert_eq!(p["enabled"], true);
    b.wait_lb_active(&lb);
    let (s, got) = b.get(&pool_path(&lb, &l, &id(&p)));
    assert_eq!(s, 200);
    assert_keys(&got, POOL_KEYS);
    for k in [
        "id",
        "protocol",
        "lb_algorithm",
        "session_persistence",
        "enabled",
    ] {
        assert_eq!(got[k], p[k], "{k}");
    }
    let (s, list) = b.get(&pools(&lb, &l));
    assert_eq!(s, 200);
    assert_eq!(list, json!([got]), "a bare array");

    // An empty listener lists an empty array.
    let l2 = id(&b.add_listener(&lb, "TCP", 81));
    assert_eq!(b.get(&pools(&lb, &l2)), (200, json!([])));
}

#[test]
fn every_algorithm_and_given_field_is_echoed() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    for (i, algorithm) in ["ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP"]
        .into_iter()
        .enumerate()
    {
        let l = id(&b.add_listener(&lb, "TCP", 100 + i as u16));
        let pid = uuid::Uuid::new_v4().to_string();
        let p = b.post_and_settle(
            &lb,
            &pools(&lb, &l),
            json!({"id": pid, "protocol": "TCP", "lb_algorithm": algorithm,
                   "name": "n".repeat(255), "description": "d", "enabled": false,
                   "session_persistence": {"type": "SOURCE_IP"}}),
        );
        assert_eq!(p["id"], pid.as_str());
        assert_eq!(p["lb_algorithm"], algorithm);
        assert_eq!(p["enabled"], false);
        assert_eq!(p["description"], "d");
        assert_eq!(
            p["session_persistence"],
            json!({"type": "SOURCE_IP", "cookie_name": null})
        );
        let (_, got) = b.get(&pool_path(&lb, &l, &pid));
        assert_eq!(got["lb_algorithm"], algorithm);
        assert_eq!(got["session_persistence"], p["session_persistence"]);
    }
}

#[test]
fn bad_create_bodies_are_400_naming_the_field_and_change_nothing() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let l = id(&b.add_listener(&lb, "HTTP", 80));
    let before = b.snapshot();
    let long = "x".repeat(256);
    let ok = |extra: Value| {
        let mut body = json!({"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (json!({"lb_algorithm": "ROUND_ROBIN"}), "protocol"),
        (json!({"protocol": "HTTP"}), "lb_algorithm"),
        (ok(json!({"protocol": "UDP"})), "protocol"),
        (ok(json!({"lb_algorithm": "RANDOM"})), "lb_algorithm"),
        (ok(json!({"lb_algorithm": "round_robin"})), "lb_algorithm"),
        (ok(json!({"lb_algorithm": 1})), "lb_algorithm"),
        (ok(json!({"name": long})), "name"),
        (ok(json!({"description": long})), "description"),
        (ok(json!({"enabled": 0})), "enabled"),
        (ok(json!({"id": "pool-1"})), "id"),
        (ok(json!({"tenant_id": "t"})), "tenant_id"),
        (ok(json!({"members": []})), "members"),
        (ok(json!({"health_monitor": {}})), "health_monitor"),
        (
            ok(json!({"operating_status": "ONLINE"})),
            "operating_status",
        ),
        (
            ok(json!({"provisioning_status": "ACTIVE"})),
            "provisioning_status",
        ),
        (
            ok(json!({"session_persistence": "SOURCE_IP"})),
            "session_persistence",
        ),
        (
            ok(json!({"session_persistence": {}})),
            "session_persistence.type",
        ),
        (
            ok(json!({"session_persistence": {"type": "APP_COOKIE"}})),
            "session_persistence.type",
        ),
        (
            ok(json!({"session_persistence": {"type": "SOURCE_IP", "cookie_name": "c"}})),
            "cookie_name",
        ),
        (
            ok(json!({"session_persistence": {"type": "HTTP_COOKIE", "cookie_name": ""}})),
            "cookie_name",
        ),
        (
            ok(json!({"session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "a b"}})),
            "cookie_name",
        ),
        (
            ok(json!({"session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "a;b"}})),
            "cookie_name",
        ),
        (
            ok(json!({"session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "a=b"}})),
            "cookie_name",
        ),
        (
            ok(json!({"session_persistence": {"type": "HTTP_COOKIE", "cookie_name": 5}})),
            "cookie_name",
        ),
        (
            ok(json!({"session_persistence": {"type": "HTTP_COOKIE", "path": "/"}})),
            "path",
        ),
    ];
    for (body, needle) in cases {
        b.expect_fault(&before, "POST", &pools(&lb, &l), Some(body), 400, needle);
    }
}

#[test]
fn http_cookie_persistence_is_400_on_a_tcp_pool() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let tcp = id(&b.add_listener(&lb, "TCP", 80));
    let https = id(&b.add_listener(&lb, "HTTPS", 443));
    let before = b.snapshot();
    for (l, protocol) in [(&tcp, "TCP"), (&https, "HTTPS")] {
        for sp in [
            json!({"type": "HTTP_COOKIE"}),
            json!({"type": "HTTP_COOKIE", "cookie_name": "sid"}),
        ] {
            b.expect_fault(
                &before,
                "POST",
                &pools(&lb, l),
                Some(json!({"protocol": protocol, "lb_algorithm": "ROUND_ROBIN",
                            "session_persistence": sp})),
                400,
                "session_persistence",
            );
        }
    }
    // Through an update as well.
    let p = id(&b.add_pool(&lb, &tcp, "TCP"));
    let before = b.snapshot();
    b.expect_fault(
        &before,
        "PUT",
        &pool_path(&lb, &tcp, &p),
        Some(json!({"session_persistence": {"type": "HTTP_COOKIE"}})),
        400,
        "session_persistence",
    );
}

#[test]
fn http_cookie_persistence_on_an_http_pool_is_kept_and_null_removes_it() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let l = id(&b.add_listener(&lb, "HTTP", 80));
    let p = b.post_and_settle(
        &lb,
        &pools(&lb, &l),
        json!({"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
               "session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "SESSION_id-1"}}),
    );
    assert_eq!(
        p["session_persistence"],
        json!({"type": "HTTP_COOKIE", "cookie_name": "SESSION_id-1"})
    );
    let path = pool_path(&lb, &l, &id(&p));
    let (_, got) = b.get(&path);
    assert_eq!(got["session_persistence"], p["session_persistence"]);

    // A cookie name is optional with HTTP_COOKIE.
    let up = b.put_and_settle(
        &lb,
        &path,
        json!({"session_persistence": {"type": "HTTP_COOKIE"}}),
    );
    assert_eq!(up["session_persistence"]["type"], "HTTP_COOKIE");
    assert_keys(&up["session_persistence"], &["type", "cookie_name"]);
    // Absent leaves it alone, null removes it.
    let up = b.put_and_settle(&lb, &path, json!({"name": "p"}));
    assert_eq!(up["session_persistence"]["type"], "HTTP_COOKIE");
    let up = b.put_and_settle(&lb, &path, json!({"session_persistence": null}));
    assert_eq!(up["session_persistence"], Value::Null);
    let (_, got) = b.get(&path);
    assert_eq!(got["session_persistence"], Value::Null);
    assert_eq!(got["name"], "p");
}

#[test]
fn a_pool_whose_protocol_differs_from_its_listeners_is_409() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let http = id(&b.add_listener(&lb, "HTTP", 80));
    let tcp = id(&b.add_listener(&lb, "TCP", 81));
    let https = id(&b.add_listener(&lb, "HTTPS", 443));
    let before = b.snapshot();
    for (l, protocol) in [
        (&http, "TCP"),
        (&http, "HTTPS"),
        (&tcp, "HTTP"),
        (&tcp, "HTTPS"),
        // HTTPS without TLS termination is passthrough: HTTP is not allowed.
        (&https, "HTTP"),
        (&https, "TCP"),
    ] {
        b.expect_fault(
            &before,
            "POST",
            &pools(&lb, l),
            Some(json!({"protocol": protocol, "lb_algorithm": "ROUND_ROBIN"})),
            409,
            "protocol",
        );
    }
    // And through an update of the pool.
    let p = id(&b.add_pool(&lb, &http, "HTTP"));
    let before = b.snapshot();
    b.expect_fault(
        &before,
        "PUT",
        &pool_path(&lb, &http, &p),
        Some(json!({"protocol": "TCP"})),
        409,
        "protocol",
    );
}

#[test]
fn a_second_pool_on_a_listener_is_409() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let l = id(&b.add_listener(&lb, "HTTP", 80));
    let first = id(&b.add_pool(&lb, &l, "HTTP"));
    let before = b.snapshot();
    b.expect_fault(
        &before,
        "POST",
        &pools(&lb, &l),
        Some(json!({"protocol": "HTTP", "lb_algorithm": "SOURCE_IP"})),
        409,
        "pool",
    );
    // A taken id is 409 too, even on another listener.
    let l2 = id(&b.add_listener(&lb, "HTTP", 81));
    let before = b.snapshot();
    b.expect_fault(
        &before,
        "POST",
        &pools(&lb, &l2),
        Some(json!({"id": first, "protocol": "HTTP", "lb_algorithm": "SOURCE_IP"})),
        409,
        &first,
    );
}

#[test]
fn update_returns_the_new_values_and_every_field_is_optional() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let l = id(&b.add_listener(&lb, "HTTP", 80));
    let p = b.add_pool(&lb, &l, "HTTP");
    let path = pool_path(&lb, &l, &id(&p));
    let (s, up) = b.put(&path, json!({"lb_algorithm": "LEAST_CONNECTIONS"}));
    assert_eq!(s, 202, "{up}");
    assert_keys(&up, POOL_KEYS);
    assert_eq!(up["lb_algorithm"], "LEAST_CONNECTIONS");
    assert_eq!(up["protocol"], "HTTP");
    let (_, lbv) = b.get(&common::api::lb_path(&lb));
    assert!(
        matches!(
            lbv["provisioning_status"].as_str(),
            Some("PENDING_UPDATE" | "ACTIVE")
        ),
        "{lbv}"
    );
    b.wait_lb_active(&lb);
    // An empty update is refused (issue 14); the pool keeps its values.
    let (s, v) = b.put(&path, json!({}));
    common::assert_fault(s, &v, 400, "an update must name at least one field");
    assert_eq!(b.get(&path).1["lb_algorithm"], "LEAST_CONNECTIONS");
    let up = b.put_and_settle(
        &lb,
        &path,
        json!({"name": "n", "description": "d", "enabled": false, "protocol": "HTTP"}),
    );
    assert_eq!(up["name"], "n");
    assert_eq!(up["enabled"], false);
    let (_, got) = b.get(&path);
    assert_eq!(got["name"], "n");
    assert_eq!(got["description"], "d");
    assert_eq!(got["enabled"], false);
    assert_eq!(got["lb_algorithm"], "LEAST_CONNECTIONS");
}

#[test]
fn bad_updates_are_400_naming_the_field_and_change_nothing() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let l = id(&b.add_listener(&lb, "HTTP", 80));
    let path = pool_path(&lb, &l, &id(&b.add_pool(&lb, &l, "HTTP")));
    let before = b.snapshot();
    let cases = [
        (json!({"lb_algorithm": "FASTEST"}), "lb_algorithm"),
        (json!({"lb_algorithm": null, "protocol": "FTP"}), "protocol"),
        (json!({"name": "x".repeat(256)}), "name"),
        (json!({"id": uuid::Uuid::new_v4().to_string()}), "id"),
        (json!({"operating_status": "ONLINE"}), "operating_status"),
        (json!({"listener_id": l}), "listener_id"),
        (
            json!({"session_persistence": {"type": "SOURCE_IP", "cookie_name": "c"}}),
            "cookie_name",
        ),
        (
            json!({"session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "bad name"}}),
            "cookie_name",
        ),
        (json!({"session_persistence": 3}), "session_persistence"),
    ];
    for (body, needle) in cases {
        b.expect_fault(&before, "PUT", &path, Some(body), 400, needle);
    }
}

#[test]
fn a_pool_under_another_listener_or_load_balancer_is_404() {
    let b = Ballast::start();
    let t = b.add_tree(80);
    let l2 = id(&b.add_listener(&t.lb, "HTTP", 81));
    let other_lb = id(&b.create_lb());
    let before = b.snapshot();
    for wrong in [
        pool_path(&t.lb, &l2, &t.pool),
        pool_path(&other_lb, &t.listener, &t.pool),
    ] {
        for (method, path, body) in [
            ("GET", wrong.clone(), None),
            ("PUT", wrong.clone(), Some(json!({"name": "x"}))),
            ("DELETE", wrong.clone(), None),
            ("GET", format!("{wrong}/members"), None),
            (
                "POST",
                format!("{wrong}/members"),
                Some(json!({"ip_address": "127.0.0.1", "protocol_port": 5})),
            ),
            ("GET", format!("{wrong}/health_monitor"), None),
        ] {
            let (s, v) = common::http(method, &b.url(&path), body.map(|v| v.to_string()));
            assert_fault(s, &v, 404, "not found");
        }
        b.assert_unchanged(&before);
    }
}

#[test]
fn delete_takes_the_members_and_monitor_and_frees_the_listener() {
    let b = Ballast::start();
    let t = b.add_tree(80);
    let (s, body) = b.delete(&t.pool_path());
    assert_eq!(s, 202, "{body}");
    assert!(body.is_null(), "DELETE answers no body: {body}");
    b.wait_lb_active(&t.lb);
    for path in [
        t.pool_path(),
        t.members_path(),
        t.member_path(),
        t.monitor_path(),
    ] {
        let (s, v) = b.get(&path);
        assert_fault(s, &v, 404, "not found");
    }
    assert_eq!(b.get(&pools(&t.lb, &t.listener)), (200, json!([])));
    let (s, l) = b.get(&t.listener_path());
    assert_eq!(s, 200, "the listener stays: {l}");
    // The listener may have a pool again; the old one stays gone.
    b.add_pool(&t.lb, &t.listener, "HTTP");
    let before = b.snapshot();
    b.expect_fault(&before, "DELETE", &t.pool_path(), None, 404, &t.pool);
}

/// A TLS container for `name`, created through the API; returns its id.
fn certificate(b: &Ballast, name: &str) -> String {
    let cert = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("rcgen");
    let (s, c) = b.post(
        "/v1/certificates",
        json!({"name": name, "certificate": cert.cert.pem(),
               "private_key": cert.signing_key.serialize_pem()}),
    );
    assert_eq!(s, 202, "{c}");
    id(&c)
}

#[test]
fn an_https_listener_terminating_tls_may_have_an_http_pool_with_cookies() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let cert = certificate(&b, "www.example.test");
    let l = b.post_and_settle(
        &lb,
        &format!("{}/listeners", common::api::lb_path(&lb)),
        json!({"protocol": "HTTPS", "protocol_port": 8443, "default_tls_container_id": cert}),
    );
    assert_eq!(l["default_tls_container_id"], cert.as_str());
    let l = id(&l);
    let before = b.snapshot();
    b.expect_fault(
        &before,
        "POST",
        &pools(&lb, &l),
        Some(json!({"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"})),
        409,
        "protocol",
    );
    let p = b.post_and_settle(
        &lb,
        &pools(&lb, &l),
        json!({"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
               "session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "sid"}}),
    );
    assert_eq!(p["protocol"], "HTTP");
    assert_eq!(p["session_persistence"]["cookie_name"], "sid");

    // Without its TLS container the listener would be passthrough: its HTTP
    // pool would no longer match (409), and a TLS container on a plain
    // HTTP listener is a value not allowed there (400).
    let before = b.snapshot();
    b.expect_fault(
        &before,
        "PUT",
        &listener_path(&lb, &l),
        Some(json!({"default_tls_container_id": null})),
        409,
        "protocol",
    );
    b.expect_fault(
        &before,
        "PUT",
        &listener_path(&lb, &l),
        Some(json!({"protocol": "HTTP"})),
        400,
        "default_tls_container_id",
    );
    // An HTTPS pool behind the terminating listener may use cookies too.
    b.put_and_settle(
        &lb,
        &pool_path(&lb, &l, &id(&p)),
        json!({"protocol": "HTTPS"}),
    );
    let (_, got) = b.get(&pool_path(&lb, &l, &id(&p)));
    assert_eq!(got["protocol"], "HTTPS");
    assert_eq!(got["session_persistence"]["type"], "HTTP_COOKIE");
}
