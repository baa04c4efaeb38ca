//! The v2 API's load balancers, listeners and pools: discovery, codes,
//! bodies, lists, refusals of unsupported options, and the same rows seen
//! through `/v1` and `/v2` alike.

mod common;

use std::time::Duration;

use common::api::assert_uuid;
use common::{Ballast, assert_fault, http_raw, wait_until};
use serde_json::{Value, json};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// Create a load balancer through v2 on the instance's subnet; wait ACTIVE.
fn v2_lb(b: &Ballast, name: &str) -> Value {
    let (_, nets) = b.get("/v1/networks");
    let net = nets[0]["id"].as_str().unwrap().to_string();
    let (s, lb) = b.post(
        "/v2/lbaas/loadbalancers",
        json!({"loadbalancer": {"vip_network_id": net, "name": name, "tags": ["t1"]}}),
    );
    assert_eq!(s, 201, "{lb}");
    let lb = lb["loadbalancer"].clone();
    wait_active(b, &id(&lb))
}

fn wait_active(b: &Ballast, lb: &str) -> Value {
    let mut last = Value::Null;
    wait_until(Duration::from_secs(10), "v2 load balancer ACTIVE", || {
        last = b.get(&format!("/v2/lbaas/loadbalancers/{lb}")).1["loadbalancer"].clone();
        last["provisioning_status"] == "ACTIVE"
    });
    last
}

#[test]
fn discovery_answers_the_versions_document_to_json_clients_and_the_ui_to_browsers() {
    let b = Ballast::start();
    let (s, text) = http_raw("GET", &b.url("/"), None, &[("Accept", "application/json")]);
    assert_eq!(s, 200);
    let doc: Value = serde_json::from_str(&text).unwrap();
    let v = &doc["versions"][0];
    assert_eq!(
        (v["id"].as_str(), v["status"].as_str()),
        (Some("v2.0"), Some("CURRENT"))
    );
    assert_eq!(v["links"][0]["href"], b.url("/v2.0/"));
    let (s, html) = http_raw(
        "GET",
        &b.url("/"),
        None,
        &[("Accept", "text/html,*/*;q=0.8")],
    );
    assert_eq!(s, 200);
    assert!(
        html.contains("<html") || html.contains("<!doctype"),
        "{html}"
    );
    for path in ["/v2", "/v2.0"] {
        let (s, v) = b.get(path);
        assert_eq!(s, 200);
        assert_eq!(v["version"]["id"], "v2.0", "{v}");
    }
}

#[test]
fn a_load_balancer_lifecycle_answers_octavias_codes_and_bodies_under_both_prefixes() {
    let b = Ballast::start();
    let lb = v2_lb(&b, "web");
    let lb_id = id(&lb);
    assert_uuid(&lb["id"]);
    assert_eq!(lb["admin_state_up"], true);
    assert_eq!(lb["project_id"], "ballast");
    assert_eq!(lb["provider"], "ballast");
    assert_eq!(lb["tags"], json!(["t1"]));
    assert_uuid(&lb["vip_subnet_id"]);
    assert!(lb["created_at"].as_str().unwrap().contains('T'));
    // Made on the subnet id, as the CLI does.
    let (s, other) = b.post(
        "/v2.0/lbaas/loadbalancers",
        json!({"loadbalancer": {"vip_subnet_id": lb["vip_subnet_id"], "project_id": "p2"}}),
    );
    assert_eq!(s, 201, "{other}");
    assert_eq!(other["loadbalancer"]["project_id"], "p2");
    assert_eq!(
        other["loadbalancer"]["vip_network_id"],
        lb["vip_network_id"]
    );
    let other_id = id(&other["loadbalancer"]);
    wait_active(&b, &other_id);

    let (s, put) = b.put(
        &format!("/v2/lbaas/loadbalancers/{lb_id}"),
        json!({"loadbalancer": {"name": "renamed", "description": null}}),
    );
    assert_eq!(s, 200, "{put}");
    assert_eq!(put["loadbalancer"]["name"], "renamed");
    // A write while it is PENDING_UPDATE is 409: two writes back to back
    // until the second lands before the controller settles the first.
    let path = format!("/v2/lbaas/loadbalancers/{lb_id}");
    let mut saw_conflict = false;
    for _ in 0..20 {
        wait_active(&b, &lb_id);
        b.put(&path, json!({"loadbalancer": {"name": "renamed"}}));
        let (s, busy) = b.put(&path, json!({"loadbalancer": {"name": "renamed"}}));
        if s == 409 {
            assert_fault(s, &busy, 409, "accepts changes only when ACTIVE or ERROR");
            saw_conflict = true;
            break;
        }
    }
    assert!(
        saw_conflict,
        "no write ever met a PENDING_UPDATE load balancer"
    );
    wait_active(&b, &lb_id);

    let (s, fo) = b.put(
        &format!("/v2/lbaas/loadbalancers/{lb_id}/failover"),
        json!({}),
    );
    assert_eq!(s, 202, "{fo}");
    wait_active(&b, &lb_id);

    let (s, st) = b.get(&format!("/v2/lbaas/loadbalancers/{lb_id}/status"));
    assert_eq!(s, 200);
    assert_eq!(st["statuses"]["loadbalancer"]["id"], lb_id.as_str());
    let (s, stats) = b.get(&format!("/v2/lbaas/loadbalancers/{lb_id}/stats"));
    assert_eq!(s, 200);
    assert_eq!(stats["stats"]["request_errors"], 0);

    // Lists: filters, sort, pagination, fields.
    let (_, all) = b.get("/v2/lbaas/loadbalancers?sort=name:asc&fields=id,name");
    let names: Vec<&str> = all["loadbalancers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["", "renamed"]);
    assert_eq!(all["loadbalancers"][0].as_object().unwrap().len(), 2);
    assert_eq!(all["loadbalancers_links"], json!([]));
    let (_, mine) = b.get("/v2/lbaas/loadbalancers?project_id=p2&admin_state_up=True");
    assert_eq!(mine["loadbalancers"].as_array().unwrap().len(), 1);
    let (_, page) = b.get("/v2/lbaas/loadbalancers?limit=1");
    assert_eq!(page["loadbalancers"].as_array().unwrap().len(), 1);
    assert_eq!(page["loadbalancers_links"][0]["rel"], "next");
    let (_, tagged) = b.get("/v2/lbaas/loadbalancers?tags=t1");
    assert_eq!(tagged["loadbalancers"][0]["id"], lb_id.as_str());
    let (s, bad) = b.get("/v2/lbaas/loadbalancers?colour=red");
    assert_fault(s, &bad, 400, "invalid");

    for path in ["not-a-uuid", "00000000-0000-4000-8000-000000000000"] {
        let (s, nf) = b.get(&format!("/v2/lbaas/loadbalancers/{path}?fields=id"));
        assert_fault(s, &nf, 404, "not found");
    }
    let (s, _) = b.delete(&format!("/v2/lbaas/loadbalancers/{other_id}"));
    assert_eq!(s, 204);
}

#[test]
fn unsupported_options_are_refused_with_400_and_change_nothing() {
    let b = Ballast::start();
    let lb = v2_lb(&b, "x");
    let lb_id = id(&lb);
    let net = lb["vip_network_id"].clone();
    let cases = [
        (
            "/v2/lbaas/loadbalancers",
            json!({"loadbalancer": {"vip_network_id": net, "vip_qos_policy_id": "q"}}),
            "vip_qos_policy_id",
        ),
        (
            "/v2/lbaas/listeners",
            json!({"listener": {"loadbalancer_id": lb_id, "protocol": "HTTP",
                "protocol_port": 80, "timeout_client_data": 1000}}),
            "timeout_client_data",
        ),
        (
            "/v2/lbaas/listeners",
            json!({"listener": {"loadbalancer_id": lb_id, "protocol": "UDP",
                "protocol_port": 53}}),
            "protocol UDP",
        ),
        (
            "/v2/lbaas/pools",
            json!({"pool": {"loadbalancer_id": lb_id, "protocol": "HTTP",
                "lb_algorithm": "SOURCE_IP_PORT"}}),
            "SOURCE_IP_PORT",
        ),
        (
            "/v2/lbaas/pools",
            json!({"pool": {"loadbalancer_id": lb_id, "protocol": "HTTP",
                "lb_algorithm": "ROUND_ROBIN",
                "session_persistence": {"type": "APP_COOKIE", "cookie_name": "c"}}}),
            "APP_COOKIE",
        ),
    ];
    for (path, body, needle) in cases {
        let (s, fault) = b.post(path, body);
        assert_fault(
            s,
            &fault,
            400,
            "Provider 'ballast' does not support a requested option",
        );
        assert_fault(s, &fault, 400, needle);
    }
    let (_, lbs) = b.get("/v2/lbaas/loadbalancers");
    assert_eq!(lbs["loadbalancers"].as_array().unwrap().len(), 1);
    let (_, ls) = b.get("/v2/lbaas/listeners");
    assert_eq!(ls["listeners"], json!([]));
    let (_, ps) = b.get("/v2/lbaas/pools");
    assert_eq!(ps["pools"], json!([]));
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
        "/v2/lbaas/pools",
        json!({"pool": {"listener_id": l_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}),
    );
    assert_eq!(s, 201);
    wait_active(&b, &lb_id);
    // A second default pool for the listener is 409.
    let (s, taken) = b.post(
        "/v2/lbaas/pools",
        json!({"pool": {"listener_id": l_id, "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}}),
    );
    assert_fault(s, &taken, 409, "already has a default pool");
    wait_active(&b, &lb_id);
    let (s, standalone) = b.post(
        "/v2/lbaas/pools",
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
    let (_, byl) = b.get(&format!("/v2/lbaas/pools?listener_id={l_id}"));
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
    let (_, ps) = b.get("/v2/lbaas/pools");
    assert_eq!(ps["pools"], json!([]));
}

#[test]
fn a_load_balancer_made_in_v1_is_seen_changed_and_deleted_in_v2() {
    let b = Ballast::start();
    let lb = b.create_lb();
    let lb_id = id(&lb);
    let (s, v2) = b.get(&format!("/v2/lbaas/loadbalancers/{lb_id}"));
    assert_eq!(s, 200);
    assert_eq!(v2["loadbalancer"]["vip_address"], lb["vip"]["ip_address"]);
    let (s, _) = b.put(
        &format!("/v2/lbaas/loadbalancers/{lb_id}"),
        json!({"loadbalancer": {"admin_state_up": false}}),
    );
    assert_eq!(s, 200);
    b.wait_lb_active(&lb_id);
    let (_, v1) = b.get(&format!("/v1/loadbalancers/{lb_id}"));
    assert_eq!(v1["enabled"], false);
    let (s, _) = b.delete(&format!("/v2/lbaas/loadbalancers/{lb_id}"));
    assert_eq!(s, 204);
    wait_until(Duration::from_secs(10), "v1 sees it DELETED", || {
        b.get(&format!("/v1/loadbalancers/{lb_id}")).1["provisioning_status"] == "DELETED"
    });
}
