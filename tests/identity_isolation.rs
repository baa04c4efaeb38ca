//! The isolation matrix: two projects × admin/member/reader/other
//! project's member/no token/bad token × representative v1 and v2 routes ×
//! read/write. Every refused cell checks its status, its fault and that the
//! database did not change; another project's object is 404 exactly as an
//! absent one, and lists never show it.

mod common;

use common::assert_fault;
use common::identity::{add_user, call, db_state, login, network_id, start_local, wait_active};
use serde_json::{Value, json};

struct World {
    lb_a: String,
    listener_a: String,
    lb_b: String,
}

/// Project A has a v1 load balancer with a listener (made by its member),
/// project B a v2 one.
fn world(b: &common::Ballast, a_member: &str, b_member: &str) -> World {
    let net = network_id(b, a_member);
    let (s, lb) = call(
        b,
        "POST",
        "/v1/loadbalancers",
        Some(a_member),
        Some(json!({"vip": {"network_id": net}})),
    );
    assert_eq!(s, 202, "{lb}");
    let lb_a = lb["id"].as_str().unwrap().to_string();
    wait_active(b, a_member, &lb_a);
    let (s, l) = call(
        b,
        "POST",
        &format!("/v1/loadbalancers/{lb_a}/listeners"),
        Some(a_member),
        Some(json!({"protocol": "TCP", "protocol_port": 18001})),
    );
    assert_eq!(s, 202, "{l}");
    wait_active(b, a_member, &lb_a);
    let (s, lb) = call(
        b,
        "POST",
        "/v2/lbaas/loadbalancers",
        Some(b_member),
        Some(json!({"loadbalancer": {"vip_network_id": net}})),
    );
    assert_eq!(s, 201, "{lb}");
    let lb_b = lb["loadbalancer"]["id"].as_str().unwrap().to_string();
    wait_active(b, b_member, &lb_b);
    World {
        lb_a,
        listener_a: l["id"].as_str().unwrap().to_string(),
        lb_b,
    }
}

/// The reads of project A's objects, with the 404 message an absent one gets.
fn reads(w: &World) -> Vec<(String, &'static str)> {
    vec![
        (format!("/v1/loadbalancers/{}", w.lb_a), "load balancer"),
        (
            format!("/v1/loadbalancers/{}/listeners", w.lb_a),
            "load balancer",
        ),
        (
            format!("/v1/loadbalancers/{}/listeners/{}", w.lb_a, w.listener_a),
            "load balancer",
        ),
        (
            format!("/v2/lbaas/loadbalancers/{}", w.lb_a),
            "Load Balancer",
        ),
        (
            format!("/v2.0/lbaas/loadbalancers/{}/status", w.lb_a),
            "Load Balancer",
        ),
        (format!("/v2/lbaas/listeners/{}", w.listener_a), "Listener"),
    ]
}

/// Writes to project A's objects.
fn writes(w: &World) -> Vec<(&'static str, String, Value)> {
    vec![
        (
            "PUT",
            format!("/v1/loadbalancers/{}", w.lb_a),
            json!({"name": "taken"}),
        ),
        (
            "PUT",
            format!("/v2/lbaas/loadbalancers/{}", w.lb_a),
            json!({"loadbalancer": {"name": "taken"}}),
        ),
        (
            "PUT",
            format!("/v2/lbaas/listeners/{}", w.listener_a),
            json!({"listener": {"name": "taken"}}),
        ),
        (
            "POST",
            format!("/v1/loadbalancers/{}/listeners", w.lb_a),
            json!({"protocol": "TCP", "protocol_port": 18002}),
        ),
        (
            "DELETE",
            format!("/v2/lbaas/listeners/{}", w.listener_a),
            Value::Null,
        ),
        (
            "DELETE",
            format!("/v1/loadbalancers/{}", w.lb_a),
            Value::Null,
        ),
    ]
}

fn body(v: &Value) -> Option<Value> {
    (!v.is_null()).then(|| v.clone())
}

fn ids(v: &Value) -> Vec<String> {
    let list = v.get("loadbalancers").unwrap_or(v);
    list.as_array()
        .unwrap()
        .iter()
        .map(|lb| lb["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_caller_gets_exactly_what_its_role_and_project_allow() {
    let (b, _tmp) = start_local("");
    add_user(&b, "a-member", "pw-am", "pa", "member");
    add_user(&b, "a-reader", "pw-ar", "pa", "reader");
    add_user(&b, "b-member", "pw-bm", "pb", "member");
    let admin = login(&b, "admin", "admin-pw", "admin");
    let a_member = login(&b, "a-member", "pw-am", "pa");
    let a_reader = login(&b, "a-reader", "pw-ar", "pa");
    let b_member = login(&b, "b-member", "pw-bm", "pb");
    let w = world(&b, &a_member, &b_member);

    // Lists: each project sees its own, the admin all, ?project_id= filters.
    for list in ["/v1/loadbalancers", "/v2/lbaas/loadbalancers"] {
        let seen = |t: &str| ids(&call(&b, "GET", list, Some(t), None).1);
        assert_eq!(seen(&a_member), vec![w.lb_a.clone()], "{list}");
        assert_eq!(seen(&a_reader), vec![w.lb_a.clone()], "{list}");
        assert_eq!(seen(&b_member), vec![w.lb_b.clone()], "{list}");
        let mut all = seen(&admin);
        all.sort();
        let mut want = vec![w.lb_a.clone(), w.lb_b.clone()];
        want.sort();
        assert_eq!(all, want, "{list}");
    }
    let (_, pb) = call(&b, "GET", "/v3/projects?name=pb", Some(&admin), None);
    let pb_id = pb["projects"][0]["id"].as_str().unwrap();
    let filtered = call(
        &b,
        "GET",
        &format!("/v2/lbaas/loadbalancers?project_id={pb_id}"),
        Some(&admin),
        None,
    )
    .1;
    assert_eq!(ids(&filtered), vec![w.lb_b.clone()]);
    let (s, v) = call(&b, "GET", "/v2/lbaas/listeners", Some(&b_member), None);
    assert_eq!(
        (s, v["listeners"].as_array().unwrap().len()),
        (200, 0),
        "{v}"
    );

    // Reads: A's own and the admin 200; B's member 404 worded as absent;
    // no token or a bad one 401.
    for (path, kind) in reads(&w) {
        for t in [&admin, &a_member, &a_reader] {
            let (s, v) = call(&b, "GET", &path, Some(t), None);
            assert_eq!(s, 200, "GET {path}: {v}");
        }
        let (s, v) = call(&b, "GET", &path, Some(&b_member), None);
        assert_fault(s, &v, 404, &format!("{kind} "));
        assert!(
            v["faultstring"].as_str().unwrap().ends_with("not found"),
            "{v}"
        );
        let absent = path
            .replace(&w.lb_a, "00000000-0000-4000-8000-000000000000")
            .replace(&w.listener_a, "00000000-0000-4000-8000-000000000000");
        let (s2, v2) = call(&b, "GET", &absent, Some(&admin), None);
        assert_eq!(s2, 404, "{absent}: {v2}");
        let (s, v) = call(&b, "GET", &path, None, None);
        assert_fault(s, &v, 401, "X-Auth-Token is missing");
        let (s, v) = call(&b, "GET", &path, Some("0123abcd"), None);
        assert_fault(s, &v, 401, "unknown, expired or revoked");
    }

    // Refused writes change nothing.
    let before = db_state(&b);
    for (method, path, req) in writes(&w) {
        for (who, token, status, needle) in [
            ("b-member", Some(b_member.as_str()), 404, "not found"),
            ("a-reader", Some(a_reader.as_str()), 403, "may only read"),
            ("nobody", None, 401, "X-Auth-Token is missing"),
            (
                "bad token",
                Some("f00d"),
                401,
                "unknown, expired or revoked",
            ),
        ] {
            let (s, v) = call(&b, method, &path, token, body(&req));
            assert_eq!(s, status, "{who} {method} {path}: {v}");
            assert_fault(s, &v, status, needle);
            assert_eq!(
                db_state(&b),
                before,
                "{who} {method} {path} changed the database"
            );
        }
    }
    // A member of B cannot create in A by naming A's project either.
    let (_, pa) = call(&b, "GET", "/v3/projects?name=pa", Some(&admin), None);
    let pa_id = pa["projects"][0]["id"].as_str().unwrap();
    let (s, v) = call(
        &b,
        "POST",
        "/v2/lbaas/loadbalancers",
        Some(&b_member),
        Some(
            json!({"loadbalancer": {"vip_network_id": network_id(&b, &b_member), "project_id": pa_id}}),
        ),
    );
    assert_fault(s, &v, 403, "Policy does not allow");
    assert_eq!(db_state(&b), before);

    // Allowed writes: A's member and the admin change A's load balancer.
    for t in [&a_member, &admin] {
        let (s, v) = call(
            &b,
            "PUT",
            &format!("/v2/lbaas/loadbalancers/{}", w.lb_a),
            Some(t),
            Some(json!({"loadbalancer": {"name": "renamed"}})),
        );
        assert_eq!(s, 200, "{v}");
        wait_active(&b, t, &w.lb_a);
    }
    // An admin's new load balancer goes to the admin's project by default,
    // or to the one named; A's member's to A.
    let (s, v) = call(
        &b,
        "POST",
        "/v2/lbaas/loadbalancers",
        Some(&admin),
        Some(
            json!({"loadbalancer": {"vip_network_id": network_id(&b, &admin), "project_id": pb_id}}),
        ),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["loadbalancer"]["project_id"], pb_id);
    let (s, v) = call(
        &b,
        "POST",
        "/v2/lbaas/loadbalancers",
        Some(&a_member),
        Some(json!({"loadbalancer": {"vip_network_id": network_id(&b, &a_member)}})),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["loadbalancer"]["project_id"], pa_id);
}
