//! The v2 API's discovery and `lbaas/loadbalancers`, written from Octavia's
//! `controllers/load_balancer.py` and `types/load_balancer.py`: codes,
//! every field of the response types, filters, sorting, pagination,
//! `fields=`, the status tree and stats, the options Ballast refuses, the
//! lock, projects, and the same rows seen through `/v1` and `/v2` alike.

mod common;

use std::time::Duration;

use common::api::assert_uuid;
use common::v2::{
    Kind, LB_FIELDS, STATS_FIELDS, assert_shape, hold, id, id_list, list_ids, post_with_headers,
    refused, unsupported, v2_child, v2_lb, v2_lb_with, v2_listener, v2_pool, wait_active,
};
use common::{Ballast, assert_fault, http, http_raw, wait_until};
use serde_json::{Value, json};

const LBS: &str = "/v2/lbaas/loadbalancers";

fn lb_path(lb: &str) -> String {
    format!("{LBS}/{lb}")
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
        &lb_path(&lb_id),
        json!({"loadbalancer": {"name": "renamed", "description": null}}),
    );
    assert_eq!(s, 200, "{put}");
    assert_eq!(put["loadbalancer"]["name"], "renamed");
    // A write while it is PENDING_UPDATE is 409: two writes back to back
    // until the second lands before the controller settles the first.
    let path = lb_path(&lb_id);
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

    let (s, fo) = b.put(&format!("{}/failover", lb_path(&lb_id)), json!({}));
    assert_eq!(s, 202, "{fo}");
    wait_active(&b, &lb_id);

    let (s, st) = b.get(&format!("{}/status", lb_path(&lb_id)));
    assert_eq!(s, 200);
    assert_eq!(st["statuses"]["loadbalancer"]["id"], lb_id.as_str());
    let (s, stats) = b.get(&format!("{}/stats", lb_path(&lb_id)));
    assert_eq!(s, 200);
    assert_eq!(stats["stats"]["request_errors"], 0);

    // Lists: filters, sort, pagination, fields.
    let (_, all) = b.get(&format!("{LBS}?sort=name:asc&fields=id,name"));
    let names: Vec<&str> = all["loadbalancers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["", "renamed"]);
    assert_eq!(all["loadbalancers"][0].as_object().unwrap().len(), 2);
    assert_eq!(all["loadbalancers_links"], json!([]));
    let (_, mine) = b.get(&format!("{LBS}?project_id=p2&admin_state_up=True"));
    assert_eq!(mine["loadbalancers"].as_array().unwrap().len(), 1);
    let (_, page) = b.get(&format!("{LBS}?limit=1"));
    assert_eq!(page["loadbalancers"].as_array().unwrap().len(), 1);
    assert_eq!(page["loadbalancers_links"][0]["rel"], "next");
    let (_, tagged) = b.get(&format!("{LBS}?tags=t1"));
    assert_eq!(tagged["loadbalancers"][0]["id"], lb_id.as_str());
    let (s, bad) = b.get(&format!("{LBS}?colour=red"));
    assert_fault(s, &bad, 400, "invalid");

    for path in ["not-a-uuid", "00000000-0000-4000-8000-000000000000"] {
        let (s, nf) = b.get(&format!("{LBS}/{path}?fields=id"));
        assert_fault(s, &nf, 404, "not found");
    }
    let (s, _) = b.delete(&lb_path(&other_id));
    assert_eq!(s, 204);
}

#[test]
fn a_load_balancer_made_in_v1_is_seen_changed_and_deleted_in_v2() {
    let b = Ballast::start();
    let lb = b.create_lb();
    let lb_id = id(&lb);
    let (s, v2) = b.get(&lb_path(&lb_id));
    assert_eq!(s, 200);
    assert_eq!(v2["loadbalancer"]["vip_address"], lb["vip"]["ip_address"]);
    assert_shape(&v2["loadbalancer"], LB_FIELDS);
    assert_eq!(
        v2["loadbalancer"]["project_id"],
        Value::Null,
        "v1 made it without one"
    );
    let (s, _) = b.put(
        &lb_path(&lb_id),
        json!({"loadbalancer": {"admin_state_up": false}}),
    );
    assert_eq!(s, 200);
    b.wait_lb_active(&lb_id);
    let (_, v1) = b.get(&format!("/v1/loadbalancers/{lb_id}"));
    assert_eq!(v1["enabled"], false);
    let (s, _) = b.delete(&lb_path(&lb_id));
    assert_eq!(s, 204);
    wait_until(Duration::from_secs(10), "v1 sees it DELETED", || {
        b.get(&format!("/v1/loadbalancers/{lb_id}")).1["provisioning_status"] == "DELETED"
    });
}

#[test]
fn create_is_201_and_every_body_has_every_field_of_octavias_response_with_its_type() {
    let b = Ballast::start();
    let net = b.network_id();
    let (s, v) = b.post(
        LBS,
        json!({"loadbalancer": {"vip_network_id": net, "name": "web", "description": "d",
            "admin_state_up": false, "tags": ["a", "b"], "provider": "ballast",
            // Neutral values of the options Ballast does not implement pass.
            "flavor_id": null, "availability_zone": null, "additional_vips": [],
            "vip_sg_ids": [], "vip_qos_policy_id": null, "vip_vnic_type": "normal"}}),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    let lb = &v["loadbalancer"];
    assert_shape(lb, LB_FIELDS);
    let lb_id = id(lb);
    assert_eq!(lb["provisioning_status"], "PENDING_CREATE");
    assert_eq!(lb["operating_status"], "OFFLINE");
    for (field, want) in [
        ("name", json!("web")),
        ("description", json!("d")),
        ("admin_state_up", json!(false)),
        ("tags", json!(["a", "b"])),
        ("provider", json!("ballast")),
        ("vip_network_id", json!(net)),
        ("listeners", json!([])),
        ("pools", json!([])),
        ("vip_sg_ids", json!([])),
        ("additional_vips", json!([])),
        ("flavor_id", Value::Null),
        ("availability_zone", Value::Null),
        ("vip_qos_policy_id", Value::Null),
        ("vip_vnic_type", json!("normal")),
    ] {
        assert_eq!(lb[field], want, "{field} of {lb}");
    }
    let ip: std::net::IpAddr = lb["vip_address"].as_str().unwrap().parse().unwrap();
    assert!(ip.is_loopback(), "{ip}");
    let (_, port) = b.get(&format!(
        "/v2.0/ports/{}",
        lb["vip_port_id"].as_str().unwrap()
    ));
    assert_eq!(
        port["port"]["fixed_ips"][0]["ip_address"],
        lb["vip_address"]
    );
    assert_eq!(
        port["port"]["fixed_ips"][0]["subnet_id"],
        lb["vip_subnet_id"]
    );

    let active = wait_active(&b, &lb_id);
    assert_shape(&active, LB_FIELDS);
    let (_, list) = b.get(LBS);
    assert_shape(&list["loadbalancers"][0], LB_FIELDS);
    assert_eq!(list["loadbalancers"][0], active);

    // Its children appear in the relation lists.
    let l = v2_listener(&b, &lb_id, "HTTP", 8080);
    let p = v2_pool(
        &b,
        &lb_id,
        json!({"loadbalancer_id": lb_id, "protocol": "TCP"}),
    );
    let (_, got) = b.get(&lb_path(&lb_id));
    assert_eq!(got["loadbalancer"]["listeners"], id_list(&[&id(&l)]));
    assert_eq!(got["loadbalancer"]["pools"], id_list(&[&id(&p)]));

    // A client-chosen id is used; a taken one is 409.
    let chosen = "1b3f3b1e-8e6a-4d59-9a53-3e0f0d1b2c3d";
    let (s, v) = b.post(
        LBS,
        json!({"loadbalancer": {"vip_network_id": net, "id": chosen}}),
    );
    assert_eq!((s, v["loadbalancer"]["id"].as_str()), (201, Some(chosen)));
    wait_active(&b, chosen);
    refused(
        &b,
        "POST",
        LBS,
        Some(json!({"loadbalancer": {"vip_network_id": net, "id": chosen}})),
        409,
        "already exists",
    );
}

#[test]
fn update_is_200_null_clears_optional_fields_and_delete_is_204() {
    let b = Ballast::start();
    let lb = v2_lb_with(
        &b,
        json!({"name": "n", "description": "d", "tags": ["x", "y"]}),
    );
    let lb_id = id(&lb);
    let (s, v) = b.put(
        &lb_path(&lb_id),
        json!({"loadbalancer": {"name": null, "description": null, "tags": null,
            "admin_state_up": false}}),
    );
    assert_eq!(s, 200, "{v}");
    assert_shape(&v["loadbalancer"], LB_FIELDS);
    assert_eq!(v["loadbalancer"]["provisioning_status"], "PENDING_UPDATE");
    let settled = wait_active(&b, &lb_id);
    assert_eq!(
        (
            &settled["name"],
            &settled["description"],
            &settled["tags"],
            &settled["admin_state_up"]
        ),
        (&json!(""), &json!(""), &json!([]), &json!(false))
    );
    assert_eq!(settled["vip_address"], lb["vip_address"], "untouched");
    let (s, v) = b.put(
        &lb_path(&lb_id),
        json!({"loadbalancer": {"tags": ["z"], "name": "again"}}),
    );
    assert_eq!(s, 200, "{v}");
    let settled = wait_active(&b, &lb_id);
    assert_eq!(
        (&settled["tags"], &settled["name"]),
        (&json!(["z"]), &json!("again"))
    );

    // Fields of the POST type only, or read-only ones, are 400 on PUT.
    for (field, value) in [
        ("vip_address", json!("127.0.0.9")),
        ("vip_network_id", json!(b.network_id())),
        ("project_id", json!("p")),
        ("provider", json!("ballast")),
        ("provisioning_status", json!("ACTIVE")),
        ("id", json!(lb_id)),
    ] {
        refused(
            &b,
            "PUT",
            &lb_path(&lb_id),
            Some(json!({"loadbalancer": {field: value}})),
            400,
            field,
        );
    }

    let (s, v) = b.delete(&lb_path(&lb_id));
    assert_eq!((s, v), (204, Value::Null));
    wait_until(Duration::from_secs(10), "v2 load balancer gone", || {
        b.get(&lb_path(&lb_id)).0 == 404
    });
    assert_eq!(list_ids(&b, "loadbalancers", ""), Vec::<String>::new());
    // Unknown and malformed ids are 404 for every verb.
    for bad in [lb_id.as_str(), "not-a-uuid"] {
        for (method, path) in [
            ("GET", lb_path(bad)),
            ("PUT", lb_path(bad)),
            ("DELETE", lb_path(bad)),
            ("GET", format!("{}/status", lb_path(bad))),
            ("GET", format!("{}/stats", lb_path(bad))),
            ("PUT", format!("{}/failover", lb_path(bad))),
        ] {
            let body = (method == "PUT").then(|| json!({"loadbalancer": {"name": "x"}}));
            refused(&b, method, &path, body, 404, "not found");
        }
    }
}

#[test]
fn unsupported_options_are_refused_with_400_on_post_and_put_and_change_nothing() {
    let b = Ballast::start();
    let lb = v2_lb(&b, "x");
    let lb_id = id(&lb);
    let net = lb["vip_network_id"].clone();
    let subnet = lb["vip_subnet_id"].clone();
    let uuid = "5e1a1c5e-0000-4000-8000-000000000001";
    for (field, value) in [
        ("vip_qos_policy_id", json!(uuid)),
        ("vip_sg_ids", json!([uuid])),
        ("additional_vips", json!([{"subnet_id": subnet}])),
        ("flavor_id", json!(uuid)),
        ("availability_zone", json!("az1")),
        ("vip_vnic_type", json!("direct")),
        (
            "listeners",
            json!([{"protocol": "HTTP", "protocol_port": 80}]),
        ),
        (
            "pools",
            json!([{"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}]),
        ),
    ] {
        unsupported(
            &b,
            "POST",
            LBS,
            json!({"loadbalancer": {"vip_network_id": net, field: value}}),
            field,
        );
    }
    // Octavia's PUT takes vip_qos_policy_id and vip_sg_ids; the rest are
    // POST-only, refused all the same.
    for (field, value) in [
        ("vip_qos_policy_id", json!(uuid)),
        ("vip_sg_ids", json!([uuid])),
        ("flavor_id", json!(uuid)),
        ("availability_zone", json!("az1")),
    ] {
        unsupported(
            &b,
            "PUT",
            &lb_path(&lb_id),
            json!({"loadbalancer": {"name": "changed", field: value}}),
            field,
        );
    }
    assert_eq!(list_ids(&b, "loadbalancers", ""), [lb_id.as_str()]);
    assert_eq!(wait_active(&b, &lb_id)["name"], "x");
}

#[test]
fn bad_load_balancer_requests_are_400_with_a_fault_and_change_nothing() {
    let b = Ballast::start();
    let lb = v2_lb(&b, "x");
    let net = lb["vip_network_id"].clone();
    let unknown = "5e1a1c5e-0000-4000-8000-000000000002";
    let cases: Vec<(Value, &str)> = vec![
        (json!({"loadbalancer": {}}), "VIP must contain one of"),
        (json!({"loadbalancer": {"name": "x"}}), "vip_subnet_id"),
        (
            json!({"loadbalancer": {"vip_subnet_id": unknown}}),
            "not found",
        ),
        (
            json!({"loadbalancer": {"vip_network_id": "not-a-uuid"}}),
            "vip_network_id",
        ),
        (
            json!({"loadbalancer": {"vip_network_id": net, "vip_address": "nonsense"}}),
            "vip_address",
        ),
        (
            json!({"loadbalancer": {"vip_network_id": net, "provider": "octavia"}}),
            "Provider 'octavia' is not enabled",
        ),
        (
            json!({"loadbalancer": {"vip_network_id": net, "name": "n".repeat(256)}}),
            "name",
        ),
        (
            json!({"loadbalancer": {"vip_network_id": net, "project_id": "p".repeat(37)}}),
            "project_id",
        ),
        (
            json!({"loadbalancer": {"vip_network_id": net, "tags": [""]}}),
            "tags",
        ),
        (
            json!({"loadbalancer": {"vip_network_id": net, "admin_state_up": "yes"}}),
            "admin_state_up",
        ),
        (
            json!({"loadbalancer": {"vip_network_id": net, "colour": "red"}}),
            "colour",
        ),
        (json!({"vip_network_id": net}), "\"loadbalancer\""),
        (
            json!({"loadbalancer": {"vip_network_id": net}, "extra": 1}),
            "extra",
        ),
        (json!({"loadbalancer": []}), "\"loadbalancer\""),
        (json!([]), "JSON object"),
    ];
    for (body, needle) in cases {
        refused(&b, "POST", LBS, Some(body), 400, needle);
    }
}

#[test]
fn the_project_is_the_bodys_then_the_headers_then_the_default_and_children_inherit_it() {
    let b = Ballast::start();
    let net = b.network_id();
    let body = |project: Option<&str>| {
        let mut lb = json!({"vip_network_id": net});
        if let Some(p) = project {
            lb["project_id"] = json!(p);
        }
        json!({ "loadbalancer": lb })
    };
    let (s, from_body) = post_with_headers(&b, LBS, body(Some("pb")), &[("X-Project-Id", "ph")]);
    assert_eq!(s, 201, "{from_body}");
    assert_eq!(from_body["loadbalancer"]["project_id"], "pb");
    let (s, from_header) = post_with_headers(&b, LBS, body(None), &[("X-Project-Id", "ph")]);
    assert_eq!(s, 201, "{from_header}");
    assert_eq!(from_header["loadbalancer"]["project_id"], "ph");
    let (s, default) = b.post(LBS, body(None));
    assert_eq!(s, 201, "{default}");
    assert_eq!(default["loadbalancer"]["project_id"], "ballast");

    let lb = id(&from_header["loadbalancer"]);
    wait_active(&b, &lb);
    let l = v2_listener(&b, &lb, "HTTP", 80);
    assert_eq!(l["project_id"], "ph");
    let p = v2_pool(&b, &lb, json!({"listener_id": id(&l), "protocol": "HTTP"}));
    assert_eq!(p["project_id"], "ph");
    let m = v2_child(
        &b,
        &lb,
        &format!("pools/{}/members", id(&p)),
        json!({"member": {"address": "127.0.0.1", "protocol_port": 9}}),
    );
    assert_eq!(m["project_id"], "ph");
    assert_eq!(
        list_ids(&b, "loadbalancers", "project_id=ph"),
        [lb.as_str()]
    );
    assert_eq!(list_ids(&b, "listeners", "project_id=ph"), [id(&l)]);
    assert_eq!(list_ids(&b, "pools", "project_id=ph"), [id(&p)]);
}

/// Three ACTIVE load balancers to list: `a` (tags t1, t2; project p1), `b`
/// (tag t2; disabled; project p2), `c` (no tags; the default project).
fn three(b: &Ballast) -> [Value; 3] {
    [
        v2_lb_with(
            b,
            json!({"name": "a", "description": "da", "tags": ["t1", "t2"], "project_id": "p1"}),
        ),
        v2_lb_with(
            b,
            json!({"name": "b", "tags": ["t2"], "admin_state_up": false, "project_id": "p2"}),
        ),
        v2_lb_with(b, json!({"name": "c"})),
    ]
}

#[test]
fn lists_filter_on_every_documented_key_and_refuse_unknown_ones() {
    let b = Ballast::start();
    let [x, y, z] = three(&b);
    let (a, bb, c) = (id(&x), id(&y), id(&z));
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let all = sorted(vec![a.clone(), bb.clone(), c.clone()]);
    let by = |q: &str| sorted(list_ids(&b, "loadbalancers", q));
    assert_eq!(by(""), all);
    assert_eq!(by(&format!("id={a}")), [a.as_str()]);
    assert_eq!(
        by(&format!("id={a}&id={c}")),
        sorted(vec![a.clone(), c.clone()])
    );
    assert_eq!(by("name=b"), [bb.as_str()]);
    assert_eq!(by("description=da"), [a.as_str()]);
    assert_eq!(by("provisioning_status=ACTIVE"), all);
    assert_eq!(by("provisioning_status=ERROR"), Vec::<String>::new());
    let op = x["operating_status"].as_str().unwrap();
    assert!(by(&format!("operating_status={op}")).contains(&a));
    for t in ["True", "true"] {
        assert_eq!(
            by(&format!("admin_state_up={t}")),
            sorted(vec![a.clone(), c.clone()])
        );
    }
    for f in ["False", "false"] {
        assert_eq!(by(&format!("admin_state_up={f}")), [bb.as_str()]);
    }
    assert_eq!(by("project_id=p2"), [bb.as_str()]);
    assert_eq!(by("project_id=ballast"), [c.as_str()]);
    for key in ["vip_address", "vip_port_id"] {
        assert_eq!(
            by(&format!("{key}={}", y[key].as_str().unwrap())),
            [bb.as_str()]
        );
    }
    for key in ["vip_subnet_id", "vip_network_id"] {
        assert_eq!(by(&format!("{key}={}", y[key].as_str().unwrap())), all);
    }
    assert_eq!(by("provider=ballast"), all);
    assert_eq!(by("provider=octavia"), Vec::<String>::new());
    // Unset fields match no value.
    assert_eq!(by("flavor_id=x"), Vec::<String>::new());
    assert_eq!(by("availability_zone=x"), Vec::<String>::new());
    assert!(by(&format!("created_at={}", x["created_at"].as_str().unwrap())).contains(&a));
    // Tags: all of, any of, not all of, none of; comma lists and repeats.
    assert_eq!(by("tags=t1"), [a.as_str()]);
    assert_eq!(by("tags=t1,t2"), [a.as_str()]);
    assert_eq!(by("tags=t1&tags=t2"), [a.as_str()]);
    assert_eq!(by("tags=t2"), sorted(vec![a.clone(), bb.clone()]));
    assert_eq!(by("tags-any=t1,zz"), [a.as_str()]);
    assert_eq!(by("not-tags=t1,t2"), sorted(vec![bb.clone(), c.clone()]));
    assert_eq!(by("not-tags-any=t2"), [c.as_str()]);
    assert_eq!(by("name=a&tags=t2"), [a.as_str()]);
    for q in ["colour=red", "vip_sg_ids=x", "listeners=x"] {
        refused(
            &b,
            "GET",
            &format!("{LBS}?{q}"),
            None,
            400,
            "One or more arguments are either duplicate or invalid",
        );
    }
}

#[test]
fn lists_sort_page_and_cut_fields_as_octavia() {
    let b = Ballast::start();
    let [x, y, z] = three(&b);
    let (a, bb, c) = (id(&x), id(&y), id(&z));
    let by = |q: &str| list_ids(&b, "loadbalancers", q);
    assert_eq!(by("sort=name:asc"), [a.clone(), bb.clone(), c.clone()]);
    assert_eq!(by("sort=name:desc"), [c.clone(), bb.clone(), a.clone()]);
    assert_eq!(by("sort=name"), [a.clone(), bb.clone(), c.clone()]);
    assert_eq!(
        by("sort=admin_state_up:asc,name:desc"),
        [bb.clone(), c.clone(), a.clone()]
    );
    assert_eq!(
        by("sort_key=name&sort_dir=desc"),
        [c.clone(), bb.clone(), a.clone()]
    );
    assert_eq!(
        by("sort_key=admin_state_up,name&sort_dir=desc,asc"),
        [a.clone(), c.clone(), bb.clone()]
    );
    for (q, needle) in [
        ("sort=name:sideways", "sort direction"),
        ("sort=colour", "sort key 'colour'"),
        ("sort=name:asc:x", "sort key"),
        ("sort_key=colour", "sort key 'colour'"),
        ("sort_key=name&sort_dir=up", "sort direction"),
    ] {
        refused(&b, "GET", &format!("{LBS}?{q}"), None, 400, needle);
    }

    // Pages: a next link only when the page is full, following it keeps
    // the order; the second page links back.
    let (s, first) = b.get(&format!("{LBS}?sort=name:asc&limit=2"));
    assert_eq!(s, 200);
    assert_eq!(
        common::v2::ids(&first, "loadbalancers"),
        [a.clone(), bb.clone()]
    );
    let links = first["loadbalancers_links"].as_array().unwrap();
    assert_eq!(links.len(), 1, "{first}");
    assert_eq!(links[0]["rel"], "next");
    let next = links[0]["href"].as_str().unwrap();
    assert!(next.starts_with(&b.url(LBS)), "{next}");
    assert!(next.contains(&format!("marker={bb}")), "{next}");
    assert!(next.contains("limit=2"), "{next}");
    let (s, second) = http("GET", next, None);
    assert_eq!(s, 200, "{second}");
    assert_eq!(common::v2::ids(&second, "loadbalancers"), [c.as_str()]);
    let rels: Vec<&str> = second["loadbalancers_links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert_eq!(rels, ["previous"], "a short page has no next link");
    let (s, back) = http(
        "GET",
        second["loadbalancers_links"][0]["href"].as_str().unwrap(),
        None,
    );
    assert_eq!(s, 200, "{back}");
    assert_eq!(
        common::v2::ids(&back, "loadbalancers"),
        [a.clone(), bb.clone()]
    );
    assert_eq!(
        by(&format!(
            "sort=name:asc&limit=1&marker={c}&page_reverse=True"
        )),
        [bb.as_str()]
    );
    assert_eq!(
        by(&format!("sort=name:asc&marker={a}&page_reverse=true")),
        Vec::<String>::new()
    );
    // A full page links on even when nothing follows (Octavia cannot tell).
    let (_, full) = b.get(&format!("{LBS}?limit=3"));
    assert_eq!(full["loadbalancers_links"][0]["rel"], "next");
    // A limit past 1000 is cut to 1000; below 1 means no limit.
    for q in ["limit=5000", "limit=0", "limit=-1", ""] {
        let (_, v) = b.get(&format!("{LBS}?{q}"));
        assert_eq!(v["loadbalancers"].as_array().unwrap().len(), 3, "{q}");
        assert_eq!(v["loadbalancers_links"], json!([]), "{q}");
    }
    for (q, needle) in [
        ("limit=lots", "pagination limit 'lots'"),
        (
            "marker=5e1a1c5e-0000-4000-8000-000000000003",
            "pagination marker",
        ),
        ("marker=nope", "pagination marker 'nope'"),
    ] {
        refused(&b, "GET", &format!("{LBS}?{q}"), None, 400, needle);
    }

    // fields= on lists and on one; unknown names are ignored; other query
    // arguments on GET-one are ignored.
    let (_, cut) = b.get(&format!("{LBS}?fields=id&fields=vip_address,nope"));
    for lb in cut["loadbalancers"].as_array().unwrap() {
        let mut keys: Vec<&String> = lb.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["id", "vip_address"]);
    }
    let (s, one) = b.get(&format!("{}?fields=name", lb_path(&a)));
    assert_eq!((s, one), (200, json!({"loadbalancer": {"name": "a"}})));
    let (s, one) = b.get(&format!("{}?colour=red&limit=x", lb_path(&a)));
    assert_eq!(s, 200);
    assert_shape(&one["loadbalancer"], LB_FIELDS);
}

#[test]
fn writes_under_a_pending_load_balancer_are_409_and_change_nothing() {
    let b = Ballast::start();
    let lb = v2_lb(&b, "x");
    let lb_id = id(&lb);
    let l = v2_listener(&b, &lb_id, "HTTP", 80);
    let p = v2_pool(
        &b,
        &lb_id,
        json!({"listener_id": id(&l), "protocol": "HTTP"}),
    );
    let (l_path, p_path) = (
        format!("/v2/lbaas/listeners/{}", id(&l)),
        format!("/v2/lbaas/pools/{}", id(&p)),
    );
    for status in ["PENDING_UPDATE", "PENDING_CREATE", "PENDING_DELETE"] {
        hold(&b, &lb_id, status);
        let writes: Vec<(&str, String, Option<Value>)> = vec![
            (
                "PUT",
                lb_path(&lb_id),
                Some(json!({"loadbalancer": {"name": "y"}})),
            ),
            // Without cascade it is 400 for its children first, as Octavia.
            ("DELETE", format!("{}?cascade=true", lb_path(&lb_id)), None),
            ("PUT", format!("{}/failover", lb_path(&lb_id)), None),
            (
                "POST",
                "/v2/lbaas/listeners".into(),
                Some(
                    json!({"listener": {"loadbalancer_id": lb_id, "protocol": "TCP",
                    "protocol_port": 81}}),
                ),
            ),
            (
                "PUT",
                l_path.clone(),
                Some(json!({"listener": {"name": "y"}})),
            ),
            ("DELETE", l_path.clone(), None),
            (
                "POST",
                "/v2/lbaas/pools".into(),
                Some(json!({"pool": {"loadbalancer_id": lb_id, "protocol": "TCP",
                    "lb_algorithm": "ROUND_ROBIN"}})),
            ),
            ("PUT", p_path.clone(), Some(json!({"pool": {"name": "y"}}))),
            ("DELETE", p_path.clone(), None),
        ];
        for (method, path, body) in writes {
            let v = refused(&b, method, &path, body, 409, &lb_id);
            assert_fault(409, &v, 409, status);
        }
    }
    hold(&b, &lb_id, "ACTIVE");
    let (s, _) = b.put(&lb_path(&lb_id), json!({"loadbalancer": {"name": "y"}}));
    assert_eq!(s, 200, "released, it takes writes again");
    assert_eq!(wait_active(&b, &lb_id)["name"], "y");
}

#[test]
fn the_status_tree_and_stats_have_octavias_shapes() {
    let b = Ballast::start();
    let lb = v2_lb(&b, "x");
    let lb_id = id(&lb);
    let l = v2_listener(&b, &lb_id, "HTTP", 80);
    let p = v2_pool(
        &b,
        &lb_id,
        json!({"listener_id": id(&l), "protocol": "HTTP", "name": "p"}),
    );
    let m = v2_child(
        &b,
        &lb_id,
        &format!("pools/{}/members", id(&p)),
        json!({"member": {"address": "127.0.0.1", "protocol_port": 9, "name": "m"}}),
    );
    let hm = v2_child(
        &b,
        &lb_id,
        "healthmonitors",
        json!({"healthmonitor": {"pool_id": id(&p), "type": "TCP", "delay": 5,
            "timeout": 3, "max_retries": 2, "name": "hm"}}),
    );
    // A standalone pool is in no listener, so not in the tree (Octavia walks
    // listeners to their pools).
    v2_pool(
        &b,
        &lb_id,
        json!({"loadbalancer_id": lb_id, "protocol": "TCP"}),
    );
    let l2 = v2_listener(&b, &lb_id, "TCP", 81);

    let status_kinds = |extra: &[(&'static str, Kind)]| {
        let mut f = vec![
            ("id", Kind::Uuid),
            ("name", Kind::Text),
            ("operating_status", Kind::Text),
            ("provisioning_status", Kind::Text),
        ];
        f.extend_from_slice(extra);
        f
    };
    for suffix in ["status", "statuses"] {
        let (s, v) = b.get(&format!("{}/{suffix}", lb_path(&lb_id)));
        assert_eq!(s, 200, "{suffix}: {v}");
        assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
        assert_eq!(v["statuses"].as_object().unwrap().len(), 1, "{v}");
        let tree = &v["statuses"]["loadbalancer"];
        assert_shape(tree, &status_kinds(&[("listeners", Kind::Objects)]));
        assert_eq!((&tree["id"], &tree["name"]), (&json!(lb_id), &json!("x")));
        let listeners = tree["listeners"].as_array().unwrap();
        let mut got: Vec<String> = listeners.iter().map(id).collect();
        got.sort();
        let mut want = vec![id(&l), id(&l2)];
        want.sort();
        assert_eq!(got, want);
        for lt in listeners {
            assert_shape(lt, &status_kinds(&[("pools", Kind::Objects)]));
        }
        let lt = listeners.iter().find(|x| id(x) == id(&l)).unwrap();
        let empty = listeners.iter().find(|x| id(x) == id(&l2)).unwrap();
        assert_eq!(empty["pools"], json!([]));
        assert_eq!(lt["pools"].as_array().unwrap().len(), 1);
        let pt = &lt["pools"][0];
        assert_shape(
            pt,
            &status_kinds(&[("health_monitor", Kind::Object), ("members", Kind::Objects)]),
        );
        assert_eq!((id(pt), &pt["name"]), (id(&p), &json!("p")));
        let ht = &pt["health_monitor"];
        assert_shape(ht, &status_kinds(&[("type", Kind::Text)]));
        assert_eq!(
            (id(ht), &ht["name"], &ht["type"]),
            (id(&hm), &json!("hm"), &json!("TCP"))
        );
        let mt = &pt["members"][0];
        assert_shape(
            mt,
            &status_kinds(&[("address", Kind::Text), ("protocol_port", Kind::Int)]),
        );
        assert_eq!(
            (id(mt), &mt["name"], &mt["address"], &mt["protocol_port"]),
            (id(&m), &json!("m"), &json!("127.0.0.1"), &json!(9))
        );
    }
    // A pool without a monitor has no health_monitor key (Octavia leaves it unset).
    b.delete(&format!("/v2/lbaas/healthmonitors/{}", id(&hm)));
    wait_active(&b, &lb_id);
    let (_, v) = b.get(&format!("{}/status", lb_path(&lb_id)));
    let lt = v["statuses"]["loadbalancer"]["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| id(x) == id(&l))
        .cloned()
        .unwrap();
    assert!(lt["pools"][0].get("health_monitor").is_none(), "{lt}");

    for path in [
        format!("{}/stats", lb_path(&lb_id)),
        format!("/v2/lbaas/listeners/{}/stats", id(&l)),
    ] {
        let (s, v) = b.get(&path);
        assert_eq!(s, 200, "{v}");
        assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
        assert_shape(&v["stats"], STATS_FIELDS);
    }
}
