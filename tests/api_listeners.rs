//! `/v1/loadbalancers/{lb}/listeners`: shapes, defaults, client ids, port and
//! protocol rules, updates, stats, parents and the cascade of a delete.

mod common;

use common::api::{LISTENER_KEYS, assert_keys, assert_uuid, lb_path, listener_path};
use common::{Ballast, assert_fault};
use serde_json::{Value, json};

fn listeners(lb: &str) -> String {
    format!("{}/listeners", lb_path(lb))
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[test]
fn create_answers_every_field_with_defaults_and_pending_create() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let (s, l) = b.post(
        &listeners(&lb),
        json!({"protocol": "HTTP", "protocol_port": 8080}),
    );
    assert_eq!(s, 202, "{l}");
    assert_keys(&l, LISTENER_KEYS);
    assert_uuid(&l["id"]);
    assert_eq!(l["protocol"], "HTTP");
    assert_eq!(l["protocol_port"], 8080);
    for k in [
        "connection_limit",
        "default_tls_container_id",
        "tenant_id",
        "name",
        "description",
    ] {
        assert_eq!(l[k], Value::Null, "{k} defaults to null");
    }
    assert_eq!(l["enabled"], true);
    assert_eq!(l["provisioning_status"], "PENDING_CREATE");
    assert_eq!(l["operating_status"], "OFFLINE");

    b.wait_lb_active(&lb);
    let (s, got) = b.get(&listener_path(&lb, &id(&l)));
    assert_eq!(s, 200);
    assert_keys(&got, LISTENER_KEYS);
    assert_eq!(got["provisioning_status"], "ACTIVE");
    for k in [
        "id",
        "protocol",
        "protocol_port",
        "connection_limit",
        "enabled",
    ] {
        assert_eq!(got[k], l[k], "{k}");
    }
    let (s, list) = b.get(&listeners(&lb));
    assert_eq!(s, 200);
    assert_eq!(list, json!([got]), "a bare array");

    // Every field given is echoed; connection_limit -1 means unlimited (null).
    let long = "n".repeat(255);
    let (s, l2) = b.post(
        &listeners(&lb),
        json!({"protocol": "TCP", "protocol_port": 1, "connection_limit": -1,
               "tenant_id": "t", "name": long, "description": "d", "enabled": false}),
    );
    assert_eq!(s, 202, "{l2}");
    assert_eq!(l2["connection_limit"], Value::Null);
    assert_eq!(l2["name"], long.as_str());
    assert_eq!(l2["tenant_id"], "t");
    assert_eq!(l2["description"], "d");
    assert_eq!(l2["enabled"], false);
    assert_eq!(l2["protocol_port"], 1);
    b.wait_lb_active(&lb);
    let (_, l3) = b.post(
        &listeners(&lb),
        json!({"protocol": "HTTPS", "protocol_port": 65535, "connection_limit": 10}),
    );
    assert_eq!(l3["connection_limit"], 10);
    assert_eq!(l3["protocol"], "HTTPS");
    assert_eq!(l3["protocol_port"], 65535);
    b.wait_lb_active(&lb);
    let (_, list) = b.get(&listeners(&lb));
    assert_eq!(list.as_array().unwrap().len(), 3);
}

#[test]
fn a_client_supplied_id_is_used_and_a_taken_one_is_409_even_on_another_load_balancer() {
    let b = Ballast::start();
    let lb1 = id(&b.create_lb());
    let lb2 = id(&b.create_lb());
    let lid = uuid::Uuid::new_v4();
    let l = b.post_and_settle(
        &lb1,
        &listeners(&lb1),
        json!({"id": lid.to_string().to_uppercase(), "protocol": "TCP", "protocol_port": 80}),
    );
    assert_eq!(l["id"], lid.to_string());
    let before = b.snapshot();
    for lb in [&lb1, &lb2] {
        b.expect_fault(
            &before,
            "POST",
            &listeners(lb),
            Some(json!({"id": lid.to_string(), "protocol": "TCP", "protocol_port": 81})),
            409,
            &lid.to_string(),
        );
    }
    b.expect_fault(
        &before,
        "POST",
        &listeners(&lb1),
        Some(json!({"id": "l-1", "protocol": "TCP", "protocol_port": 81})),
        400,
        "id",
    );
}

#[test]
fn bad_create_bodies_are_400_naming_the_field_and_change_nothing() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    b.add_listener(&lb, "HTTP", 80);
    let before = b.snapshot();
    let long = "x".repeat(256);
    let ok = |extra: Value| {
        let mut body = json!({"protocol": "HTTP", "protocol_port": 8080});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (json!({"protocol_port": 80}), "protocol"),
        (json!({"protocol": "HTTP"}), "protocol_port"),
        (json!({"protocol": null, "protocol_port": 80}), "protocol"),
        (ok(json!({"protocol": "UDP"})), "protocol"),
        (ok(json!({"protocol": "http"})), "protocol"),
        (ok(json!({"protocol": 1})), "protocol"),
        (ok(json!({"protocol_port": 0})), "protocol_port"),
        (ok(json!({"protocol_port": -1})), "protocol_port"),
        (ok(json!({"protocol_port": 65536})), "protocol_port"),
        (ok(json!({"protocol_port": 70000})), "protocol_port"),
        (ok(json!({"protocol_port": "8080"})), "protocol_port"),
        (ok(json!({"protocol_port": 80.5})), "protocol_port"),
        (ok(json!({"connection_limit": 0})), "connection_limit"),
        (ok(json!({"connection_limit": -2})), "connection_limit"),
        (ok(json!({"connection_limit": "10"})), "connection_limit"),
        (ok(json!({"name": long})), "name"),
        (ok(json!({"description": long})), "description"),
        (ok(json!({"tenant_id": long})), "tenant_id"),
        (ok(json!({"enabled": "true"})), "enabled"),
        (
            ok(json!({"default_tls_container_id": "cert"})),
            "default_tls_container_id",
        ),
        // A TLS container on a plain HTTP listener, and one that does not exist.
        (
            ok(json!({"default_tls_container_id": uuid::Uuid::new_v4().to_string()})),
            "default_tls_container_id",
        ),
        (
            ok(json!({"protocol": "HTTPS",
                      "default_tls_container_id": uuid::Uuid::new_v4().to_string()})),
            "default_tls_container_id",
        ),
        (
            ok(json!({"provisioning_status": "ACTIVE"})),
            "provisioning_status",
        ),
        (
            ok(json!({"operating_status": "ONLINE"})),
            "operating_status",
        ),
        (ok(json!({"load_balancer_id": lb})), "load_balancer_id"),
        (ok(json!({"pool": {}})), "pool"),
    ];
    for (body, needle) in cases {
        b.expect_fault(&before, "POST", &listeners(&lb), Some(body), 400, needle);
    }
}

#[test]
fn a_second_listener_on_one_port_is_409_but_other_load_balancers_may_use_it() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let other = id(&b.create_lb());
    let l80 = id(&b.add_listener(&lb, "HTTP", 80));
    let l81 = id(&b.add_listener(&lb, "TCP", 81));
    let before = b.snapshot();
    for protocol in ["HTTP", "TCP", "HTTPS"] {
        b.expect_fault(
            &before,
            "POST",
            &listeners(&lb),
            Some(json!({"protocol": protocol, "protocol_port": 80})),
            409,
            "80",
        );
    }
    // Moving one listener onto the other's port is 409 too.
    b.expect_fault(
        &before,
        "PUT",
        &listener_path(&lb, &l81),
        Some(json!({"protocol_port": 80})),
        409,
        "80",
    );
    // Keeping its own port is fine, and another load balancer has its own ports.
    b.put_and_settle(&lb, &listener_path(&lb, &l80), json!({"protocol_port": 80}));
    b.add_listener(&other, "HTTP", 80);
}

#[test]
fn update_returns_the_new_values_with_pending_update() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let l = b.add_listener(&lb, "TCP", 80);
    let path = listener_path(&lb, &id(&l));
    let (s, up) = b.put(
        &path,
        json!({"protocol_port": 81, "connection_limit": 5, "name": "n",
               "description": "d", "enabled": false}),
    );
    assert_eq!(s, 202, "{up}");
    assert_keys(&up, LISTENER_KEYS);
    assert_eq!(up["provisioning_status"], "PENDING_UPDATE");
    assert_eq!(up["protocol_port"], 81);
    assert_eq!(up["connection_limit"], 5);
    assert_eq!(up["name"], "n");
    assert_eq!(up["description"], "d");
    assert_eq!(up["enabled"], false);
    assert_eq!(up["protocol"], "TCP");
    b.wait_lb_active(&lb);
    let (_, got) = b.get(&path);
    assert_eq!(got["provisioning_status"], "ACTIVE");
    assert_eq!(got["protocol_port"], 81);
    assert_eq!(got["connection_limit"], 5);

    // null and -1 both mean unlimited; null clears name.
    let up = b.put_and_settle(&lb, &path, json!({"connection_limit": null, "name": null}));
    assert_eq!(up["connection_limit"], Value::Null);
    assert_eq!(up["name"], Value::Null);
    assert_eq!(up["description"], "d");
    b.put_and_settle(&lb, &path, json!({"connection_limit": 7}));
    let up = b.put_and_settle(&lb, &path, json!({"connection_limit": -1}));
    assert_eq!(up["connection_limit"], Value::Null);
    // A listener without a pool may change protocol.
    let up = b.put_and_settle(&lb, &path, json!({"protocol": "HTTP"}));
    assert_eq!(up["protocol"], "HTTP");
    let (_, got) = b.get(&path);
    assert_eq!(got["protocol"], "HTTP");
}

#[test]
fn bad_updates_are_400_naming_the_field_and_change_nothing() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let path = listener_path(&lb, &id(&b.add_listener(&lb, "HTTP", 80)));
    let before = b.snapshot();
    let long = "x".repeat(256);
    let cases = [
        (json!({"protocol_port": 0}), "protocol_port"),
        (json!({"protocol_port": 70000}), "protocol_port"),
        (json!({"protocol_port": "81"}), "protocol_port"),
        (json!({"protocol": "UDP"}), "protocol"),
        (json!({"connection_limit": 0}), "connection_limit"),
        (json!({"connection_limit": true}), "connection_limit"),
        (json!({"name": long}), "name"),
        (json!({"description": long}), "description"),
        (json!({"enabled": null, "name": 3}), "name"),
        (json!({"id": uuid::Uuid::new_v4().to_string()}), "id"),
        (
            json!({"provisioning_status": "ACTIVE"}),
            "provisioning_status",
        ),
        (json!({"operating_status": "ONLINE"}), "operating_status"),
        (json!({"tenant_id": "t"}), "tenant_id"),
        (
            json!({"default_tls_container_id": uuid::Uuid::new_v4().to_string()}),
            "default_tls_container_id",
        ),
        (
            json!({"default_tls_container_id": 1}),
            "default_tls_container_id",
        ),
    ];
    for (body, needle) in cases {
        b.expect_fault(&before, "PUT", &path, Some(body), 400, needle);
    }
}

#[test]
fn changing_the_protocol_away_from_its_pools_is_409() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let l = id(&b.add_listener(&lb, "HTTP", 80));
    b.add_pool(&lb, &l, "HTTP");
    let before = b.snapshot();
    for protocol in ["TCP", "HTTPS"] {
        b.expect_fault(
            &before,
            "PUT",
            &listener_path(&lb, &l),
            Some(json!({"protocol": protocol})),
            409,
            "protocol",
        );
    }
}

#[test]
fn a_listener_under_another_load_balancer_is_404() {
    let b = Ballast::start();
    let a = id(&b.create_lb());
    let other = id(&b.create_lb());
    let l = id(&b.add_listener(&a, "HTTP", 80));
    let before = b.snapshot();
    let wrong = listener_path(&other, &l);
    for (method, path, body) in [
        ("GET", wrong.clone(), None),
        ("PUT", wrong.clone(), Some(json!({"name": "x"}))),
        ("DELETE", wrong.clone(), None),
        ("GET", format!("{wrong}/stats"), None),
        ("GET", format!("{wrong}/pools"), None),
        (
            "POST",
            format!("{wrong}/pools"),
            Some(json!({"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"})),
        ),
    ] {
        b.expect_fault(&before, method, &path, body, 404, &l);
    }
    let (_, list) = b.get(&listeners(&other));
    assert_eq!(list, json!([]));
    // Listing or creating under an unknown load balancer is 404 as well.
    let nobody = uuid::Uuid::new_v4().to_string();
    b.expect_fault(&before, "GET", &listeners(&nobody), None, 404, &nobody);
    b.expect_fault(
        &before,
        "POST",
        &listeners(&nobody),
        Some(json!({"protocol": "HTTP", "protocol_port": 80})),
        404,
        &nobody,
    );
}

#[test]
fn stats_are_four_integers_starting_at_zero() {
    let b = Ballast::start();
    let lb = id(&b.create_lb());
    let l = id(&b.add_listener(&lb, "TCP", 80));
    let (s, st) = b.get(&format!("{}/stats", listener_path(&lb, &l)));
    assert_eq!(s, 200, "{st}");
    assert_keys(
        &st,
        &[
            "bytes_in",
            "bytes_out",
            "active_connections",
            "total_connections",
        ],
    );
    for (k, v) in st.as_object().unwrap() {
        assert_eq!(v.as_u64(), Some(0), "{k} is the integer 0: {st}");
    }
}

#[test]
fn delete_takes_the_pool_its_members_and_monitor_with_it() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let keep = id(&b.add_listener(&t.lb, "TCP", 9000));
    let (s, body) = b.delete(&t.listener_path());
    assert_eq!(s, 202, "{body}");
    assert!(body.is_null(), "DELETE answers no body: {body}");
    b.wait_lb_active(&t.lb);
    for path in [
        t.listener_path(),
        t.pool_path(),
        t.members_path(),
        t.member_path(),
        t.monitor_path(),
        format!("{}/pools", t.listener_path()),
        format!("{}/stats", t.listener_path()),
    ] {
        let (s, v) = b.get(&path);
        assert_fault(s, &v, 404, "not found");
    }
    let (_, list) = b.get(&listeners(&t.lb));
    let ids: Vec<String> = list.as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, vec![keep], "only the other listener is left");
    // The port is free again.
    b.add_listener(&t.lb, "HTTP", 8080);
    // Deleting it again is 404 and changes nothing.
    let before = b.snapshot();
    b.expect_fault(
        &before,
        "DELETE",
        &t.listener_path(),
        None,
        404,
        &t.listener,
    );
}
