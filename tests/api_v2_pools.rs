//! The v2 API's `lbaas/pools`, written from Octavia's `controllers/pool.py`
//! and `types/pool.py`: codes, every field of `PoolResponse` with its type,
//! session persistence, `null` clearing, the listener/pool protocol pairs,
//! filters, sorting, pagination, `fields=`, the options Ballast refuses on
//! POST and PUT, and the same rows seen through `/v1` and `/v2` alike.

mod common;

use std::time::Duration;

use common::v2::{
    PERSISTENCE_FIELDS, POOL_FIELDS, assert_shape, certificate, id, id_list, list_ids, refused,
    unsupported, v2_child, v2_lb, v2_listener, v2_pool, wait_active,
};
use common::{Ballast, assert_fault, http, wait_until};
use serde_json::{Value, json};

const POOLS: &str = "/v2/lbaas/pools";

fn pool_path(p: &str) -> String {
    format!("{POOLS}/{p}")
}

/// A pool body with `fields`, ROUND_ROBIN over HTTP unless they say otherwise.
fn with(fields: Value) -> Value {
    let mut p = json!({"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"});
    for (k, v) in fields.as_object().unwrap() {
        p[k] = v.clone();
    }
    json!({ "pool": p })
}

#[test]
fn listeners_and_pools_work_flat_and_are_the_same_rows_as_v1() {
    let b = Ballast::start();
    let lb = v2_lb(&b, "x");
    let lb_id = id(&lb);
    let (s, l) = b.post(
        "/v2/lbaas/listeners",
        json!({"listener": {"loadbalancer_id": lb_id, "protocol": "HTTP",
            "protocol_port": "8080", "connection_limit": "100", "name": "l"}}),
    );
    assert_eq!(s, 201, "{l}");
    let l = l["listener"].clone();
    let l_id = id(&l);
    assert_eq!(l["connection_limit"], 100);
    assert_eq!(l["loadbalancers"], json!([{"id": lb_id}]));
    assert_eq!(l["project_id"], "ballast");
    wait_active(&b, &lb_id);

    let (s, _) = b.post(
        POOLS,
        json!({"pool": {"listener_id": l_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}),
    );
    assert_eq!(s, 201);
    wait_active(&b, &lb_id);
    // A second default pool for the listener is 409.
    let (s, taken) = b.post(
        POOLS,
        json!({"pool": {"listener_id": l_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}),
    );
    assert_fault(s, &taken, 409, "already has a default pool");
    wait_active(&b, &lb_id);
    let (s, standalone) = b.post(
        POOLS,
        json!({"pool": {"loadbalancer_id": lb_id, "protocol": "TCP", "lb_algorithm": "ROUND_ROBIN"}}),
    );
    assert_eq!(s, 201, "{standalone}");
    assert_eq!(standalone["pool"]["listeners"], json!([]));
    wait_active(&b, &lb_id);

    // v1 sees the listener and its default pool; v2 the relations.
    let (s, v1l) = b.get(&format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}"));
    assert_eq!(s, 200);
    assert_eq!(v1l["protocol_port"], 8080);
    let (_, v1p) = b.get(&format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}/pools"));
    let pool_id = id(&v1p[0]);
    let (_, v2l) = b.get(&format!("/v2/lbaas/listeners/{l_id}"));
    assert_eq!(v2l["listener"]["default_pool_id"], pool_id.as_str());
    let (_, v2lb) = b.get(&format!("/v2/lbaas/loadbalancers/{lb_id}"));
    assert_eq!(v2lb["loadbalancer"]["pools"].as_array().unwrap().len(), 2);
    let (_, byl) = b.get(&format!("{POOLS}?listener_id={l_id}"));
    assert_eq!(byl["pools"][0]["id"], pool_id.as_str());

    // Changed in v1, seen in v2.
    let (s, _) = b.put(
        &format!("/v1/loadbalancers/{lb_id}/listeners/{l_id}"),
        json!({"name": "from-v1"}),
    );
    assert_eq!(s, 202);
    wait_active(&b, &lb_id);
    let (_, v2l) = b.get(&format!("/v2/lbaas/listeners/{l_id}"));
    assert_eq!(v2l["listener"]["name"], "from-v1");
    assert!(v2l["listener"]["updated_at"].is_string());

    // Without cascade, an LB with children is 400; with it, 204.
    let (s, f) = b.delete(&format!("/v2/lbaas/loadbalancers/{lb_id}"));
    assert_fault(s, &f, 400, "children");
    let (s, _) = b.delete(&format!("/v2/lbaas/loadbalancers/{lb_id}?cascade=true"));
    assert_eq!(s, 204);
    wait_until(Duration::from_secs(10), "v2 load balancer gone", || {
        b.get(&format!("/v2/lbaas/loadbalancers/{lb_id}")).0 == 404
    });
    let (_, ps) = b.get(POOLS);
    assert_eq!(ps["pools"], json!([]));
}

#[test]
fn create_is_201_with_every_field_of_octavias_response_and_session_persistence() {
    let b = Ballast::start();
    let lb = id(&v2_lb(&b, "x"));
    let l = id(&v2_listener(&b, &lb, "HTTP", 80));
    let (s, v) = b.post(
        POOLS,
        with(
            json!({"listener_id": l, "loadbalancer_id": lb, "name": "web",
            "description": "d", "admin_state_up": false, "tags": ["a"],
            "lb_algorithm": "LEAST_CONNECTIONS",
            "session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "srv",
                "persistence_timeout": null, "persistence_granularity": null},
            // Neutral values of the options Ballast does not implement pass.
            "tls_enabled": false, "tls_container_ref": null, "ca_tls_container_ref": null,
            "crl_container_ref": null, "tls_ciphers": null, "tls_versions": null,
            "alpn_protocols": null, "members": [], "healthmonitor": null}),
        ),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    let p = &v["pool"];
    assert_shape(p, POOL_FIELDS);
    assert_shape(&p["session_persistence"], PERSISTENCE_FIELDS);
    for (field, want) in [
        ("provisioning_status", json!("PENDING_CREATE")),
        ("operating_status", json!("OFFLINE")),
        ("protocol", json!("HTTP")),
        ("lb_algorithm", json!("LEAST_CONNECTIONS")),
        ("name", json!("web")),
        ("description", json!("d")),
        ("admin_state_up", json!(false)),
        ("tags", json!(["a"])),
        ("project_id", json!("ballast")),
        ("loadbalancers", id_list(&[&lb])),
        ("listeners", id_list(&[&l])),
        ("members", json!([])),
        ("healthmonitor_id", Value::Null),
        ("tls_enabled", json!(false)),
        ("tls_container_ref", Value::Null),
        ("alpn_protocols", Value::Null),
        ("updated_at", Value::Null),
    ] {
        assert_eq!(p[field], want, "{field} of {p}");
    }
    assert_eq!(
        p["session_persistence"],
        json!({"type": "HTTP_COOKIE", "cookie_name": "srv", "persistence_timeout": null,
            "persistence_granularity": null})
    );
    let p_id = id(p);
    wait_active(&b, &lb);
    let (_, got) = b.get(&pool_path(&p_id));
    assert_shape(&got["pool"], POOL_FIELDS);
    let (_, list) = b.get(POOLS);
    assert_eq!(list["pools"][0], got["pool"]);

    // Its member and monitor appear in the relation fields.
    let m = v2_child(
        &b,
        &lb,
        &format!("pools/{p_id}/members"),
        json!({"member": {"address": "127.0.0.1", "protocol_port": 9}}),
    );
    let hm = v2_child(
        &b,
        &lb,
        "healthmonitors",
        json!({"healthmonitor": {"pool_id": p_id, "type": "TCP", "delay": 5, "timeout": 3,
            "max_retries": 2}}),
    );
    let (_, got) = b.get(&pool_path(&p_id));
    assert_eq!(got["pool"]["members"], id_list(&[&id(&m)]));
    assert_eq!(got["pool"]["healthmonitor_id"], id(&hm).as_str());

    // A standalone SOURCE_IP pool with SOURCE_IP persistence; defaults.
    let p2 = v2_pool(
        &b,
        &lb,
        json!({"loadbalancer_id": lb, "protocol": "TCP", "lb_algorithm": "SOURCE_IP",
            "session_persistence": {"type": "SOURCE_IP"}}),
    );
    assert_shape(&p2, POOL_FIELDS);
    assert_eq!(
        (&p2["listeners"], &p2["admin_state_up"], &p2["name"]),
        (&json!([]), &json!(true), &json!(""))
    );
    assert_eq!(p2["session_persistence"]["type"], "SOURCE_IP");
    assert_eq!(p2["session_persistence"]["cookie_name"], Value::Null);
}

#[test]
fn update_is_200_null_clears_optional_fields_and_delete_is_204() {
    let b = Ballast::start();
    let lb = id(&v2_lb(&b, "x"));
    let l = id(&v2_listener(&b, &lb, "HTTP", 80));
    let p = id(&v2_pool(
        &b,
        &lb,
        json!({"listener_id": l, "protocol": "HTTP", "name": "n", "description": "d",
            "tags": ["t"], "session_persistence": {"type": "HTTP_COOKIE", "cookie_name": "c"}}),
    ));
    let (s, v) = b.put(
        &pool_path(&p),
        json!({"pool": {"lb_algorithm": "SOURCE_IP", "admin_state_up": false}}),
    );
    assert_eq!(s, 200, "{v}");
    assert_shape(&v["pool"], POOL_FIELDS);
    assert_eq!(v["pool"]["lb_algorithm"], "SOURCE_IP");
    assert_eq!(v["pool"]["provisioning_status"], "PENDING_UPDATE");
    wait_active(&b, &lb);
    let (s, v) = b.put(
        &pool_path(&p),
        json!({"pool": {"name": null, "description": null, "tags": null,
            "session_persistence": null}}),
    );
    assert_eq!(s, 200, "{v}");
    wait_active(&b, &lb);
    let got = b.get(&pool_path(&p)).1["pool"].clone();
    for (field, want) in [
        ("name", json!("")),
        ("description", json!("")),
        ("tags", json!([])),
        ("session_persistence", Value::Null),
        ("admin_state_up", json!(false)),
        ("lb_algorithm", json!("SOURCE_IP")),
        ("listeners", id_list(&[&l])),
    ] {
        assert_eq!(got[field], want, "{field} of {got}");
    }
    assert!(got["updated_at"].is_string(), "{got}");

    // Fields of the POST type only, or read-only ones, are 400 on PUT.
    for (field, value) in [
        ("protocol", json!("TCP")),
        ("listener_id", json!(l)),
        ("loadbalancer_id", json!(lb)),
        ("project_id", json!("p")),
        ("healthmonitor_id", Value::Null),
    ] {
        refused(
            &b,
            "PUT",
            &pool_path(&p),
            Some(json!({"pool": {field: value}})),
            400,
            field,
        );
    }

    let (s, v) = b.delete(&pool_path(&p));
    assert_eq!((s, v), (204, Value::Null));
    wait_until(Duration::from_secs(10), "pool gone", || {
        b.get(&pool_path(&p)).0 == 404
    });
    wait_active(&b, &lb);
    assert_eq!(
        b.get(&format!("/v2/lbaas/listeners/{l}")).1["listener"]["default_pool_id"],
        Value::Null
    );
    for bad in [p.as_str(), "not-a-uuid"] {
        for method in ["GET", "PUT", "DELETE"] {
            let body = (method == "PUT").then(|| json!({"pool": {"name": "x"}}));
            refused(&b, method, &pool_path(bad), body, 404, "not found");
        }
    }
}

#[test]
fn unsupported_options_are_refused_with_400_on_post_and_put_and_change_nothing() {
    let b = Ballast::start();
    let lb = id(&v2_lb(&b, "x"));
    let p = id(&v2_pool(
        &b,
        &lb,
        json!({"loadbalancer_id": lb, "protocol": "HTTP"}),
    ));
    let cert = certificate(&b);
    let options = [
        ("tls_enabled", json!(true)),
        ("tls_container_ref", json!(cert)),
        ("ca_tls_container_ref", json!(cert)),
        ("crl_container_ref", json!(cert)),
        ("tls_ciphers", json!("ECDHE")),
        ("tls_versions", json!(["TLSv1.3"])),
        ("alpn_protocols", json!(["h2"])),
        ("lb_algorithm", json!("SOURCE_IP_PORT")),
        (
            "session_persistence",
            json!({"type": "APP_COOKIE", "cookie_name": "c"}),
        ),
        (
            "session_persistence",
            json!({"type": "SOURCE_IP", "persistence_timeout": 60}),
        ),
        (
            "session_persistence",
            json!({"type": "SOURCE_IP", "persistence_granularity": "255.255.255.0"}),
        ),
    ];
    for (field, value) in &options {
        // The refusal names the option (or the value of it) refused.
        let named = match value {
            Value::String(s) if *field == "lb_algorithm" => s.clone(),
            Value::Object(o) if o.contains_key("persistence_timeout") => {
                "persistence_timeout".into()
            }
            Value::Object(o) if o.contains_key("persistence_granularity") => {
                "persistence_granularity".into()
            }
            Value::Object(_) => "APP_COOKIE".into(),
            _ => field.to_string(),
        };
        unsupported(
            &b,
            "POST",
            POOLS,
            with(json!({"loadbalancer_id": lb, *field: value})),
            &named,
        );
        unsupported(
            &b,
            "PUT",
            &pool_path(&p),
            json!({"pool": {"name": "changed", *field: value}}),
            &named,
        );
    }
    for protocol in ["PROXY", "PROXYV2", "UDP", "SCTP"] {
        unsupported(
            &b,
            "POST",
            POOLS,
            with(json!({"loadbalancer_id": lb, "protocol": protocol})),
            &format!("protocol {protocol}"),
        );
    }
    for (field, value) in [
        (
            "healthmonitor",
            json!({"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 2}),
        ),
        (
            "members",
            json!([{"address": "127.0.0.1", "protocol_port": 9}]),
        ),
    ] {
        unsupported(
            &b,
            "POST",
            POOLS,
            with(json!({"loadbalancer_id": lb, field: value})),
            field,
        );
    }
    assert_eq!(list_ids(&b, "pools", ""), [p.as_str()]);
    assert_eq!(b.get(&pool_path(&p)).1["pool"]["name"], "");
}

/// A listener protocol and port, then the pool protocols behind it that
/// Ballast serves, that Octavia allows but Ballast does not serve, and that
/// Octavia calls invalid.
type ProtocolPairs = (
    &'static str,
    u16,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

#[test]
fn a_pool_takes_only_the_protocols_its_listener_can_carry() {
    let b = Ballast::start();
    let lb = id(&v2_lb(&b, "x"));
    let cert = certificate(&b);
    let listener = |protocol: &str, port: u16| {
        let mut body = json!({"loadbalancer_id": lb, "protocol": protocol, "protocol_port": port});
        if protocol == "TERMINATED_HTTPS" {
            body["default_tls_container_ref"] = json!(cert);
        }
        v2_child(&b, &lb, "listeners", json!({ "listener": body }))
    };
    // Octavia's VALID_LISTENER_POOL_PROTOCOL_MAP without PROXY, split into
    // what Ballast serves, what Octavia allows but Ballast does not serve
    // (refused as an unsupported option) and what Octavia calls invalid.
    let pairs: [ProtocolPairs; 4] = [
        ("TCP", 81, &["TCP"], &["HTTP", "HTTPS"], &[]),
        ("HTTP", 82, &["HTTP"], &[], &["TCP", "HTTPS"]),
        ("HTTPS", 83, &["HTTPS"], &["TCP"], &["HTTP"]),
        ("TERMINATED_HTTPS", 84, &["HTTP"], &[], &["TCP", "HTTPS"]),
    ];
    for (l_protocol, port, served, unserved, invalid) in pairs {
        let l = id(&listener(l_protocol, port));
        for p_protocol in unserved {
            unsupported(
                &b,
                "POST",
                POOLS,
                with(json!({"listener_id": l, "protocol": p_protocol})),
                &format!("pool protocol {p_protocol} behind a {l_protocol} listener"),
            );
        }
        for p_protocol in invalid {
            refused(
                &b,
                "POST",
                POOLS,
                Some(with(json!({"listener_id": l, "protocol": p_protocol}))),
                400,
                &format!(
                    "The pool protocol '{p_protocol}' is invalid while the listener \
                     protocol is '{l_protocol}'"
                ),
            );
        }
        // The same pairs are checked when a listener takes a standalone
        // pool as its default.
        for p_protocol in unserved.iter().chain(invalid) {
            let standalone = id(&v2_pool(
                &b,
                &lb,
                json!({"loadbalancer_id": lb, "protocol": p_protocol}),
            ));
            let v = refused(
                &b,
                "PUT",
                &format!("/v2/lbaas/listeners/{l}"),
                Some(json!({"listener": {"default_pool_id": standalone}})),
                400,
                p_protocol,
            );
            assert_fault(400, &v, 400, l_protocol);
            b.delete(&pool_path(&standalone));
            wait_active(&b, &lb);
        }
        let p = v2_pool(&b, &lb, json!({"listener_id": l, "protocol": served[0]}));
        assert_eq!(p["listeners"], id_list(&[&l]), "{l_protocol} carries {p}");
    }
}

#[test]
fn bad_pool_requests_are_refused_with_a_fault_and_change_nothing() {
    let b = Ballast::start();
    let lb = id(&v2_lb(&b, "x"));
    let other = id(&v2_lb(&b, "y"));
    let l = id(&v2_listener(&b, &lb, "TCP", 80));
    let unknown = "5e1a1c5e-0000-4000-8000-000000000006";
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            with(json!({})),
            400,
            "Either listener_id or loadbalancer_id must be specified",
        ),
        (
            with(json!({"listener_id": l, "loadbalancer_id": other, "protocol": "TCP"})),
            400,
            "Listener and Load Balancer must be the same",
        ),
        (with(json!({"listener_id": unknown})), 400, "listener_id"),
        (
            with(json!({"loadbalancer_id": unknown})),
            404,
            "Load Balancer 5e1a1c5e-0000-4000-8000-000000000006 not found",
        ),
        (
            with(json!({"loadbalancer_id": "x"})),
            400,
            "loadbalancer_id",
        ),
        (
            json!({"pool": {"loadbalancer_id": lb, "lb_algorithm": "ROUND_ROBIN"}}),
            400,
            "protocol",
        ),
        (
            json!({"pool": {"loadbalancer_id": lb, "protocol": "HTTP"}}),
            400,
            "lb_algorithm",
        ),
        (
            with(json!({"loadbalancer_id": lb, "lb_algorithm": "FASTEST"})),
            400,
            "lb_algorithm",
        ),
        (
            with(json!({"loadbalancer_id": lb, "protocol": "FTP"})),
            400,
            "protocol",
        ),
        (
            with(json!({"loadbalancer_id": lb, "session_persistence": {"type": "STICKY"}})),
            400,
            "session_persistence.type",
        ),
        (
            with(json!({"loadbalancer_id": lb, "session_persistence": {}})),
            400,
            "session_persistence.type",
        ),
        (
            with(json!({"loadbalancer_id": lb, "session_persistence":
                {"type": "SOURCE_IP", "cookie_name": "c"}})),
            400,
            "cookie_name",
        ),
        (
            with(json!({"loadbalancer_id": lb, "session_persistence":
                {"type": "HTTP_COOKIE", "cookie_name": "a b"}})),
            400,
            "cookie_name",
        ),
        (
            with(json!({"loadbalancer_id": lb, "protocol": "TCP",
                "session_persistence": {"type": "HTTP_COOKIE"}})),
            400,
            "HTTP_COOKIE",
        ),
        (
            with(json!({"loadbalancer_id": lb, "name": "n".repeat(256)})),
            400,
            "name",
        ),
        (
            with(json!({"loadbalancer_id": lb, "colour": "red"})),
            400,
            "colour",
        ),
        // Ballast asks that a pool's project be its load balancer's
        // (Octavia ignores the deprecated field and uses the load balancer's).
        (
            with(json!({"loadbalancer_id": lb, "project_id": "other"})),
            400,
            "project_id",
        ),
        (json!({"protocol": "HTTP"}), 400, "\"pool\""),
    ];
    for (body, want, needle) in cases {
        refused(&b, "POST", POOLS, Some(body), want, needle);
    }
    let (s, v) = b.post(
        POOLS,
        with(json!({"loadbalancer_id": lb, "project_id": "ballast"})),
    );
    assert_eq!(s, 201, "{v}");
}

#[test]
fn lists_filter_sort_page_and_cut_fields_as_octavia() {
    let b = Ballast::start();
    let lb1 = id(&v2_lb(&b, "one"));
    let lb2 = id(&v2_lb(&b, "two"));
    let l = id(&v2_listener(&b, &lb1, "HTTP", 80));
    let a = id(&v2_pool(
        &b,
        &lb1,
        json!({"listener_id": l, "protocol": "HTTP", "name": "a", "tags": ["t1", "t2"]}),
    ));
    let bb = id(&v2_pool(
        &b,
        &lb1,
        json!({"loadbalancer_id": lb1, "protocol": "TCP", "name": "b", "tags": ["t2"],
            "admin_state_up": false, "lb_algorithm": "SOURCE_IP"}),
    ));
    let c = id(&v2_pool(
        &b,
        &lb2,
        json!({"loadbalancer_id": lb2, "protocol": "HTTP", "name": "c",
            "lb_algorithm": "LEAST_CONNECTIONS"}),
    ));
    let hm = v2_child(
        &b,
        &lb1,
        "healthmonitors",
        json!({"healthmonitor": {"pool_id": a, "type": "TCP", "delay": 5, "timeout": 3,
            "max_retries": 2}}),
    );
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let all = sorted(vec![a.clone(), bb.clone(), c.clone()]);
    let by = |q: &str| sorted(list_ids(&b, "pools", q));
    assert_eq!(by(""), all);
    assert_eq!(
        by(&format!("id={a}&id={c}")),
        sorted(vec![a.clone(), c.clone()])
    );
    assert_eq!(by("name=b"), [bb.as_str()]);
    assert_eq!(by("protocol=HTTP"), sorted(vec![a.clone(), c.clone()]));
    assert_eq!(by("lb_algorithm=SOURCE_IP"), [bb.as_str()]);
    assert_eq!(
        by(&format!("loadbalancer_id={lb1}")),
        sorted(vec![a.clone(), bb.clone()])
    );
    assert_eq!(by(&format!("listener_id={l}")), [a.as_str()]);
    assert_eq!(by(&format!("healthmonitor_id={}", id(&hm))), [a.as_str()]);
    for v in ["True", "true"] {
        assert_eq!(
            by(&format!("admin_state_up={v}")),
            sorted(vec![a.clone(), c.clone()])
        );
    }
    for v in ["False", "false"] {
        assert_eq!(by(&format!("admin_state_up={v}")), [bb.as_str()]);
    }
    assert_eq!(by("tls_enabled=False"), all);
    assert_eq!(by("tls_enabled=true"), Vec::<String>::new());
    assert_eq!(by("provisioning_status=ACTIVE"), all);
    assert_eq!(by("project_id=ballast"), all);
    assert_eq!(by("tags=t2"), sorted(vec![a.clone(), bb.clone()]));
    assert_eq!(by("tags-any=t1,x"), [a.as_str()]);
    assert_eq!(by("not-tags=t2"), [c.as_str()]);
    assert_eq!(by("not-tags-any=t1"), sorted(vec![bb.clone(), c.clone()]));
    for q in ["colour=red", "members=x", "session_persistence=x"] {
        refused(
            &b,
            "GET",
            &format!("{POOLS}?{q}"),
            None,
            400,
            "One or more arguments are either duplicate or invalid",
        );
    }

    let by = |q: &str| list_ids(&b, "pools", q);
    assert_eq!(by("sort=name:desc"), [c.as_str(), bb.as_str(), a.as_str()]);
    assert_eq!(
        by("sort=lb_algorithm:asc,name:asc"),
        [c.as_str(), a.as_str(), bb.as_str()]
    );
    assert_eq!(
        by("sort_key=protocol,name&sort_dir=desc,desc"),
        [bb.as_str(), c.as_str(), a.as_str()]
    );
    for (q, needle) in [
        ("sort=name:sideways", "sort direction"),
        ("sort=colour:asc", "sort key 'colour'"),
    ] {
        refused(&b, "GET", &format!("{POOLS}?{q}"), None, 400, needle);
    }
    let (_, first) = b.get(&format!("{POOLS}?sort=name&limit=1"));
    assert_eq!(common::v2::ids(&first, "pools"), [a.as_str()]);
    let mut seen = vec![a.clone()];
    let mut next = first["pools_links"][0]["href"].as_str().map(String::from);
    // Following `next` ends: the CLI loops until it is absent.
    for _ in 0..5 {
        let Some(href) = next.take() else { break };
        let (s, page) = http("GET", &href, None);
        assert_eq!(s, 200, "{page}");
        seen.extend(common::v2::ids(&page, "pools"));
        next = page["pools_links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .and_then(|l| l["href"].as_str())
            .map(String::from);
    }
    assert!(next.is_none(), "the next links never ended");
    assert_eq!(seen, [a.as_str(), bb.as_str(), c.as_str()]);
    assert_eq!(
        by(&format!("sort=name&marker={c}&page_reverse=True")),
        [a.as_str(), bb.as_str()]
    );
    refused(
        &b,
        "GET",
        &format!("{POOLS}?marker={lb1}"),
        None,
        400,
        "pagination marker",
    );
    let (_, v) = b.get(&format!("{POOLS}?limit=100000"));
    assert_eq!(v["pools"].as_array().unwrap().len(), 3);
    let (s, one) = b.get(&format!("{}?fields=lb_algorithm,members", pool_path(&c)));
    assert_eq!(
        (s, one),
        (
            200,
            json!({"pool": {"lb_algorithm": "LEAST_CONNECTIONS", "members": []}})
        )
    );
}
