//! The real OpenStack clients drive the real binary: the `openstack` CLI
//! (python-octaviaclient), openstacksdk and ansible's openstack.cloud, from
//! the virtualenv `.ci/clients.sh` installs, with a `clouds.yaml` of
//! `auth_type: none` whose one endpoint is Ballast.

mod common;

use std::time::Duration;

use common::clients::Clients;
use common::{Ballast, http_member, http_raw, wait_until};
use serde_json::{Value, json};

#[test]
fn the_virtualenv_holds_the_pinned_clients() {
    let b = Ballast::start();
    let c = Clients::new(&b);
    let versions = c.python(
        "import importlib.metadata as m\n\
         for p in ['python-openstackclient', 'python-octaviaclient', 'openstacksdk', 'ansible']:\n\
         \x20   print(p, m.version(p))\n",
    );
    let pinned = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/requirements.txt"),
    )
    .unwrap();
    for line in versions.lines() {
        let (name, version) = line.split_once(' ').unwrap();
        assert!(
            pinned.lines().any(|l| l == format!("{name}=={version}")),
            "{name} {version} is not the pinned version"
        );
    }
    let collections = c
        .command("ansible-galaxy")
        .args(["collection", "list", "openstack.cloud"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&collections.stdout);
    assert!(listed.contains("openstack.cloud 2.5."), "{listed}");
}

#[test]
fn the_cli_lists_ballast_as_the_one_provider_and_empty_catalogs() {
    let b = Ballast::start();
    let c = Clients::new(&b);
    let providers = c.openstack_json(&["loadbalancer", "provider", "list"]);
    assert_eq!(providers.as_array().unwrap().len(), 1, "{providers}");
    assert_eq!(providers[0]["name"], "ballast");
    for what in [
        ["loadbalancer", "flavor", "list"],
        ["loadbalancer", "flavorprofile", "list"],
        ["loadbalancer", "availabilityzone", "list"],
        ["loadbalancer", "availabilityzoneprofile", "list"],
        ["loadbalancer", "amphora", "list"],
        ["loadbalancer", "quota", "list"],
    ] {
        assert_eq!(c.openstack_json(&what), json!([]), "{}", what.join(" "));
    }
    let defaults = c.openstack_json(&["loadbalancer", "quota", "defaults", "show"]);
    assert_eq!(defaults["load_balancer"], -1, "{defaults}");
    assert_eq!(defaults["member"], -1, "{defaults}");
}

/// The id of the instance's one subnet, as the tools look it up.
fn subnet_id(b: &Ballast) -> String {
    let (s, v) = b.get("/v2.0/subnets");
    assert_eq!(s, 200, "{v}");
    v["subnets"][0]["id"].as_str().unwrap().to_string()
}

/// GET `http://{vip}:{port}/` until the member's name answers.
fn wait_for_traffic(vip: &str, port: u16, name: &str) {
    let url = format!("http://{vip}:{port}/");
    let mut last = String::new();
    wait_until(Duration::from_secs(20), "traffic through the VIP", || {
        last = match std::net::TcpStream::connect((vip, port)) {
            Ok(_) => http_raw("GET", &url, None, &[]).1,
            Err(e) => e.to_string(),
        };
        last == name
    });
}

#[test]
fn the_cli_runs_the_whole_lifecycle_and_traffic_flows_through_its_vip() {
    let b = Ballast::start();
    let c = Clients::new(&b);
    let member = http_member("cli-member");
    let subnet = subnet_id(&b);
    let os = |args: &[&str]| c.openstack_json(args);

    let lb = os(&[
        "loadbalancer",
        "create",
        "--name",
        "lb1",
        "--vip-subnet-id",
        &subnet,
        "--wait",
    ]);
    assert_eq!(lb["provisioning_status"], "ACTIVE", "{lb}");
    assert_eq!(lb["vip_subnet_id"], subnet.as_str());
    assert_eq!(lb["provider"], "ballast");
    let vip = lb["vip_address"].as_str().unwrap().to_string();
    assert!(
        vip.starts_with(b.cidr.rsplit_once('.').unwrap().0),
        "{vip} in {}",
        b.cidr
    );

    let l = os(&[
        "loadbalancer",
        "listener",
        "create",
        "--name",
        "l1",
        "--protocol",
        "HTTP",
        "--protocol-port",
        "8080",
        "--wait",
        "lb1",
    ]);
    let p = os(&[
        "loadbalancer",
        "pool",
        "create",
        "--name",
        "p1",
        "--protocol",
        "HTTP",
        "--lb-algorithm",
        "ROUND_ROBIN",
        "--listener",
        "l1",
        "--wait",
    ]);
    let port = member.port().to_string();
    let m = os(&[
        "loadbalancer",
        "member",
        "create",
        "--name",
        "m1",
        "--address",
        "127.0.0.1",
        "--protocol-port",
        &port,
        "--subnet-id",
        &subnet,
        "--wait",
        "p1",
    ]);
    assert_eq!(m["subnet_id"], subnet.as_str());
    let hm = os(&[
        "loadbalancer",
        "healthmonitor",
        "create",
        "--name",
        "hm1",
        "--delay",
        "1",
        "--timeout",
        "1",
        "--max-retries",
        "1",
        "--type",
        "HTTP",
        "--url-path",
        "/",
        "--wait",
        "p1",
    ]);
    for v in [&l, &p, &m, &hm] {
        assert_eq!(v["provisioning_status"], "ACTIVE", "{v}");
    }
    wait_for_traffic(&vip, 8080, "cli-member");

    // show: the relations the tools walk (lists of {"id": ...}).
    let lb = os(&["loadbalancer", "show", "lb1"]);
    assert_eq!(lb["listeners"], json!([{"id": l["id"]}]), "{lb}");
    assert_eq!(lb["pools"], json!([{"id": p["id"]}]), "{lb}");
    let l = os(&["loadbalancer", "listener", "show", "l1"]);
    assert_eq!(l["default_pool_id"], p["id"]);
    let p = os(&["loadbalancer", "pool", "show", "p1"]);
    assert_eq!(p["healthmonitor_id"], hm["id"], "{p}");
    assert_eq!(p["members"], json!([{"id": m["id"]}]), "{p}");
    let hm = os(&["loadbalancer", "healthmonitor", "show", "hm1"]);
    assert_eq!(hm["pools"], json!([{"id": p["id"]}]), "{hm}");
    assert_eq!(
        os(&["loadbalancer", "member", "show", "p1", "m1"])["id"],
        m["id"]
    );

    // list with filters.
    assert_eq!(
        os(&["loadbalancer", "list", "--name", "lb1"])
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(os(&["loadbalancer", "list", "--name", "nope"]), json!([]));
    assert_eq!(
        os(&["loadbalancer", "listener", "list", "--loadbalancer", "lb1"])[0]["id"],
        l["id"]
    );
    assert_eq!(
        os(&["loadbalancer", "pool", "list", "--loadbalancer", "lb1"])[0]["id"],
        p["id"]
    );
    assert_eq!(
        os(&["loadbalancer", "member", "list", "p1"])[0]["id"],
        m["id"]
    );
    assert_eq!(
        os(&["loadbalancer", "healthmonitor", "list"])[0]["id"],
        hm["id"]
    );

    // set / unset.
    c.openstack(&[
        "loadbalancer",
        "set",
        "--description",
        "front",
        "--wait",
        "lb1",
    ]);
    assert_eq!(os(&["loadbalancer", "show", "lb1"])["description"], "front");
    c.openstack(&["loadbalancer", "unset", "--description", "--wait", "lb1"]);
    assert_eq!(os(&["loadbalancer", "show", "lb1"])["description"], "");
    c.openstack(&[
        "loadbalancer",
        "member",
        "set",
        "--weight",
        "5",
        "--wait",
        "p1",
        "m1",
    ]);
    assert_eq!(
        os(&["loadbalancer", "member", "show", "p1", "m1"])["weight"],
        5
    );
    c.openstack(&[
        "loadbalancer",
        "member",
        "unset",
        "--weight",
        "--wait",
        "p1",
        "m1",
    ]);
    assert_eq!(
        os(&["loadbalancer", "member", "show", "p1", "m1"])["weight"],
        1
    );
    c.openstack(&[
        "loadbalancer",
        "healthmonitor",
        "set",
        "--max-retries-down",
        "4",
        "--wait",
        "hm1",
    ]);
    assert_eq!(
        os(&["loadbalancer", "healthmonitor", "show", "hm1"])["max_retries_down"],
        4
    );
    c.openstack(&[
        "loadbalancer",
        "healthmonitor",
        "unset",
        "--max-retries-down",
        "--wait",
        "hm1",
    ]);
    assert_eq!(
        os(&["loadbalancer", "healthmonitor", "show", "hm1"])["max_retries_down"],
        3
    );
    c.openstack(&[
        "loadbalancer",
        "listener",
        "set",
        "--connection-limit",
        "100",
        "--wait",
        "l1",
    ]);
    assert_eq!(
        os(&["loadbalancer", "listener", "show", "l1"])["connection_limit"],
        100
    );

    // status tree and stats.
    let status: Value =
        serde_json::from_str(&c.openstack(&["loadbalancer", "status", "show", "lb1"]))
            .expect("status show prints JSON");
    let tree = &status["loadbalancer"];
    assert_eq!(
        tree["listeners"][0]["pools"][0]["members"][0]["id"], m["id"],
        "{status}"
    );
    assert_eq!(
        tree["listeners"][0]["pools"][0]["health_monitor"]["id"], hm["id"],
        "{status}"
    );
    let stats = os(&["loadbalancer", "stats", "show", "lb1"]);
    assert!(stats["total_connections"].as_i64().unwrap() >= 1, "{stats}");

    // What Ballast does not implement is refused, not ignored.
    let err = c.openstack_fails(&[
        "loadbalancer",
        "member",
        "create",
        "--address",
        "127.0.0.1",
        "--protocol-port",
        "1",
        "--monitor-port",
        "80",
        "p1",
    ]);
    assert!(
        err.contains("Provider 'ballast' does not support a requested option: monitor_port"),
        "{err}"
    );

    // failover re-applies the load balancer; traffic still flows.
    c.openstack(&["loadbalancer", "failover", "--wait", "lb1"]);
    wait_for_traffic(&vip, 8080, "cli-member");

    c.openstack(&["loadbalancer", "delete", "--cascade", "--wait", "lb1"]);
    assert_eq!(os(&["loadbalancer", "list"]), json!([]));
}

#[test]
fn openstacksdk_creates_waits_finds_pages_and_deletes() {
    let b = Ballast::start();
    let c = Clients::new(&b);
    let out = c.python(
        r#"
import openstack
c = openstack.connect(cloud='ballast')
lbs = c.load_balancer
subnet = c.network.find_subnet('test', ignore_missing=False)
lb = lbs.create_load_balancer(name='sdk-lb', vip_subnet_id=subnet.id)
lb = lbs.wait_for_load_balancer(lb.id, status='ACTIVE', failures=['ERROR'], interval=0.2, wait=30)
assert lbs.find_load_balancer('sdk-lb').id == lb.id
assert lbs.find_load_balancer('no-such-lb') is None
l = lbs.create_listener(name='sdk-l', protocol='TCP', protocol_port=8081, load_balancer_id=lb.id)
lbs.wait_for_load_balancer(lb.id, interval=0.2, wait=30)
p = lbs.create_pool(name='sdk-p', protocol='TCP', lb_algorithm='ROUND_ROBIN', listener_id=l.id)
lbs.wait_for_load_balancer(lb.id, interval=0.2, wait=30)
for port in range(20001, 20006):
    lbs.create_member(p, address='127.0.0.1', protocol_port=port, name=f'm{port}')
    lbs.wait_for_load_balancer(lb.id, interval=0.2, wait=30)
paged = [m.protocol_port for m in lbs.members(p, limit=2)]
assert sorted(paged) == list(range(20001, 20006)), paged
hm = lbs.create_health_monitor(pool_id=p.id, type='TCP', delay=5, timeout=3, max_retries=2)
lbs.wait_for_load_balancer(lb.id, interval=0.2, wait=30)
assert lbs.find_health_monitor(hm.id).max_retries == 2
assert [x.id for x in c.network.ports(device_id=lb.id)] == [lb.vip_port_id]
lbs.delete_load_balancer(lb.id, cascade=True)
lbs.wait_for_delete(lb, interval=0.2, wait=30)
assert lbs.find_load_balancer('sdk-lb') is None
print('sdk lifecycle ok')
"#,
    );
    assert!(out.contains("sdk lifecycle ok"), "{out}");
    assert_eq!(
        b.get("/v2/lbaas/loadbalancers").1["loadbalancers"],
        json!([])
    );
}

#[test]
fn an_ansible_playbook_with_openstack_cloud_builds_serves_and_removes_a_load_balancer() {
    let b = Ballast::start();
    let c = Clients::new(&b);
    let member = http_member("ansible-member");
    let playbook = format!(
        r#"
- hosts: localhost
  gather_facts: false
  module_defaults:
    group/openstack.cloud.openstack:
      cloud: ballast
  tasks:
    - openstack.cloud.loadbalancer:
        name: ans-lb
        vip_subnet: test
        wait: true
      register: lb
    - openstack.cloud.lb_listener:
        name: ans-l
        load_balancer: ans-lb
        protocol: HTTP
        protocol_port: 8082
        wait: true
    - openstack.cloud.lb_pool:
        name: ans-p
        listener: ans-l
        protocol: HTTP
        lb_algorithm: ROUND_ROBIN
        wait: true
    - openstack.cloud.lb_member:
        name: ans-m
        pool: ans-p
        address: 127.0.0.1
        protocol_port: {port}
        wait: true
    - openstack.cloud.lb_health_monitor:
        name: ans-hm
        pool: ans-p
        type: HTTP
        delay: 5
        health_monitor_timeout: 3
        max_retries: 2
        wait: true
    - name: the same member again changes nothing
      openstack.cloud.lb_member:
        name: ans-m
        pool: ans-p
        address: 127.0.0.1
        protocol_port: {port}
        wait: true
      register: again
    - assert:
        that: not again.changed
    - name: traffic through the VIP
      ansible.builtin.uri:
        url: "http://{{{{ lb.load_balancer.vip_address }}}}:8082/"
        return_content: true
      register: page
      retries: 50
      delay: 0.2
      until: page.content == "ansible-member"
    - openstack.cloud.loadbalancer:
        name: ans-lb
        state: absent
        wait: true
"#,
        port = member.port()
    );
    let out = c.ansible_playbook(&playbook);
    assert!(out.contains("failed=0"), "{out}");
    assert_eq!(
        b.get("/v2/lbaas/loadbalancers").1["loadbalancers"],
        json!([])
    );
}
