//! `lbaas/pools/{id}/members` (one by one and the batch PUT) and
//! `lbaas/healthmonitors`: codes, bodies, filters, the options Ballast
//! refuses, and the same rows seen through `/v1`.

mod common;

use common::api::{assert_keys, assert_uuid, member_path, monitor_path};
use common::{Ballast, assert_fault, http};
use serde_json::{Value, json};

const MEMBER_KEYS: &[&str] = &[
    "id",
    "name",
    "operating_status",
    "provisioning_status",
    "admin_state_up",
    "address",
    "protocol_port",
    "weight",
    "backup",
    "subnet_id",
    "project_id",
    "created_at",
    "updated_at",
    "monitor_address",
    "monitor_port",
    "tags",
    "vnic_type",
];
const MONITOR_KEYS: &[&str] = &[
    "id",
    "name",
    "type",
    "delay",
    "timeout",
    "max_retries",
    "max_retries_down",
    "http_method",
    "url_path",
    "expected_codes",
    "admin_state_up",
    "project_id",
    "pools",
    "provisioning_status",
    "operating_status",
    "created_at",
    "updated_at",
    "tags",
    "http_version",
    "domain_name",
];

/// An ACTIVE load balancer (made through /v1) with an HTTP listener and an
/// empty HTTP pool: `(lb, listener, pool)`.
fn empty_pool(b: &Ballast) -> (String, String, String) {
    let lb = b.create_lb()["id"].as_str().unwrap().to_string();
    let l = b.add_listener(&lb, "HTTP", 8080)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let p = b.add_pool(&lb, &l, "HTTP")["id"]
        .as_str()
        .unwrap()
        .to_string();
    (lb, l, p)
}

fn members_path(p: &str) -> String {
    format!("/v2/lbaas/pools/{p}/members")
}

/// Everything a refused request must leave alone: the /v1 snapshot, and
/// the v2 views of the pool's members and of every monitor.
fn state(b: &Ballast, p: &str) -> Value {
    json!({
        "v1": b.snapshot(),
        "members": b.get(&members_path(p)).1,
        "monitors": b.get("/v2/lbaas/healthmonitors").1,
    })
}

/// Send a request that must fail with `want`/`needle` and change nothing.
fn refused(b: &Ballast, p: &str, method: &str, path: &str, body: Value, want: u16, needle: &str) {
    let before = state(b, p);
    let (s, v) = http(method, &b.url(path), Some(body.to_string()));
    assert_fault(s, &v, want, needle);
    assert_eq!(state(b, p), before, "{method} {path} changed something");
}

/// POST a member, expect 201, wait for ACTIVE; returns the 201 body's member.
fn add(b: &Ballast, lb: &str, p: &str, member: Value) -> Value {
    let (s, v) = b.post(&members_path(p), json!({ "member": member }));
    assert_eq!(s, 201, "{v}");
    b.wait_lb_active(lb);
    v["member"].clone()
}

#[test]
fn a_member_is_created_201_with_octavias_fields_and_seen_through_v1() {
    let b = Ballast::start();
    let (lb, l, p) = empty_pool(&b);
    let subnet = b.get("/v2.0/subnets").1["subnets"][0]["id"].clone();
    // Numbers as strings, the way the CLI sends some of them.
    let (s, v) = b.post(
        &members_path(&p),
        json!({"member": {"address": "127.0.0.1", "protocol_port": "9000", "weight": "5",
                          "name": "web-1", "tags": ["blue"], "subnet_id": subnet,
                          "backup": false, "monitor_port": null}}),
    );
    assert_eq!(s, 201, "{v}");
    assert_keys(&v, &["member"]);
    let m = &v["member"];
    assert_keys(m, MEMBER_KEYS);
    assert_uuid(&m["id"]);
    assert_eq!(m["provisioning_status"], "PENDING_CREATE");
    assert_eq!(
        (&m["address"], &m["protocol_port"], &m["weight"], &m["name"]),
        (
            &json!("127.0.0.1"),
            &json!(9000),
            &json!(5),
            &json!("web-1")
        )
    );
    assert_eq!((&m["tags"], &m["subnet_id"]), (&json!(["blue"]), &subnet));
    assert_eq!(
        (&m["backup"], &m["admin_state_up"]),
        (&json!(false), &json!(true))
    );
    assert_eq!(m["project_id"], "ballast");
    assert!(m["updated_at"].is_null());
    b.wait_lb_active(&lb);

    let id = m["id"].as_str().unwrap();
    let (s, one) = b.get(&format!("{}/{id}", members_path(&p)));
    assert_eq!(s, 200);
    assert_eq!(one["member"]["provisioning_status"], "ACTIVE");
    let (s, list) = b.get(&members_path(&p));
    assert_eq!(s, 200);
    assert_eq!(
        list,
        json!({"members": [one["member"]], "members_links": []})
    );
    // The same row through /v1 and under /v2.0.
    let (s, v1) = b.get(&member_path(&lb, &l, &p, id));
    assert_eq!(s, 200);
    assert_eq!(
        (&v1["ip_address"], &v1["weight"]),
        (&json!("127.0.0.1"), &json!(5))
    );
    assert_eq!(
        b.get(&format!("/v2.0/lbaas/pools/{p}/members/{id}")),
        (200, one)
    );
}

#[test]
fn an_update_is_200_and_null_clears_name_and_tags_and_resets_weight() {
    let b = Ballast::start();
    let (lb, _, p) = empty_pool(&b);
    let m = add(
        &b,
        &lb,
        &p,
        json!({"address": "127.0.0.1", "protocol_port": 9000}),
    );
    let path = format!("{}/{}", members_path(&p), m["id"].as_str().unwrap());

    let (s, v) = b.put(
        &path,
        json!({"member": {"name": "n", "weight": 7, "admin_state_up": false, "tags": ["t"]}}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["member"]["provisioning_status"], "PENDING_UPDATE");
    assert_eq!(
        (
            &v["member"]["name"],
            &v["member"]["weight"],
            &v["member"]["admin_state_up"]
        ),
        (&json!("n"), &json!(7), &json!(false))
    );
    assert!(v["member"]["updated_at"].is_string(), "{v}");
    b.wait_lb_active(&lb);

    let (s, v) = b.put(
        &path,
        json!({"member": {"name": null, "weight": null, "tags": null}}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            &v["member"]["name"],
            &v["member"]["weight"],
            &v["member"]["tags"]
        ),
        (&json!(""), &json!(1), &json!([]))
    );
    assert_eq!(v["member"]["admin_state_up"], false, "untouched");
    b.wait_lb_active(&lb);
}

#[test]
fn a_delete_is_204_and_the_member_goes() {
    let b = Ballast::start();
    let (lb, _, p) = empty_pool(&b);
    let m = add(
        &b,
        &lb,
        &p,
        json!({"address": "127.0.0.1", "protocol_port": 9000}),
    );
    let path = format!("{}/{}", members_path(&p), m["id"].as_str().unwrap());
    assert_eq!(b.delete(&path), (204, Value::Null));
    b.wait_lb_active(&lb);
    let (s, v) = b.get(&path);
    assert_fault(s, &v, 404, "not found");
    assert_eq!(b.get(&members_path(&p)).1["members"], json!([]));
}

#[test]
fn unsupported_member_options_are_400_and_change_nothing() {
    let b = Ballast::start();
    let (lb, _, p) = empty_pool(&b);
    let m = add(
        &b,
        &lb,
        &p,
        json!({"address": "127.0.0.1", "protocol_port": 9000}),
    );
    let one = format!("{}/{}", members_path(&p), m["id"].as_str().unwrap());
    let base = json!({"address": "127.0.0.2", "protocol_port": 9000});
    let with = |k: &str, v: Value| {
        let mut m = base.clone();
        m[k] = v;
        json!({ "member": m })
    };
    let refusal = "Provider 'ballast' does not support a requested option: ";
    for (body, option) in [
        (with("backup", json!(true)), "backup"),
        (with("monitor_port", json!(8081)), "monitor_port"),
        (
            with("monitor_address", json!("127.0.0.9")),
            "monitor_address",
        ),
        (with("request_sriov", json!(true)), "request_sriov"),
    ] {
        refused(
            &b,
            &p,
            "POST",
            &members_path(&p),
            body,
            400,
            &format!("{refusal}{option}"),
        );
    }
    for (body, option) in [
        (json!({"member": {"backup": true}}), "backup"),
        (
            json!({"member": {"monitor_address": "127.0.0.9"}}),
            "monitor_address",
        ),
    ] {
        refused(
            &b,
            &p,
            "PUT",
            &one,
            body,
            400,
            &format!("{refusal}{option}"),
        );
    }
    let batch =
        json!({"members": [{"address": "127.0.0.1", "protocol_port": 9000, "backup": true}]});
    refused(
        &b,
        &p,
        "PUT",
        &members_path(&p),
        batch,
        400,
        &format!("{refusal}backup"),
    );
}

#[test]
fn bad_member_requests_are_refused_and_change_nothing() {
    let b = Ballast::start();
    let (lb, _, p) = empty_pool(&b);
    add(
        &b,
        &lb,
        &p,
        json!({"address": "127.0.0.1", "protocol_port": 9000}),
    );
    let post = |m: Value| json!({ "member": m });
    let cases = [
        (
            post(json!({"protocol_port": 80})),
            400,
            "address: is required",
        ),
        (
            post(json!({"address": "x", "protocol_port": 80})),
            400,
            "address",
        ),
        (
            post(json!({"address": "127.0.0.2"})),
            400,
            "protocol_port: is required",
        ),
        (
            post(json!({"address": "127.0.0.2", "protocol_port": 0})),
            400,
            "protocol_port",
        ),
        (
            post(json!({"address": "127.0.0.2", "protocol_port": 80, "weight": 257})),
            400,
            "weight",
        ),
        (
            post(json!({"address": "127.0.0.2", "protocol_port": 80, "colour": 1})),
            400,
            "colour",
        ),
        (
            post(json!({"address": "127.0.0.2", "protocol_port": 80, "project_id": "other"})),
            400,
            "project_id",
        ),
        (
            post(json!({"address": "127.0.0.2", "protocol_port": 80,
                        "subnet_id": "00000000-0000-4000-8000-000000000000"})),
            404,
            "Subnet 00000000-0000-4000-8000-000000000000 not found.",
        ),
        (
            post(json!({"address": "127.0.0.1", "protocol_port": 9000})),
            409,
            "already using ip 127.0.0.1 on protocol_port 9000",
        ),
        (
            json!({"address": "127.0.0.2", "protocol_port": 80}),
            400,
            "\"member\"",
        ),
    ];
    for (body, want, needle) in cases {
        refused(&b, &p, "POST", &members_path(&p), body, want, needle);
    }
    let m = json!({"member": {"address": "127.0.0.2", "protocol_port": 80}});
    for pool in ["00000000-0000-4000-8000-000000000000", "not-a-uuid"] {
        refused(
            &b,
            &p,
            "POST",
            &members_path(pool),
            m.clone(),
            404,
            "not found",
        );
        let (s, v) = b.get(&members_path(pool));
        assert_fault(s, &v, 404, "not found");
    }
    // A member id under another pool is unknown there.
    let (lb2, _, p2) = empty_pool(&b);
    let other = add(
        &b,
        &lb2,
        &p2,
        json!({"address": "127.0.0.1", "protocol_port": 1}),
    );
    let (s, v) = b.get(&format!(
        "{}/{}",
        members_path(&p),
        other["id"].as_str().unwrap()
    ));
    assert_fault(s, &v, 404, "not found");
}

#[test]
fn member_lists_filter_sort_page_and_cut_fields() {
    let b = Ballast::start();
    let (lb, _, p) = empty_pool(&b);
    for port in [9001, 9002, 9003] {
        add(
            &b,
            &lb,
            &p,
            json!({"address": "127.0.0.1", "protocol_port": port,
                                "name": format!("m{port}")}),
        );
    }
    let list = |q: &str| {
        let (s, v) = b.get(&format!("{}?{q}", members_path(&p)));
        assert_eq!(s, 200, "{q}: {v}");
        v
    };
    let ports = |v: &Value| -> Vec<i64> {
        v["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["protocol_port"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(ports(&list("name=m9002")), [9002]);
    assert_eq!(ports(&list("protocol_port=9003")), [9003]);
    assert_eq!(ports(&list("sort=protocol_port:desc")), [9003, 9002, 9001]);
    let page = list("limit=2&sort=protocol_port:asc");
    assert_eq!(ports(&page), [9001, 9002]);
    assert_eq!(page["members_links"][0]["rel"], "next", "{page}");
    let cut = list("fields=id,address");
    assert_keys(&cut["members"][0], &["id", "address"]);
    let (s, v) = b.get(&format!("{}?colour=red", members_path(&p)));
    assert_fault(s, &v, 400, "invalid");
}

#[test]
fn the_batch_put_creates_updates_and_deletes_by_address_and_port() {
    let b = Ballast::start();
    let (lb, _, p) = empty_pool(&b);
    let keep = add(
        &b,
        &lb,
        &p,
        json!({"address": "127.0.0.1", "protocol_port": 9001, "weight": 3}),
    );
    let gone = add(
        &b,
        &lb,
        &p,
        json!({"address": "127.0.0.1", "protocol_port": 9002}),
    );

    let (s, v) = b.put(
        &members_path(&p),
        json!({"members": [
            {"address": "127.0.0.1", "protocol_port": 9001, "weight": 9, "name": "kept"},
            {"address": "127.0.0.2", "protocol_port": 9003},
        ]}),
    );
    assert_eq!((s, v), (202, Value::Null));
    b.wait_lb_active(&lb);
    let members = b.get(&members_path(&p)).1["members"].clone();
    let members = members.as_array().unwrap();
    assert_eq!(members.len(), 2, "{members:?}");
    let kept = members
        .iter()
        .find(|m| m["id"] == keep["id"])
        .expect("kept by address");
    assert_eq!(
        (&kept["weight"], &kept["name"]),
        (&json!(9), &json!("kept"))
    );
    assert!(members.iter().all(|m| m["id"] != gone["id"]));
    assert!(
        members
            .iter()
            .any(|m| m["address"] == "127.0.0.2" && m["protocol_port"] == 9003)
    );

    // additive_only: the unlisted member stays.
    let (s, _) = b.put(
        &format!("{}?additive_only=true", members_path(&p)),
        json!({"members": [{"address": "127.0.0.3", "protocol_port": 9004}]}),
    );
    assert_eq!(s, 202);
    b.wait_lb_active(&lb);
    assert_eq!(
        b.get(&members_path(&p)).1["members"]
            .as_array()
            .unwrap()
            .len(),
        3
    );

    // One member twice in a batch is refused.
    let twice = json!({"members": [
        {"address": "127.0.0.3", "protocol_port": 9004},
        {"address": "127.0.0.3", "protocol_port": 9004},
    ]});
    refused(
        &b,
        &p,
        "PUT",
        &members_path(&p),
        twice,
        400,
        "updated only once",
    );

    // An empty list with additive_only changes nothing and queues no job.
    let jobs = b.job_count();
    let (s, _) = b.put(
        &format!("{}?additive_only=True", members_path(&p)),
        json!({"members": []}),
    );
    assert_eq!((s, b.job_count()), (202, jobs));

    // An empty list without it empties the pool.
    let (s, _) = b.put(&members_path(&p), json!({"members": []}));
    assert_eq!(s, 202);
    b.wait_lb_active(&lb);
    assert_eq!(b.get(&members_path(&p)).1["members"], json!([]));
}

fn hm_path(id: &str) -> String {
    format!("/v2/lbaas/healthmonitors/{id}")
}

/// POST a monitor, expect 201, wait for ACTIVE; the 201 body's monitor.
fn add_monitor(b: &Ballast, lb: &str, body: Value) -> Value {
    let (s, v) = b.post("/v2/lbaas/healthmonitors", json!({ "healthmonitor": body }));
    assert_eq!(s, 201, "{v}");
    b.wait_lb_active(lb);
    v["healthmonitor"].clone()
}

#[test]
fn a_monitor_maps_max_retries_onto_the_thresholds_v1_shows() {
    let b = Ballast::start();
    let (lb, l, p) = empty_pool(&b);
    let (s, v) = b.post(
        "/v2/lbaas/healthmonitors",
        json!({"healthmonitor": {"pool_id": p, "type": "HTTP", "delay": "5", "timeout": 3,
                                 "max_retries": 2, "url_path": "/health", "name": "hm",
                                 "http_version": 1.1}}),
    );
    assert_eq!(s, 201, "{v}");
    let h = &v["healthmonitor"];
    assert_keys(h, MONITOR_KEYS);
    assert_uuid(&h["id"]);
    assert_eq!(h["pools"], json!([{"id": p}]));
    assert_eq!(
        (&h["max_retries"], &h["max_retries_down"], &h["delay"]),
        (&json!(2), &json!(3), &json!(5))
    );
    assert_eq!(
        (
            &h["http_method"],
            &h["url_path"],
            &h["expected_codes"],
            &h["http_version"]
        ),
        (&json!("GET"), &json!("/health"), &json!("200"), &json!(1.1))
    );
    assert_eq!(
        (&h["name"], &h["project_id"]),
        (&json!("hm"), &json!("ballast"))
    );
    b.wait_lb_active(&lb);
    let (s, v1) = b.get(&monitor_path(&lb, &l, &p));
    assert_eq!(s, 200);
    assert_eq!(
        (&v1["rise_threshold"], &v1["fall_threshold"]),
        (&json!(2), &json!(3))
    );

    let id = h["id"].as_str().unwrap();
    let (s, v) = b.put(
        &hm_path(id),
        json!({"healthmonitor": {"max_retries_down": 5, "name": null}}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            &v["healthmonitor"]["max_retries_down"],
            &v["healthmonitor"]["name"]
        ),
        (&json!(5), &json!(""))
    );
    b.wait_lb_active(&lb);
    let (s, v) = b.put(
        &hm_path(id),
        json!({"healthmonitor": {"max_retries_down": null, "url_path": null}}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            &v["healthmonitor"]["max_retries_down"],
            &v["healthmonitor"]["url_path"]
        ),
        (&json!(3), &json!("/"))
    );
    b.wait_lb_active(&lb);

    let (s, list) = b.get(&format!("/v2/lbaas/healthmonitors?pool_id={p}"));
    assert_eq!(s, 200);
    assert_eq!(
        list["healthmonitors"].as_array().unwrap().len(),
        1,
        "{list}"
    );
    assert_eq!(
        b.get("/v2/lbaas/healthmonitors?name=other").1["healthmonitors"],
        json!([])
    );

    assert_eq!(b.delete(&hm_path(id)), (204, Value::Null));
    b.wait_lb_active(&lb);
    let (s, v) = b.get(&hm_path(id));
    assert_fault(s, &v, 404, "not found");
    let (s, _) = b.get(&monitor_path(&lb, &l, &p));
    assert_eq!(s, 404, "gone through /v1 too");
}

#[test]
fn a_tcp_monitor_has_no_http_fields_and_refuses_them() {
    let b = Ballast::start();
    let (lb, _, p) = empty_pool(&b);
    let h = add_monitor(
        &b,
        &lb,
        json!({"pool_id": p, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 1}),
    );
    for k in [
        "http_method",
        "url_path",
        "expected_codes",
        "http_version",
        "domain_name",
    ] {
        assert!(h[k].is_null(), "{k} of a TCP monitor: {h}");
    }
    let path = hm_path(h["id"].as_str().unwrap());
    refused(
        &b,
        &p,
        "PUT",
        &path,
        json!({"healthmonitor": {"url_path": "/x"}}),
        400,
        "url_path is not a valid option for health monitors of type TCP",
    );
    refused(
        &b,
        &p,
        "PUT",
        &path,
        json!({"healthmonitor": {"delay": null}}),
        400,
        "delay",
    );
    // A second monitor on the pool.
    refused(
        &b,
        &p,
        "POST",
        "/v2/lbaas/healthmonitors",
        json!({"healthmonitor": {"pool_id": p, "type": "TCP", "delay": 5, "timeout": 3, "max_retries": 1}}),
        409,
        "This pool already has a health monitor",
    );
}

#[test]
fn unsupported_or_bad_monitor_requests_are_refused_and_change_nothing() {
    let b = Ballast::start();
    let (_, _, p) = empty_pool(&b);
    let hm = |extra: Value| {
        let mut h =
            json!({"pool_id": p, "type": "HTTP", "delay": 5, "timeout": 3, "max_retries": 2});
        for (k, v) in extra.as_object().unwrap() {
            h[k] = v.clone();
        }
        json!({ "healthmonitor": h })
    };
    let refusal = "Provider 'ballast' does not support a requested option: ";
    let cases = [
        (
            hm(json!({"domain_name": "example.com", "http_version": 1.1})),
            400,
            format!("{refusal}domain_name"),
        ),
        (
            hm(json!({"http_version": 1.0})),
            400,
            format!("{refusal}http_version 1.0"),
        ),
        (
            hm(json!({"type": "TLS-HELLO"})),
            400,
            format!("{refusal}health monitor type TLS-HELLO"),
        ),
        (
            hm(json!({"type": "UDP-CONNECT"})),
            400,
            format!("{refusal}health monitor type UDP-CONNECT"),
        ),
        (
            hm(json!({"type": "TCP", "http_method": "GET"})),
            400,
            "http_method is not a valid option for health monitors of type TCP".into(),
        ),
        (hm(json!({"timeout": 6})), 400, "timeout".into()),
        (hm(json!({"max_retries": 11})), 400, "max_retries".into()),
        (
            hm(json!({"max_retries_down": 0})),
            400,
            "max_retries_down".into(),
        ),
        (
            hm(json!({"expected_codes": "abc"})),
            400,
            "expected_codes".into(),
        ),
        (hm(json!({"colour": "red"})), 400, "colour".into()),
        (hm(json!({"project_id": "other"})), 400, "project_id".into()),
        (
            hm(json!({"pool_id": "00000000-0000-4000-8000-000000000000"})),
            404,
            "not found".into(),
        ),
        (
            json!({"healthmonitor": {"type": "TCP", "delay": 5, "timeout": 3, "max_retries": 1}}),
            400,
            "pool_id: is required".into(),
        ),
    ];
    for (body, want, needle) in cases {
        refused(
            &b,
            &p,
            "POST",
            "/v2/lbaas/healthmonitors",
            body,
            want,
            &needle,
        );
    }
    for id in ["00000000-0000-4000-8000-000000000000", "nope"] {
        let (s, v) = b.get(&hm_path(id));
        assert_fault(s, &v, 404, "not found");
    }
}

#[test]
fn a_v2_member_pointing_at_a_listener_of_ballast_is_refused_one_by_one_and_in_a_batch() {
    let b = Ballast::start();
    let (lb, _, p) = empty_pool(&b);
    let vip = b.get(&format!("/v2/lbaas/loadbalancers/{lb}")).1["loadbalancer"]["vip_address"]
        .as_str()
        .unwrap()
        .to_string();
    let looping = json!({"address": vip, "protocol_port": 8080});
    refused(
        &b,
        &p,
        "POST",
        &members_path(&p),
        json!({ "member": looping }),
        400,
        "would loop",
    );
    refused(
        &b,
        &p,
        "PUT",
        &members_path(&p),
        json!({ "members": [looping] }),
        400,
        "would loop",
    );
    refused(
        &b,
        &p,
        "POST",
        &members_path(&p),
        json!({ "member": {"address": "169.254.169.254", "protocol_port": 80} }),
        400,
        "reserved",
    );
}
