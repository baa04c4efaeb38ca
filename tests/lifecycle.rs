//! Lifecycle through the real binary: create → ACTIVE, delete → DELETED.

mod common;

use common::Ballast;
use serde_json::json;

#[test]
fn load_balancer_reaches_active_with_a_vip_from_its_network() {
    let b = Ballast::start();
    let (status, lb) = b.post(
        "/v1/loadbalancers",
        json!({"vip": {"network_id": b.network_id()}, "name": "web"}),
    );
    assert_eq!(status, 202, "{lb}");
    assert_eq!(lb["provisioning_status"], "PENDING_CREATE");
    assert_eq!(lb["operating_status"], "OFFLINE");
    let ip = lb["vip"]["ip_address"].as_str().unwrap();
    let prefix = b.cidr.rsplit_once('.').unwrap().0;
    assert!(ip.starts_with(prefix), "{ip} not in {}", b.cidr);
    assert!(lb["vip"]["port_id"].is_string());
    let id = lb["id"].as_str().unwrap();
    let active = b.wait_lb_active(id);
    assert_eq!(active["operating_status"], "ONLINE");

    let (status, body) = b.delete(&format!("/v1/loadbalancers/{id}"));
    assert_eq!(status, 202);
    assert!(body.is_null());
    common::wait_until(std::time::Duration::from_secs(10), "DELETED", || {
        b.get(&format!("/v1/loadbalancers/{id}")).1["provisioning_status"] == "DELETED"
    });
    let (_, ports) = b.get("/v1/ports");
    assert_eq!(ports, json!([]), "the VIP's port is released");
}

#[test]
fn housekeeping_purges_deleted_load_balancers_after_the_configured_age() {
    let tmp = tempfile::tempdir().unwrap();
    let b = Ballast::start_in(
        tmp.path(),
        &common::fresh_cidr(),
        common::Options {
            extra_toml: "\n[housekeeping]\npurge_deleted_after_secs = 1\n".into(),
            ..Default::default()
        },
    );
    let lb = b.create_lb();
    let id = lb["id"].as_str().unwrap();
    assert_eq!(b.delete(&format!("/v1/loadbalancers/{id}")).0, 202);
    common::wait_until(std::time::Duration::from_secs(10), "purged", || {
        b.get(&format!("/v1/loadbalancers/{id}")).0 == 404
    });
    assert_eq!(b.get("/v1/loadbalancers").1, json!([]));
}
