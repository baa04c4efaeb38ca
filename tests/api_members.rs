//! `.../pools/{p}/members`: shapes, defaults (weight 1, enabled), ranges,
//! unique address+port per pool, updates and parents.

mod common;

use common::api::{MEMBER_KEYS, assert_keys, assert_uuid, member_path};
use common::{Ballast, assert_fault};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[test]
fn create_answers_every_field_with_defaults() {
    let b = Ballast::start();
    let t = b.add_tree(80);
    let (s, m) = b.post(
        &t.members_path(),
        json!({"ip_address": "127.0.0.2", "protocol_port": 8080}),
    );
    assert_eq!(s, 202, "{m}");
    assert_keys(&m, MEMBER_KEYS);
    assert_uuid(&m["id"]);
    assert_eq!(m["ip_address"], "127.0.0.2");
    assert_eq!(m["protocol_port"], 8080);
    assert_eq!(m["weight"], 1);
    assert_eq!(m["subnet_id"], Value::Null);
    assert_eq!(m["enabled"], true);
    b.wait_lb_active(&t.lb);
    let (s, got) = b.get(&member_path(&t.lb, &t.listener, &t.pool, &id(&m)));
    assert_eq!(s, 200, "{got}");
    assert_keys(&got, MEMBER_KEYS);
    for k in [
        "id",
        "ip_address",
        "protocol_port",
        "weight",
        "subnet_id",
        "enabled",
    ] {
        assert_eq!(got[k], m[k], "{k}");
    }
    let (s, list) = b.get(&t.members_path());
    assert_eq!(s, 200);
    let list = list.as_array().expect("a bare array");
    assert_eq!(list.len(), 2);
    assert!(
        list.iter()
            .all(|m| m.as_object().unwrap().len() == MEMBER_KEYS.len())
    );

    // Every field given is echoed; weights 0 and 256 are the bounds.
    let mid = uuid::Uuid::new_v4().to_string();
    let m = b.post_and_settle(
        &t.lb,
        &t.members_path(),
        json!({"id": mid.to_uppercase(), "ip_address": "127.0.0.3", "protocol_port": 65535,
               "weight": 0, "subnet_id": "subnet-1", "enabled": false}),
    );
    assert_eq!(m["id"], mid.as_str());
    assert_eq!(m["weight"], 0);
    assert_eq!(m["subnet_id"], "subnet-1");
    assert_eq!(m["enabled"], false);
    let m = b.post_and_settle(
        &t.lb,
        &t.members_path(),
        json!({"ip_address": "127.0.0.4", "protocol_port": 1, "weight": 256}),
    );
    assert_eq!(m["weight"], 256);
    assert_eq!(m["ip_address"], "127.0.0.4");
}

#[test]
fn bad_create_bodies_are_400_naming_the_field_and_change_nothing() {
    let b = Ballast::start();
    let t = b.add_tree(80);
    let before = b.snapshot();
    let ok = |extra: Value| {
        let mut body = json!({"ip_address": "127.0.0.2", "protocol_port": 8080});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases = [
        (json!({"protocol_port": 80}), "ip_address"),
        (json!({"ip_address": "127.0.0.2"}), "protocol_port"),
        (ok(json!({"ip_address": "nope"})), "ip_address"),
        (ok(json!({"ip_address": "127.0.0.256"})), "ip_address"),
        (ok(json!({"ip_address": 2130706434})), "ip_address"),
        (ok(json!({"protocol_port": 0})), "protocol_port"),
        (ok(json!({"protocol_port": 70000})), "protocol_port"),
        (ok(json!({"protocol_port": "80"})), "protocol_port"),
        (ok(json!({"weight": 257})), "weight"),
        (ok(json!({"weight": -1})), "weight"),
        (ok(json!({"weight": "5"})), "weight"),
        (ok(json!({"weight": 1.5})), "weight"),
        (ok(json!({"enabled": "no"})), "enabled"),
        (ok(json!({"subnet_id": "s".repeat(256)})), "subnet_id"),
        (ok(json!({"id": "m-1"})), "id"),
        (ok(json!({"name": "m"})), "name"),
        (ok(json!({"pool_id": t.pool})), "pool_id"),
        (
            ok(json!({"operating_status": "ONLINE"})),
            "operating_status",
        ),
        (
            ok(json!({"provisioning_status": "ACTIVE"})),
            "provisioning_status",
        ),
    ];
    for (body, needle) in cases {
        b.expect_fault(&before, "POST", &t.members_path(), Some(body), 400, needle);
    }
}

#[test]
fn a_second_member_with_one_address_and_port_is_409() {
    let b = Ballast::start();
    let t = b.add_tree(80);
    // add_tree's member is 127.0.0.1:1.
    let other = id(&b.add_member(&t.lb, &t.listener, &t.pool, "127.0.0.1", 2));
    b.add_member(&t.lb, &t.listener, &t.pool, "127.0.0.2", 1);
    let before = b.snapshot();
    b.expect_fault(
        &before,
        "POST",
        &t.members_path(),
        Some(json!({"ip_address": "127.0.0.1", "protocol_port": 1, "weight": 5})),
        409,
        "127.0.0.1:1",
    );
    // Moving a member onto another's address and port is 409 too.
    b.expect_fault(
        &before,
        "PUT",
        &member_path(&t.lb, &t.listener, &t.pool, &other),
        Some(json!({"protocol_port": 1})),
        409,
        "127.0.0.1:1",
    );
    // A taken member id is 409, even in another pool.
    let l2 = id(&b.add_listener(&t.lb, "TCP", 81));
    let p2 = id(&b.add_pool(&t.lb, &l2, "TCP"));
    let before = b.snapshot();
    b.expect_fault(
        &before,
        "POST",
        &format!("{}/members", common::api::pool_path(&t.lb, &l2, &p2)),
        Some(json!({"id": t.member, "ip_address": "127.0.0.9", "protocol_port": 9})),
        409,
        &t.member,
    );
    // The same address and port in another pool is fine.
    b.add_member(&t.lb, &l2, &p2, "127.0.0.1", 1);
}

#[test]
fn update_returns_the_new_values() {
    let b = Ballast::start();
    let t = b.add_tree(80);
    let (s, up) = b.put(
        &t.member_path(),
        json!({"protocol_port": 8081, "weight": 7, "enabled": false}),
    );
    assert_eq!(s, 202, "{up}");
    assert_keys(&up, MEMBER_KEYS);
    assert_eq!(up["protocol_port"], 8081);
    assert_eq!(up["weight"], 7);
    assert_eq!(up["enabled"], false);
    assert_eq!(up["ip_address"], "127.0.0.1");
    b.wait_lb_active(&t.lb);
    let (_, got) = b.get(&t.member_path());
    assert_eq!(got["protocol_port"], 8081);
    assert_eq!(got["weight"], 7);
    assert_eq!(got["enabled"], false);
    let up = b.put_and_settle(&t.lb, &t.member_path(), json!({"weight": 0}));
    assert_eq!(up["weight"], 0);
    assert_eq!(up["protocol_port"], 8081);
    // An empty update is refused (issue 14); the member keeps its values.
    let (s, v) = b.put(&t.member_path(), json!({}));
    common::assert_fault(s, &v, 400, "an update must name at least one field");
    assert_eq!(b.get(&t.member_path()).1["weight"], 0);
}

#[test]
fn bad_updates_are_400_naming_the_field_and_change_nothing() {
    let b = Ballast::start();
    let t = b.add_tree(80);
    let before = b.snapshot();
    let cases = [
        (json!({"weight": 257}), "weight"),
        (json!({"weight": -1}), "weight"),
        (json!({"weight": "2"}), "weight"),
        (json!({"protocol_port": 0}), "protocol_port"),
        (json!({"protocol_port": 65536}), "protocol_port"),
        (json!({"enabled": "yes"}), "enabled"),
        // Not updatable (the seed's Update Member lists port, weight, enabled).
        (json!({"ip_address": "127.0.0.5"}), "ip_address"),
        (json!({"subnet_id": "s"}), "subnet_id"),
        (json!({"id": uuid::Uuid::new_v4().to_string()}), "id"),
        (json!({"operating_status": "ONLINE"}), "operating_status"),
        (
            json!({"provisioning_status": "ACTIVE"}),
            "provisioning_status",
        ),
    ];
    for (body, needle) in cases {
        b.expect_fault(&before, "PUT", &t.member_path(), Some(body), 400, needle);
    }
}

#[test]
fn a_member_under_another_pool_is_404() {
    let b = Ballast::start();
    let t = b.add_tree(80);
    let u = b.add_tree(81);
    // u's pool under t's load balancer is unknown there, and t's member is
    // unknown under u's pool.
    let before = b.snapshot();
    for wrong in [
        member_path(&u.lb, &u.listener, &u.pool, &t.member),
        member_path(&t.lb, &t.listener, &u.pool, &t.member),
    ] {
        for (method, body) in [
            ("GET", None),
            ("PUT", Some(json!({"weight": 2}))),
            ("DELETE", None),
        ] {
            let (s, v) = common::http(method, &b.url(&wrong), body.map(|v| v.to_string()));
            assert_fault(s, &v, 404, "not found");
        }
        b.assert_unchanged(&before);
    }
}

#[test]
fn delete_answers_202_without_a_body_and_the_member_is_gone() {
    let b = Ballast::start();
    let t = b.add_tree(80);
    let keep = id(&b.add_member(&t.lb, &t.listener, &t.pool, "127.0.0.2", 2));
    let (s, body) = b.delete(&t.member_path());
    assert_eq!(s, 202, "{body}");
    assert!(body.is_null(), "DELETE answers no body: {body}");
    b.wait_lb_active(&t.lb);
    let (s, v) = b.get(&t.member_path());
    assert_fault(s, &v, 404, "not found");
    let (_, list) = b.get(&t.members_path());
    let ids: Vec<String> = list.as_array().unwrap().iter().map(id).collect();
    assert_eq!(ids, vec![keep]);
    let before = b.snapshot();
    b.expect_fault(&before, "DELETE", &t.member_path(), None, 404, &t.member);
    // Its address and port are free again.
    b.add_member(&t.lb, &t.listener, &t.pool, "127.0.0.1", 1);
}
