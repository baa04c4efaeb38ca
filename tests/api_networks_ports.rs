//! `/v1/networks` (the host networks) and `/v1/ports` (address reservations):
//! shapes, bare lists, address rules, and ports in use.

mod common;

use common::api::{NETWORK_KEYS, PORT_KEYS, assert_keys, assert_uuid, lb_path};
use common::{Ballast, assert_fault};
use serde_json::{Value, json};

fn host(b: &Ballast, last: u8) -> String {
    format!("{}.{last}", b.cidr.rsplit_once('.').unwrap().0)
}

#[test]
fn networks_list_the_configured_network_as_a_bare_array() {
    let b = Ballast::start();
    let (s, nets) = b.get("/v1/networks");
    assert_eq!(s, 200);
    let nets = nets.as_array().expect("a bare array");
    assert_eq!(nets.len(), 1);
    let net = &nets[0];
    assert_keys(net, NETWORK_KEYS);
    assert_uuid(&net["id"]);
    assert_eq!(net["name"], "test");
    assert_eq!(net["cidr"], b.cidr.as_str());
    assert_eq!(net["mode"], "loopback");
    assert_eq!(net["interface"], Value::Null);
    let (s, one) = b.get(&format!("/v1/networks/{}", net["id"].as_str().unwrap()));
    assert_eq!(s, 200);
    assert_eq!(&one, net);
}

#[test]
fn a_port_gets_the_next_free_address_or_the_one_asked_for() {
    let b = Ballast::start();
    let net = b.network_id();
    assert_eq!(b.get("/v1/ports"), (200, json!([])));
    let (s, p) = b.post("/v1/ports", json!({"network_id": net}));
    assert_eq!(s, 202, "{p}");
    assert_keys(&p, PORT_KEYS);
    assert_uuid(&p["id"]);
    assert_eq!(p["network_id"], net.as_str());
    assert_eq!(p["ip_address"], host(&b, 1), "the first host address");
    assert_eq!(p["load_balancer_id"], Value::Null);

    let pid = uuid::Uuid::new_v4().to_string();
    let (s, q) = b.post(
        "/v1/ports",
        json!({"id": pid.to_uppercase(), "network_id": net, "ip_address": host(&b, 77)}),
    );
    assert_eq!(s, 202, "{q}");
    assert_eq!(q["id"], pid.as_str());
    assert_eq!(q["ip_address"], host(&b, 77));

    let (s, got) = b.get(&format!("/v1/ports/{pid}"));
    assert_eq!(s, 200);
    assert_eq!(got, q);
    let (s, list) = b.get("/v1/ports");
    assert_eq!(s, 200);
    assert_eq!(list, json!([p, q]), "a bare array, oldest first");

    // A load balancer's VIP takes the next free address, skipping both.
    let lb = b.create_lb();
    assert_eq!(lb["vip"]["ip_address"], host(&b, 2));
}

#[test]
fn bad_ports_are_400_or_409_and_change_nothing() {
    let b = Ballast::start();
    let net = b.network_id();
    let (_, taken) = b.post(
        "/v1/ports",
        json!({"network_id": net, "ip_address": host(&b, 5)}),
    );
    let lb = b.create_lb();
    let before = b.snapshot();
    let cases = [
        (json!({}), 400, "network_id".to_string()),
        (json!({"ip_address": host(&b, 9)}), 400, "network_id".into()),
        (json!({"network_id": "net"}), 400, "network_id".into()),
        (
            json!({"network_id": uuid::Uuid::new_v4().to_string()}),
            400,
            "network_id".into(),
        ),
        (
            json!({"network_id": net, "ip_address": "nope"}),
            400,
            "ip_address".into(),
        ),
        (
            json!({"network_id": net, "ip_address": "10.1.2.3"}),
            400,
            "ip_address".into(),
        ),
        (
            json!({"network_id": net, "ip_address": host(&b, 0)}),
            400,
            "ip_address".into(),
        ),
        (
            json!({"network_id": net, "ip_address": 5}),
            400,
            "ip_address".into(),
        ),
        (json!({"network_id": net, "id": "p1"}), 400, "id".into()),
        (
            json!({"network_id": net, "load_balancer_id": lb["id"]}),
            400,
            "load_balancer_id".into(),
        ),
        (json!({"network_id": net, "name": "p"}), 400, "name".into()),
        // Taken: by another port, by a VIP; a taken id.
        (
            json!({"network_id": net, "ip_address": host(&b, 5)}),
            409,
            host(&b, 5),
        ),
        (
            json!({"network_id": net, "ip_address": lb["vip"]["ip_address"]}),
            409,
            lb["vip"]["ip_address"].as_str().unwrap().to_string(),
        ),
        (
            json!({"network_id": net, "id": taken["id"]}),
            409,
            taken["id"].as_str().unwrap().to_string(),
        ),
        (
            json!({"network_id": net, "id": lb["vip"]["port_id"]}),
            409,
            lb["vip"]["port_id"].as_str().unwrap().to_string(),
        ),
    ];
    for (body, status, needle) in cases {
        b.expect_fault(&before, "POST", "/v1/ports", Some(body), status, &needle);
    }
}

#[test]
fn a_port_in_use_cannot_be_deleted_and_a_free_one_can() {
    let b = Ballast::start();
    let net = b.network_id();
    let lb = b.create_lb();
    let lb_id = lb["id"].as_str().unwrap();
    let vip_port = lb["vip"]["port_id"].as_str().unwrap().to_string();
    let (_, free) = b.post("/v1/ports", json!({"network_id": net}));
    let free_id = free["id"].as_str().unwrap().to_string();
    let (_, adopted) = b.post("/v1/ports", json!({"network_id": net}));
    let adopted_id = adopted["id"].as_str().unwrap().to_string();
    let (s, lb2) = b.post("/v1/loadbalancers", json!({"vip": {"port_id": adopted_id}}));
    assert_eq!(s, 202, "{lb2}");
    let lb2_id = lb2["id"].as_str().unwrap().to_string();
    b.wait_lb_active(&lb2_id);

    let before = b.snapshot();
    for (port, owner) in [(&vip_port, lb_id), (&adopted_id, lb2_id.as_str())] {
        b.expect_fault(
            &before,
            "DELETE",
            &format!("/v1/ports/{port}"),
            None,
            409,
            owner,
        );
    }

    let (s, body) = b.delete(&format!("/v1/ports/{free_id}"));
    assert_eq!(s, 202, "{body}");
    assert!(body.is_null(), "DELETE answers no body: {body}");
    let (s, v) = b.get(&format!("/v1/ports/{free_id}"));
    assert_fault(s, &v, 404, "not found");
    // Its address can be reserved again.
    let (s, again) = b.post(
        "/v1/ports",
        json!({"network_id": net, "ip_address": free["ip_address"]}),
    );
    assert_eq!(s, 202, "{again}");

    // Once its load balancer is DELETED, the adopted port is free to delete.
    let (s, _) = b.delete(&lb_path(&lb2_id));
    assert_eq!(s, 202);
    b.wait_lb_deleted(&lb2_id);
    let (_, p) = b.get(&format!("/v1/ports/{adopted_id}"));
    assert_eq!(p["load_balancer_id"], Value::Null, "{p}");
    let (s, _) = b.delete(&format!("/v1/ports/{adopted_id}"));
    assert_eq!(s, 202);
    assert_eq!(b.get(&format!("/v1/ports/{adopted_id}")).0, 404);
}
