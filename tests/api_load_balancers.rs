//! `/v1/loadbalancers`: shapes, defaults, client ids, the VIP rules, updates,
//! the lock (409 unless ACTIVE or ERROR) and delete.

mod common;

use common::api::{LB_KEYS, PORT_KEYS, VIP_KEYS, assert_keys, assert_uuid, lb_path};
use common::{Ballast, assert_fault};
use serde_json::{Value, json};

fn ip_in(b: &Ballast, ip: &Value) -> bool {
    let prefix = b.cidr.rsplit_once('.').unwrap().0;
    ip.as_str()
        .is_some_and(|s| s.starts_with(&format!("{prefix}.")))
}

/// A host address of the instance's /24: `127.a.b.{last}`.
fn host(b: &Ballast, last: u8) -> String {
    format!("{}.{last}", b.cidr.rsplit_once('.').unwrap().0)
}

#[test]
fn create_answers_every_field_with_defaults_and_pending_create() {
    let b = Ballast::start();
    let net = b.network_id();
    let (s, lb) = b.post("/v1/loadbalancers", json!({"vip": {"network_id": net}}));
    assert_eq!(s, 202, "{lb}");
    assert_keys(&lb, LB_KEYS);
    assert_keys(&lb["vip"], VIP_KEYS);
    assert_uuid(&lb["id"]);
    assert_uuid(&lb["vip"]["port_id"]);
    assert_eq!(lb["vip"]["network_id"], net);
    assert!(ip_in(&b, &lb["vip"]["ip_address"]), "{lb}");
    assert_eq!(lb["tenant_id"], Value::Null);
    assert_eq!(lb["name"], Value::Null);
    assert_eq!(lb["description"], Value::Null);
    assert_eq!(lb["enabled"], true);
    assert_eq!(lb["provisioning_status"], "PENDING_CREATE");
    assert_eq!(lb["operating_status"], "OFFLINE");

    let id = lb["id"].as_str().unwrap();
    let active = b.wait_lb_active(id);
    assert_keys(&active, LB_KEYS);
    assert_eq!(active["vip"], lb["vip"], "the VIP does not move");

    // The VIP's port exists, bound to the load balancer.
    let (s, port) = b.get(&format!(
        "/v1/ports/{}",
        lb["vip"]["port_id"].as_str().unwrap()
    ));
    assert_eq!(s, 200, "{port}");
    assert_keys(&port, PORT_KEYS);
    assert_eq!(port["load_balancer_id"], lb["id"]);
    assert_eq!(port["ip_address"], lb["vip"]["ip_address"]);

    // A list is a bare array of the same shape.
    let (s, list) = b.get("/v1/loadbalancers");
    assert_eq!(s, 200);
    let list = list.as_array().expect("a bare array");
    assert_eq!(list.len(), 1);
    assert_eq!(list[0], active);
}

#[test]
fn create_echoes_every_given_field() {
    let b = Ballast::start();
    let name = "n".repeat(255);
    let (s, lb) = b.post(
        "/v1/loadbalancers",
        json!({"vip": {"network_id": b.network_id()}, "tenant_id": "t-1",
               "name": name, "description": "d", "enabled": false}),
    );
    assert_eq!(s, 202, "{lb}");
    assert_keys(&lb, LB_KEYS);
    assert_eq!(lb["tenant_id"], "t-1");
    assert_eq!(lb["name"], name.as_str());
    assert_eq!(lb["description"], "d");
    assert_eq!(lb["enabled"], false);
    let active = b.wait_lb_active(lb["id"].as_str().unwrap());
    for k in ["tenant_id", "name", "description", "enabled", "vip", "id"] {
        assert_eq!(active[k], lb[k], "{k}");
    }
}

#[test]
fn a_client_supplied_id_is_used_in_lowercase_and_a_taken_one_is_409() {
    let b = Ballast::start();
    let id = uuid::Uuid::new_v4();
    let upper = id.hyphenated().to_string().to_uppercase();
    let (s, lb) = b.post(
        "/v1/loadbalancers",
        json!({"id": upper, "vip": {"network_id": b.network_id()}}),
    );
    assert_eq!(s, 202, "{lb}");
    assert_eq!(lb["id"], id.to_string());
    b.wait_lb_active(&id.to_string());
    assert_eq!(b.get(&lb_path(&id.to_string())).0, 200);

    let before = b.snapshot();
    for given in [id.to_string(), upper] {
        b.expect_fault(
            &before,
            "POST",
            "/v1/loadbalancers",
            Some(json!({"id": given, "vip": {"network_id": b.network_id()}})),
            409,
            &id.to_string(),
        );
    }
    for bad in [json!("lb-1"), json!(""), json!(7), json!({"id": 1})] {
        b.expect_fault(
            &before,
            "POST",
            "/v1/loadbalancers",
            Some(json!({"id": bad, "vip": {"network_id": b.network_id()}})),
            400,
            "id",
        );
    }
}

#[test]
fn bad_create_bodies_are_400_naming_the_field_and_change_nothing() {
    let b = Ballast::start();
    b.create_lb();
    let before = b.snapshot();
    let net = b.network_id();
    let long = "x".repeat(256);
    let cases = [
        (json!({}), "vip"),
        (json!({"name": "a"}), "vip"),
        (json!({"vip": null}), "vip"),
        (json!({"vip": {}}), "vip"),
        (json!({"vip": "x"}), "vip"),
        (json!({"vip": {"ip_address": host(&b, 9)}}), "vip"),
        (json!({"vip": {"network_id": "net"}}), "network_id"),
        (json!({"vip": {"network_id": 5}}), "network_id"),
        (
            json!({"vip": {"network_id": uuid::Uuid::new_v4().to_string()}}),
            "network_id",
        ),
        (json!({"vip": {"port_id": "p"}}), "port_id"),
        (
            json!({"vip": {"port_id": uuid::Uuid::new_v4().to_string()}}),
            "port_id",
        ),
        (
            json!({"vip": {"network_id": net, "ip_address": "nope"}}),
            "ip_address",
        ),
        (
            json!({"vip": {"network_id": net, "ip_address": "10.0.0.1"}}),
            "ip_address",
        ),
        (
            json!({"vip": {"network_id": net, "ip_address": "127.0.0.1"}}),
            "ip_address",
        ),
        (
            json!({"vip": {"network_id": net, "ip_address": host(&b, 0)}}),
            "ip_address",
        ),
        (
            json!({"vip": {"network_id": net, "ip_address": host(&b, 255)}}),
            "ip_address",
        ),
        (
            json!({"vip": {"network_id": net, "subnet_id": "s"}}),
            "subnet_id",
        ),
        (json!({"vip": {"network_id": net}, "name": long}), "name"),
        (
            json!({"vip": {"network_id": net}, "description": long}),
            "description",
        ),
        (
            json!({"vip": {"network_id": net}, "tenant_id": long}),
            "tenant_id",
        ),
        (json!({"vip": {"network_id": net}, "name": 5}), "name"),
        (
            json!({"vip": {"network_id": net}, "enabled": "yes"}),
            "enabled",
        ),
        (json!({"vip": {"network_id": net}, "enabled": 1}), "enabled"),
        (json!({"vip": {"network_id": net}, "color": "red"}), "color"),
        (
            json!({"vip": {"network_id": net}, "provisioning_status": "ACTIVE"}),
            "provisioning_status",
        ),
        (
            json!({"vip": {"network_id": net}, "operating_status": "ONLINE"}),
            "operating_status",
        ),
    ];
    for (body, needle) in cases {
        b.expect_fault(
            &before,
            "POST",
            "/v1/loadbalancers",
            Some(body),
            400,
            needle,
        );
    }
}

#[test]
fn an_explicit_vip_address_is_used_and_a_taken_one_is_409() {
    let b = Ballast::start();
    let net = b.network_id();
    let ip = host(&b, 42);
    let (s, lb) = b.post(
        "/v1/loadbalancers",
        json!({"vip": {"network_id": net, "ip_address": ip}}),
    );
    assert_eq!(s, 202, "{lb}");
    assert_eq!(lb["vip"]["ip_address"], ip.as_str());
    b.wait_lb_active(lb["id"].as_str().unwrap());

    // Taken by a VIP, and taken by a client's free port.
    let (s, port) = b.post(
        "/v1/ports",
        json!({"network_id": net, "ip_address": host(&b, 43)}),
    );
    assert_eq!(s, 202, "{port}");
    let before = b.snapshot();
    for taken in [ip, host(&b, 43)] {
        b.expect_fault(
            &before,
            "POST",
            "/v1/loadbalancers",
            Some(json!({"vip": {"network_id": net, "ip_address": taken}})),
            409,
            &taken,
        );
    }
}

#[test]
fn a_vip_by_port_id_adopts_the_port_and_gives_it_back_on_delete() {
    let b = Ballast::start();
    let net = b.network_id();
    let (s, port) = b.post("/v1/ports", json!({"network_id": net}));
    assert_eq!(s, 202, "{port}");
    let port_id = port["id"].as_str().unwrap().to_string();

    let (s, lb) = b.post("/v1/loadbalancers", json!({"vip": {"port_id": port_id}}));
    assert_eq!(s, 202, "{lb}");
    assert_eq!(lb["vip"]["port_id"], port_id.as_str());
    assert_eq!(
        lb["vip"]["network_id"],
        net.as_str(),
        "network_id filled in"
    );
    assert_eq!(lb["vip"]["ip_address"], port["ip_address"]);
    let lb_id = lb["id"].as_str().unwrap().to_string();
    b.wait_lb_active(&lb_id);
    let (_, p) = b.get(&format!("/v1/ports/{port_id}"));
    assert_eq!(p["load_balancer_id"], lb_id.as_str());

    // The port is in use: adopting it again, or deleting it, is 409.
    let before = b.snapshot();
    b.expect_fault(
        &before,
        "POST",
        "/v1/loadbalancers",
        Some(json!({"vip": {"port_id": port_id}})),
        409,
        &port_id,
    );
    b.expect_fault(
        &before,
        "DELETE",
        &format!("/v1/ports/{port_id}"),
        None,
        409,
        &lb_id,
    );
    // A port_id that disagrees with the given network or address is 400.
    let other_net = uuid::Uuid::new_v4().to_string();
    b.expect_fault(
        &before,
        "POST",
        "/v1/loadbalancers",
        Some(json!({"vip": {"port_id": port_id, "network_id": other_net}})),
        400,
        "network_id",
    );
    b.expect_fault(
        &before,
        "POST",
        "/v1/loadbalancers",
        Some(json!({"vip": {"port_id": port_id, "ip_address": host(&b, 200)}})),
        400,
        "ip_address",
    );

    // A load balancer with a VIP of its own, for comparison.
    let own = b.create_lb();
    let own_port = own["vip"]["port_id"].as_str().unwrap().to_string();

    for id in [&lb_id, own["id"].as_str().unwrap()] {
        let (s, body) = b.delete(&lb_path(id));
        assert_eq!(s, 202, "{body}");
        assert!(body.is_null(), "{body}");
        b.wait_lb_deleted(id);
    }
    // The client's port is kept, free again; the load balancer's own is gone.
    let (s, p) = b.get(&format!("/v1/ports/{port_id}"));
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["load_balancer_id"], Value::Null);
    assert_eq!(p["ip_address"], port["ip_address"]);
    let (s, v) = b.get(&format!("/v1/ports/{own_port}"));
    assert_fault(s, &v, 404, "not found");
    let (_, ports) = b.get("/v1/ports");
    assert_eq!(ports.as_array().unwrap().len(), 1, "{ports}");

    // Free again: a new load balancer may adopt it.
    let (s, lb2) = b.post("/v1/loadbalancers", json!({"vip": {"port_id": port_id}}));
    assert_eq!(s, 202, "{lb2}");
    b.wait_lb_active(lb2["id"].as_str().unwrap());
}

#[test]
fn update_returns_the_new_values_with_pending_update() {
    let b = Ballast::start();
    let lb = b.create_lb();
    let id = lb["id"].as_str().unwrap();
    let (s, up) = b.put(
        &lb_path(id),
        json!({"name": "web", "description": "front", "enabled": false}),
    );
    assert_eq!(s, 202, "{up}");
    assert_keys(&up, LB_KEYS);
    assert_eq!(up["name"], "web");
    assert_eq!(up["description"], "front");
    assert_eq!(up["enabled"], false);
    assert_eq!(up["provisioning_status"], "PENDING_UPDATE");
    assert_eq!(up["vip"], lb["vip"]);
    let active = b.wait_lb_active(id);
    assert_eq!(active["name"], "web");
    assert_eq!(active["enabled"], false);

    // An empty update is refused and takes no lock (issue 14).
    let (s, v) = b.put(&lb_path(id), json!({}));
    assert_fault(s, &v, 400, "an update must name at least one field");
    assert_eq!(b.get(&lb_path(id)).1["provisioning_status"], "ACTIVE");
    // null clears a nullable field; an absent one is left alone.
    let up = b.put_and_settle(id, &lb_path(id), json!({"name": null, "enabled": true}));
    assert_eq!(up["name"], Value::Null);
    assert_eq!(up["description"], "front");
    assert_eq!(up["enabled"], true);
    let (_, now) = b.get(&lb_path(id));
    assert_eq!(now["name"], Value::Null);
    assert_eq!(now["description"], "front");
}

#[test]
fn bad_updates_are_400_naming_the_field_and_change_nothing() {
    let b = Ballast::start();
    let lb = b.create_lb();
    let id = lb["id"].as_str().unwrap();
    let before = b.snapshot();
    let long = "x".repeat(256);
    let cases = [
        (json!({"vip": {"network_id": b.network_id()}}), "vip"),
        (json!({"vip": null}), "vip"),
        (
            json!({"provisioning_status": "ACTIVE"}),
            "provisioning_status",
        ),
        (json!({"operating_status": "OFFLINE"}), "operating_status"),
        (json!({"id": uuid::Uuid::new_v4().to_string()}), "id"),
        (json!({"tenant_id": "t"}), "tenant_id"),
        (json!({"name": long}), "name"),
        (json!({"description": long}), "description"),
        (json!({"name": ["a"]}), "name"),
        (json!({"enabled": "false"}), "enabled"),
        (json!({"name": "ok", "bogus": 1}), "bogus"),
    ];
    for (body, needle) in cases {
        b.expect_fault(&before, "PUT", &lb_path(id), Some(body), 400, needle);
    }
}

#[test]
fn delete_leaves_a_readable_deleted_offline_load_balancer_that_refuses_writes() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let (s, body) = b.delete(&t.lb_path());
    assert_eq!(s, 202, "{body}");
    assert!(body.is_null(), "DELETE answers no body: {body}");
    let lb = b.wait_lb_deleted(&t.lb);
    assert_keys(&lb, LB_KEYS);
    assert_eq!(lb["operating_status"], "OFFLINE");
    let (_, list) = b.get("/v1/loadbalancers");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|l| l["id"] == t.lb.as_str()),
        "a DELETED load balancer is still listed: {list}"
    );

    // Its children went with it.
    for path in [
        t.listener_path(),
        t.pool_path(),
        t.member_path(),
        t.monitor_path(),
    ] {
        let (s, v) = b.get(&path);
        assert_fault(s, &v, 404, "not found");
    }
    let (s, v) = b.get(&format!("{}/listeners", t.lb_path()));
    assert_eq!((s, v), (200, json!([])));

    // Every write on it is 409 naming it, and changes nothing.
    let before = b.snapshot();
    for (method, path, body) in [
        ("PUT", t.lb_path(), Some(json!({"name": "again"}))),
        ("DELETE", t.lb_path(), None),
        (
            "POST",
            format!("{}/listeners", t.lb_path()),
            Some(json!({"protocol": "HTTP", "protocol_port": 81})),
        ),
    ] {
        b.expect_fault(&before, method, &path, body, 409, &t.lb);
    }
}

#[test]
fn a_write_while_the_load_balancer_is_pending_is_409_and_is_not_applied() {
    // The controller applies a write within milliseconds, so whether the
    // second write still finds the load balancer PENDING_UPDATE is a race.
    // Each round therefore accepts either outcome, but checks it fully: a 409
    // names the load balancer and its change is never applied; a 202's is.
    // The test needs at least one round to lose the race (fire right after
    // the first 202; applying takes two fsyncs, the second request none).
    let b = Ballast::start();
    let lb = b.create_lb();
    let id = lb["id"].as_str().unwrap();
    let mut refused = 0;
    for round in 0..30 {
        let first = format!("first-{round}");
        let second = format!("second-{round}");
        let jobs = b.job_count();
        let (s, up) = b.put(&lb_path(id), json!({"name": first}));
        assert_eq!(s, 202, "{up}");
        assert_eq!(up["provisioning_status"], "PENDING_UPDATE");
        let (s, v) = b.put(&lb_path(id), json!({"name": second}));
        let settled = b.wait_lb_active(id);
        match s {
            409 => {
                assert_fault(s, &v, 409, id);
                assert!(
                    v["faultstring"].as_str().unwrap().contains("PENDING"),
                    "{v}"
                );
                assert_eq!(
                    settled["name"],
                    first.as_str(),
                    "the refused write is not applied"
                );
                assert_eq!(b.job_count(), jobs + 1, "the refused write queued no job");
                refused += 1;
                if refused >= 3 {
                    break;
                }
            }
            202 => {
                assert_eq!(settled["name"], second.as_str());
                assert_eq!(b.job_count(), jobs + 2);
            }
            other => panic!("unexpected {other}: {v}"),
        }
    }
    assert!(
        refused > 0,
        "no write ever found the load balancer PENDING_UPDATE"
    );

    // Children writes are refused the same way while it is PENDING_DELETE.
    let (s, _) = b.delete(&lb_path(id));
    assert_eq!(s, 202);
    let (s, v) = b.post(
        &format!("{}/listeners", lb_path(id)),
        json!({"protocol": "TCP", "protocol_port": 9000}),
    );
    assert_fault(s, &v, 409, id);
    b.wait_lb_deleted(id);
    let (_, ls) = b.get(&format!("{}/listeners", lb_path(id)));
    assert_eq!(ls, json!([]), "the refused listener was not created");
}
