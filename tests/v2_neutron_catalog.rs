//! The Neutron look-ups on Ballast's endpoint (`/v2.0/networks`, `subnets`,
//! `ports`, `floatingips`) and Octavia's catalog resources (providers,
//! quotas, flavors, availability zones, amphorae): shapes, filters, `fields`,
//! GET-one and the 400/404/405 answers.

mod common;

use common::api::{assert_keys, assert_uuid};
use common::{Ballast, assert_fault};
use serde_json::{Value, json};

const NETWORK_KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "status",
    "admin_state_up",
    "shared",
    "router:external",
    "subnets",
    "tags",
];
const SUBNET_KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "network_id",
    "cidr",
    "ip_version",
    "gateway_ip",
    "enable_dhcp",
    "allocation_pools",
    "dns_nameservers",
    "host_routes",
    "tags",
];
const PORT_KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "network_id",
    "fixed_ips",
    "device_id",
    "device_owner",
    "status",
    "admin_state_up",
    "security_groups",
    "tags",
];

/// The one subnet of the instance's network, as `/v2.0/subnets` lists it.
fn the_subnet(b: &Ballast) -> Value {
    let (s, v) = b.get("/v2.0/subnets");
    assert_eq!(s, 200, "{v}");
    let subnets = v["subnets"].as_array().expect("subnets list");
    assert_eq!(subnets.len(), 1, "{v}");
    subnets[0].clone()
}

fn prefix(cidr: &str) -> &str {
    cidr.rsplit_once('.').unwrap().0
}

#[test]
fn each_network_is_one_neutron_network_with_one_subnet_of_its_cidr() {
    let b = Ballast::start();
    let net_id = b.network_id();

    let (s, v) = b.get("/v2.0/networks");
    assert_eq!(s, 200);
    assert_keys(&v, &["networks"]);
    let net = &v["networks"][0];
    assert_keys(net, NETWORK_KEYS);
    assert_eq!(net["id"], net_id.as_str());
    assert_eq!(net["name"], "test");
    assert_eq!(net["status"], "ACTIVE");

    let subnet = the_subnet(&b);
    assert_keys(&subnet, SUBNET_KEYS);
    assert_uuid(&subnet["id"]);
    assert_ne!(subnet["id"], net["id"]);
    assert_eq!(net["subnets"], json!([subnet["id"]]));
    assert_eq!(subnet["network_id"], net_id.as_str());
    assert_eq!(subnet["cidr"], b.cidr.as_str());
    assert_eq!(subnet["ip_version"], 4);
    assert_eq!(subnet["gateway_ip"], Value::Null);
    let p = prefix(&b.cidr);
    assert_eq!(
        subnet["allocation_pools"],
        json!([{"start": format!("{p}.1"), "end": format!("{p}.254")}])
    );

    let (s, one) = b.get(&format!("/v2.0/networks/{net_id}"));
    assert_eq!(s, 200);
    assert_eq!(one, json!({ "network": net }));
    let sid = subnet["id"].as_str().unwrap();
    let (s, one) = b.get(&format!("/v2.0/subnets/{sid}"));
    assert_eq!(s, 200);
    assert_eq!(one, json!({ "subnet": subnet }));
}

#[test]
fn a_subnet_keeps_its_id_across_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let cidr = common::fresh_cidr();
    let mut b = Ballast::start_in(tmp.path(), &cidr, Default::default());
    let before = the_subnet(&b)["id"].clone();
    b.terminate();
    let b = Ballast::start_in(tmp.path(), &cidr, Default::default());
    assert_eq!(the_subnet(&b)["id"], before);
}

#[test]
fn lists_filter_by_id_and_name_and_cut_to_fields() {
    let b = Ballast::start();
    let subnet = the_subnet(&b);
    let sid = subnet["id"].as_str().unwrap();

    // What the openstack CLI sends for --vip-subnet-id: ?id=, then ?name=.
    let (s, v) = b.get(&format!("/v2.0/subnets?id={sid}"));
    assert_eq!(s, 200);
    assert_eq!(v["subnets"], json!([subnet]));
    let (s, v) = b.get("/v2.0/subnets?name=test");
    assert_eq!(s, 200);
    assert_eq!(v["subnets"], json!([subnet]));
    let (s, v) = b.get(&format!("/v2.0/subnets?id={sid}&id=not-this-one"));
    assert_eq!((s, v["subnets"].as_array().unwrap().len()), (200, 1));
    for miss in [
        "name=other",
        "id=00000000-0000-4000-8000-000000000000",
        "name=test&id=x",
    ] {
        let (s, v) = b.get(&format!("/v2.0/subnets?{miss}"));
        assert_eq!((s, v), (200, json!({"subnets": []})), "{miss}");
    }
    let (s, v) = b.get("/v2.0/networks?name=test&shared=True&fields=id&fields=name");
    assert_eq!(s, 200);
    assert_eq!(
        v["networks"],
        json!([{"id": b.network_id(), "name": "test"}])
    );
}

#[test]
fn an_unknown_filter_or_pagination_argument_is_400() {
    let b = Ballast::start();
    for (path, key) in [
        ("/v2.0/networks?colour=red", "colour"),
        ("/v2.0/subnets?limit=1", "limit"),
        ("/v2.0/ports?sort_key=name", "sort_key"),
    ] {
        let (s, v) = b.get(path);
        assert_fault(
            s,
            &v,
            400,
            &format!("[{key}] is invalid attribute for filtering"),
        );
    }
}

#[test]
fn an_unknown_or_malformed_id_is_404() {
    let b = Ballast::start();
    for path in [
        "/v2.0/networks/00000000-0000-4000-8000-000000000000",
        "/v2.0/networks/test",
        "/v2.0/subnets/00000000-0000-4000-8000-000000000000",
        "/v2.0/subnets/test",
        "/v2.0/ports/00000000-0000-4000-8000-000000000000",
        "/v2.0/ports/nope",
    ] {
        let (s, v) = b.get(path);
        assert_fault(s, &v, 404, "not found");
    }
}

#[test]
fn a_vip_port_is_a_neutron_port_owned_by_octavia_on_the_subnet() {
    let b = Ballast::start();
    let lb = b.create_lb();
    let sid = the_subnet(&b)["id"].clone();
    let (s, free) = b.post("/v1/ports", json!({"network_id": b.network_id()}));
    assert_eq!(s, 202, "{free}");

    let (s, v) = b.get("/v2.0/ports");
    assert_eq!(s, 200);
    let ports = v["ports"].as_array().unwrap();
    assert_eq!(ports.len(), 2, "{v}");
    let vip = ports
        .iter()
        .find(|p| p["id"] == lb["vip"]["port_id"])
        .expect("the VIP port");
    assert_keys(vip, PORT_KEYS);
    assert_eq!(vip["device_id"], lb["id"]);
    assert_eq!(vip["device_owner"], "Octavia");
    assert_eq!(vip["status"], "ACTIVE");
    assert_eq!(vip["network_id"], b.network_id().as_str());
    assert_eq!(
        vip["fixed_ips"],
        json!([{"subnet_id": sid, "ip_address": lb["vip"]["ip_address"]}])
    );
    let other = ports.iter().find(|p| p["id"] == free["id"]).unwrap();
    assert_eq!(
        (
            &other["device_id"],
            &other["device_owner"],
            &other["status"]
        ),
        (&json!(""), &json!(""), &json!("DOWN"))
    );

    let ip = lb["vip"]["ip_address"].as_str().unwrap();
    for query in [
        format!("device_id={}", lb["id"].as_str().unwrap()),
        "device_owner=Octavia".to_string(),
        format!("fixed_ips=ip_address%3D{ip}"),
    ] {
        let (s, v) = b.get(&format!("/v2.0/ports?{query}"));
        assert_eq!((s, v), (200, json!({"ports": [vip]})), "{query}");
    }
    let port_id = vip["id"].as_str().unwrap();
    let (s, one) = b.get(&format!("/v2.0/ports/{port_id}"));
    assert_eq!((s, one), (200, json!({"port": vip})));
}

#[test]
fn floating_ips_are_an_empty_list() {
    let b = Ballast::start();
    for path in ["/v2.0/floatingips", "/v2.0/floatingips?port_id=x"] {
        assert_eq!(b.get(path), (200, json!({"floatingips": []})), "{path}");
    }
}

#[test]
fn the_neutron_look_ups_live_under_v2_0_only() {
    let b = Ballast::start();
    for path in [
        "/v2/networks",
        "/v2/subnets",
        "/v2/ports",
        "/v2/floatingips",
    ] {
        let (s, v) = b.get(path);
        assert_fault(s, &v, 404, "no such resource");
    }
}

#[test]
fn ballast_is_the_one_provider_under_both_prefixes() {
    let b = Ballast::start();
    for prefix in ["/v2", "/v2.0"] {
        let (s, v) = b.get(&format!("{prefix}/lbaas/providers"));
        assert_eq!(s, 200);
        assert_keys(&v, &["providers"]);
        assert_eq!(v["providers"].as_array().unwrap().len(), 1);
        assert_keys(&v["providers"][0], &["name", "description"]);
        assert_eq!(v["providers"][0]["name"], "ballast");
    }
    let (s, v) = b.get("/v2/lbaas/providers?fields=name");
    assert_eq!((s, v), (200, json!({"providers": [{"name": "ballast"}]})));
    for kind in ["flavor_capabilities", "availability_zone_capabilities"] {
        let (s, v) = b.get(&format!("/v2/lbaas/providers/ballast/{kind}"));
        assert_eq!((s, v), (200, json!({ kind: [] })));
        let (s, v) = b.get(&format!("/v2/lbaas/providers/amphora/{kind}"));
        assert_fault(s, &v, 400, "Provider 'amphora' is not enabled.");
    }
}

#[test]
fn flavors_zones_and_amphorae_are_honest_empty_lists() {
    let b = Ballast::start();
    for (path, key) in [
        ("/lbaas/flavors", "flavors"),
        ("/lbaas/flavorprofiles", "flavorprofiles"),
        ("/lbaas/availabilityzones", "availability_zones"),
        (
            "/lbaas/availabilityzoneprofiles",
            "availability_zone_profiles",
        ),
        ("/octavia/amphorae", "amphorae"),
    ] {
        for prefix in ["/v2", "/v2.0"] {
            let (s, v) = b.get(&format!("{prefix}{path}"));
            assert_eq!(
                (s, v),
                (200, json!({ key: [], format!("{key}_links"): [] })),
                "{prefix}{path}"
            );
            let (s, v) = b.get(&format!(
                "{prefix}{path}/00000000-0000-4000-8000-000000000000"
            ));
            assert_fault(s, &v, 404, "not found");
        }
        // Nothing is ever created: a write is not a route at all.
        let (s, v) = b.post(&format!("/v2{path}"), json!({}));
        assert_fault(s, &v, 405, "not allowed");
    }
}

#[test]
fn quotas_are_unlimited_and_cannot_be_set_until_enforced() {
    let b = Ballast::start();
    let unlimited = |project: &str| {
        json!({"quota": {
            "project_id": project,
            "loadbalancer": -1, "load_balancer": -1, "listener": -1, "pool": -1,
            "member": -1, "healthmonitor": -1, "health_monitor": -1,
            "l7policy": -1, "l7rule": -1,
        }})
    };
    assert_eq!(
        b.get("/v2/lbaas/quotas"),
        (200, json!({"quotas": [], "quotas_links": []}))
    );
    assert_eq!(b.get("/v2.0/lbaas/quotas/p1"), (200, unlimited("p1")));
    assert_eq!(b.get("/v2/lbaas/quotas/p1/default"), (200, unlimited("p1")));
    assert_eq!(
        b.get("/v2/lbaas/quotas/defaults"),
        (200, unlimited("defaults"))
    );

    let (s, v) = b.put(
        "/v2/lbaas/quotas/p1",
        json!({"quota": {"load_balancer": 5}}),
    );
    assert_fault(
        s,
        &v,
        400,
        "Provider 'ballast' does not support a requested option: quotas",
    );
    assert_eq!(b.get("/v2/lbaas/quotas/p1"), (200, unlimited("p1")));
    // A reset returns the project to the defaults it already has.
    assert_eq!(b.delete("/v2/lbaas/quotas/p1"), (202, Value::Null));
    assert_eq!(b.get("/v2/lbaas/quotas/p1"), (200, unlimited("p1")));
}
