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
    pool_a: String,
    member_a: String,
    monitor_a: String,
    /// A free port of project A (its load balancer's VIP port is A's too).
    port_a: String,
    certificate_a: String,
    lb_b: String,
}

impl World {
    /// Every id of project A's objects.
    fn a_ids(&self) -> [&str; 7] {
        [
            &self.lb_a,
            &self.listener_a,
            &self.pool_a,
            &self.member_a,
            &self.monitor_a,
            &self.port_a,
            &self.certificate_a,
        ]
    }
}

/// `method path` with `token` must answer `status`; the new object's id
/// (under `key` when the answer wraps it), after `lb` is ACTIVE again.
fn made(
    b: &common::Ballast,
    token: &str,
    (method, path, req): (&str, &str, Value),
    status: u16,
    key: Option<&str>,
    lb: Option<&str>,
) -> String {
    let (s, v) = call(b, method, path, Some(token), Some(req));
    assert_eq!(s, status, "{method} {path}: {v}");
    if let Some(lb) = lb {
        wait_active(b, token, lb);
    }
    let obj = key.map_or(&v, |k| &v[k]);
    obj["id"].as_str().expect("an id").to_string()
}

/// Project A has a v1 load balancer with a listener, pool, member and (v2)
/// health monitor, a free port and a certificate, all made by its member;
/// project B a v2 load balancer.
fn world(b: &common::Ballast, a_member: &str, b_member: &str) -> World {
    let net = network_id(b, a_member);
    let lb_a = made(
        b,
        a_member,
        (
            "POST",
            "/v1/loadbalancers",
            json!({"vip": {"network_id": net}}),
        ),
        202,
        None,
        None,
    );
    wait_active(b, a_member, &lb_a);
    let listener_a = made(
        b,
        a_member,
        (
            "POST",
            &format!("/v1/loadbalancers/{lb_a}/listeners"),
            json!({"protocol": "TCP", "protocol_port": 18001}),
        ),
        202,
        None,
        Some(&lb_a),
    );
    let pool_path = format!("/v1/loadbalancers/{lb_a}/listeners/{listener_a}/pools");
    let pool_a = made(
        b,
        a_member,
        (
            "POST",
            &pool_path,
            json!({"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}),
        ),
        202,
        None,
        Some(&lb_a),
    );
    let member_a = made(
        b,
        a_member,
        (
            "POST",
            &format!("{pool_path}/{pool_a}/members"),
            json!({"ip_address": "127.0.0.1", "protocol_port": 9}),
        ),
        202,
        None,
        Some(&lb_a),
    );
    let monitor_a = made(
        b,
        a_member,
        (
            "POST",
            "/v2/lbaas/healthmonitors",
            json!({"healthmonitor": {"pool_id": pool_a, "type": "TCP", "delay": 30,
                   "timeout": 5, "max_retries": 2}}),
        ),
        201,
        Some("healthmonitor"),
        Some(&lb_a),
    );
    let port_a = made(
        b,
        a_member,
        ("POST", "/v1/ports", json!({"network_id": net})),
        202,
        None,
        None,
    );
    let certificate_a = made(
        b,
        a_member,
        ("POST", "/v1/certificates", common::v2::certificate_body()),
        202,
        None,
        None,
    );
    let lb_b = made(
        b,
        b_member,
        (
            "POST",
            "/v2/lbaas/loadbalancers",
            json!({"loadbalancer": {"vip_network_id": net}}),
        ),
        201,
        Some("loadbalancer"),
        None,
    );
    wait_active(b, b_member, &lb_b);
    World {
        lb_a,
        listener_a,
        pool_a,
        member_a,
        monitor_a,
        port_a,
        certificate_a,
        lb_b,
    }
}

/// The reads of project A's objects, with the 404 message an absent one gets.
fn reads(w: &World) -> Vec<(String, &'static str)> {
    let (lb, l, p, m) = (&w.lb_a, &w.listener_a, &w.pool_a, &w.member_a);
    let v1_pool = format!("/v1/loadbalancers/{lb}/listeners/{l}/pools/{p}");
    vec![
        (format!("/v1/loadbalancers/{lb}"), "load balancer"),
        (format!("/v1/loadbalancers/{lb}/listeners"), "load balancer"),
        (
            format!("/v1/loadbalancers/{lb}/listeners/{l}"),
            "load balancer",
        ),
        (format!("{v1_pool}/members/{m}"), "load balancer"),
        (format!("/v2/lbaas/loadbalancers/{lb}"), "Load Balancer"),
        (
            format!("/v2.0/lbaas/loadbalancers/{lb}/status"),
            "Load Balancer",
        ),
        (
            format!("/v2/lbaas/loadbalancers/{lb}/statuses"),
            "Load Balancer",
        ),
        (format!("/v2/lbaas/listeners/{l}"), "Listener"),
        (format!("/v2/lbaas/pools/{p}"), "Pool"),
        (format!("/v2/lbaas/pools/{p}/members"), "Pool"),
        (format!("/v2/lbaas/pools/{p}/members/{m}"), "Pool"),
        (
            format!("/v2/lbaas/healthmonitors/{}", w.monitor_a),
            "Health Monitor",
        ),
        (format!("/v2.0/ports/{}", w.port_a), "port"),
        (format!("/v1/ports/{}", w.port_a), "port"),
        (
            format!("/v1/certificates/{}", w.certificate_a),
            "certificate",
        ),
        (format!("/v1/loadbalancers/{lb}/history"), "load balancer"),
        (format!("/v1/loadbalancers/{lb}/events"), "load balancer"),
        (
            format!("/v1/loadbalancers/{lb}/listeners/{l}/history"),
            "load balancer",
        ),
        (format!("{v1_pool}/member_health"), "load balancer"),
    ]
}

/// Writes to project A's objects, with the 404 wording another project's
/// member gets.
fn writes(w: &World) -> Vec<(&'static str, String, Value, &'static str)> {
    let (p, m, hm) = (&w.pool_a, &w.member_a, &w.monitor_a);
    vec![
        (
            "PUT",
            format!("/v1/loadbalancers/{}", w.lb_a),
            json!({"name": "taken"}),
            "load balancer",
        ),
        (
            "PUT",
            format!("/v2/lbaas/loadbalancers/{}", w.lb_a),
            json!({"loadbalancer": {"name": "taken"}}),
            "Load Balancer",
        ),
        (
            "PUT",
            format!("/v2/lbaas/listeners/{}", w.listener_a),
            json!({"listener": {"name": "taken"}}),
            "Listener",
        ),
        (
            "POST",
            format!("/v1/loadbalancers/{}/listeners", w.lb_a),
            json!({"protocol": "TCP", "protocol_port": 18002}),
            "load balancer",
        ),
        (
            "POST",
            format!("/v2/lbaas/pools/{p}/members"),
            json!({"member": {"address": "127.0.0.1", "protocol_port": 10}}),
            "Pool",
        ),
        (
            "PUT",
            format!("/v2/lbaas/pools/{p}/members/{m}"),
            json!({"member": {"weight": 5}}),
            "Pool",
        ),
        (
            "PUT",
            format!("/v2/lbaas/pools/{p}/members"),
            json!({"members": []}),
            "Pool",
        ),
        (
            "DELETE",
            format!("/v2/lbaas/pools/{p}/members/{m}"),
            Value::Null,
            "Pool",
        ),
        (
            "POST",
            "/v2/lbaas/healthmonitors".to_string(),
            json!({"healthmonitor": {"pool_id": p, "type": "TCP", "delay": 30,
                   "timeout": 5, "max_retries": 2}}),
            "Pool",
        ),
        (
            "PUT",
            format!("/v2/lbaas/healthmonitors/{hm}"),
            json!({"healthmonitor": {"delay": 7}}),
            "Health Monitor",
        ),
        (
            "DELETE",
            format!("/v2/lbaas/healthmonitors/{hm}"),
            Value::Null,
            "Health Monitor",
        ),
        (
            "DELETE",
            format!("/v1/ports/{}", w.port_a),
            Value::Null,
            "port",
        ),
        (
            "DELETE",
            format!("/v1/certificates/{}", w.certificate_a),
            Value::Null,
            "certificate",
        ),
        (
            "DELETE",
            format!("/v2/lbaas/listeners/{}", w.listener_a),
            Value::Null,
            "Listener",
        ),
        (
            "DELETE",
            format!("/v1/loadbalancers/{}", w.lb_a),
            Value::Null,
            "load balancer",
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

    // Monitors, certificates and ports are their project's (a VIP port its
    // load balancer's); networks and subnets every caller's.
    let listed = |path: &str, key: Option<&str>, t: &str| -> Vec<String> {
        let (s, v) = call(&b, "GET", path, Some(t), None);
        assert_eq!(s, 200, "GET {path}: {v}");
        key.map_or(&v, |k| &v[k])
            .as_array()
            .unwrap_or_else(|| panic!("GET {path}: {v}"))
            .iter()
            .map(|o| o["id"].as_str().unwrap().to_string())
            .collect()
    };
    let vip_port = |t: &str, lb: &str| {
        call(&b, "GET", &format!("/v1/loadbalancers/{lb}"), Some(t), None).1["vip"]["port_id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (vip_a, vip_b) = (vip_port(&a_member, &w.lb_a), vip_port(&b_member, &w.lb_b));
    for t in [&a_member, &a_reader] {
        let hms = listed("/v2/lbaas/healthmonitors", Some("healthmonitors"), t);
        assert_eq!(hms, vec![w.monitor_a.clone()]);
        let certs = listed("/v1/certificates", None, t);
        assert_eq!(certs, vec![w.certificate_a.clone()]);
        for (path, key) in [("/v1/ports", None), ("/v2.0/ports", Some("ports"))] {
            let mut ports = listed(path, key, t);
            ports.sort();
            let mut want = vec![vip_a.clone(), w.port_a.clone()];
            want.sort();
            assert_eq!(ports, want, "{path}");
        }
    }
    assert!(
        listed(
            "/v2/lbaas/healthmonitors",
            Some("healthmonitors"),
            &b_member
        )
        .is_empty()
    );
    assert!(listed("/v1/certificates", None, &b_member).is_empty());
    assert_eq!(listed("/v1/ports", None, &b_member), vec![vip_b.clone()]);
    assert_eq!(listed("/v2.0/ports", Some("ports"), &b_member), vec![vip_b]);
    assert_eq!(listed("/v2.0/ports", Some("ports"), &admin).len(), 3);
    for t in [&admin, &a_reader, &b_member] {
        assert_eq!(listed("/v2.0/networks", Some("networks"), t).len(), 1);
        assert_eq!(listed("/v2.0/subnets", Some("subnets"), t).len(), 1);
    }

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
        let absent = w.a_ids().iter().fold(path.clone(), |p, id| {
            p.replace(id, "00000000-0000-4000-8000-000000000000")
        });
        let (s2, v2) = call(&b, "GET", &absent, Some(&admin), None);
        assert_eq!(s2, 404, "{absent}: {v2}");
        let (s, v) = call(&b, "GET", &path, None, None);
        assert_fault(s, &v, 401, "X-Auth-Token is missing");
        let (s, v) = call(&b, "GET", &path, Some("0123abcd"), None);
        assert_fault(s, &v, 401, "unknown, expired or revoked");
    }

    // Refused writes change nothing.
    let before = db_state(&b);
    for (method, path, req, kind) in writes(&w) {
        let absent = format!("{kind} ");
        for (who, token, status, needle) in [
            ("b-member", Some(b_member.as_str()), 404, absent.as_str()),
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
    // B's member cannot take A's port as a VIP, nor A's certificate for a
    // listener: both are absent to it. An admin, who sees the certificate,
    // still may not put it on a listener of another project.
    let (s, v) = call(
        &b,
        "POST",
        "/v1/loadbalancers",
        Some(&b_member),
        Some(json!({"vip": {"port_id": w.port_a}})),
    );
    assert_fault(
        s,
        &v,
        400,
        &format!("vip.port_id: port {} not found", w.port_a),
    );
    let tls_listener = json!({"listener": {"loadbalancer_id": w.lb_b, "protocol": "TERMINATED_HTTPS",
        "protocol_port": 443, "default_tls_container_ref": w.certificate_a}});
    let (s, v) = call(
        &b,
        "POST",
        "/v2/lbaas/listeners",
        Some(&b_member),
        Some(tls_listener.clone()),
    );
    assert_fault(
        s,
        &v,
        400,
        &format!("certificate {} not found", w.certificate_a),
    );
    let (s, v) = call(
        &b,
        "POST",
        "/v2/lbaas/listeners",
        Some(&admin),
        Some(tls_listener),
    );
    assert_fault(s, &v, 400, "belongs to another project");
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
    // A's member changes A's monitor and member, and puts A's certificate
    // on a listener of A's load balancer.
    for (path, req, key) in [
        (
            format!("/v2/lbaas/healthmonitors/{}", w.monitor_a),
            json!({"healthmonitor": {"delay": 7}}),
            "healthmonitor",
        ),
        (
            format!("/v2/lbaas/pools/{}/members/{}", w.pool_a, w.member_a),
            json!({"member": {"weight": 5}}),
            "member",
        ),
    ] {
        let (s, v) = call(&b, "PUT", &path, Some(&a_member), Some(req));
        assert_eq!(s, 200, "PUT {path}: {v}");
        assert_eq!(v[key]["id"], json!(path.rsplit('/').next().unwrap()));
        wait_active(&b, &a_member, &w.lb_a);
    }
    made(
        &b,
        &a_member,
        (
            "POST",
            "/v2/lbaas/listeners",
            json!({"listener": {"loadbalancer_id": w.lb_a, "protocol": "TERMINATED_HTTPS",
                "protocol_port": 18443, "default_tls_container_ref": w.certificate_a}}),
        ),
        201,
        Some("listener"),
        Some(&w.lb_a),
    );

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
