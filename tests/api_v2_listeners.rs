//! The v2 API's `lbaas/listeners`, written from Octavia's
//! `controllers/listener.py` and `types/listener.py`: codes, every field of
//! `ListenerResponse` with its type, numbers as strings, `null` clearing,
//! filters, sorting, pagination, `fields=`, stats, the options Ballast
//! refuses on POST and PUT, and projects.

mod common;

use std::time::Duration;

use common::v2::{
    LISTENER_FIELDS, STATS_FIELDS, assert_shape, certificate, id, id_list, list_ids, refused,
    unsupported, v2_lb, v2_listener, v2_pool, wait_active,
};
use common::{Ballast, http, wait_until};
use serde_json::{Value, json};

const LISTENERS: &str = "/v2/lbaas/listeners";

fn listener_path(l: &str) -> String {
    format!("{LISTENERS}/{l}")
}

/// A listener body for load balancer `lb` with `extra` fields.
fn with(lb: &str, extra: Value) -> Value {
    let mut l = json!({"loadbalancer_id": lb, "protocol": "HTTP", "protocol_port": 80});
    for (k, v) in extra.as_object().unwrap() {
        l[k] = v.clone();
    }
    json!({ "listener": l })
}

#[test]
fn create_is_201_with_every_field_of_octavias_response_and_numbers_may_be_strings() {
    let b = Ballast::start();
    let lb = id(&v2_lb(&b, "x"));
    let (s, v) = b.post(
        LISTENERS,
        with(
            &lb,
            json!({"protocol_port": "8080", "connection_limit": "100", "name": "web",
                "description": "d", "admin_state_up": false, "tags": ["a"],
                // Neutral values of the options Ballast does not implement pass.
                "insert_headers": {}, "sni_container_refs": [], "allowed_cidrs": null,
                "client_authentication": "NONE", "hsts_include_subdomains": false,
                "hsts_preload": false, "timeout_client_data": null, "l7policies": []}),
        ),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v.as_object().unwrap().len(), 1, "{v}");
    let l = &v["listener"];
    assert_shape(l, LISTENER_FIELDS);
    for (field, want) in [
        ("provisioning_status", json!("PENDING_CREATE")),
        ("operating_status", json!("OFFLINE")),
        ("protocol", json!("HTTP")),
        ("protocol_port", json!(8080)),
        ("connection_limit", json!(100)),
        ("name", json!("web")),
        ("description", json!("d")),
        ("admin_state_up", json!(false)),
        ("tags", json!(["a"])),
        ("project_id", json!("ballast")),
        ("loadbalancers", id_list(&[&lb])),
        ("default_pool_id", Value::Null),
        ("default_tls_container_ref", Value::Null),
        ("sni_container_refs", json!([])),
        ("l7policies", json!([])),
        ("insert_headers", json!({})),
        ("client_authentication", json!("NONE")),
        ("hsts_include_subdomains", json!(false)),
        ("hsts_preload", json!(false)),
        ("timeout_client_data", Value::Null),
        ("allowed_cidrs", Value::Null),
    ] {
        assert_eq!(l[field], want, "{field} of {l}");
    }
    wait_active(&b, &lb);
    let (_, got) = b.get(&listener_path(&id(l)));
    assert_shape(&got["listener"], LISTENER_FIELDS);
    assert_eq!(got["listener"]["provisioning_status"], "ACTIVE");
    let (_, list) = b.get(LISTENERS);
    assert_eq!(list["listeners"][0], got["listener"]);

    // Defaults: no connection limit is -1, enabled, empty name and tags.
    let bare = v2_listener(&b, &lb, "TCP", 81);
    assert_shape(&bare, LISTENER_FIELDS);
    assert_eq!(
        (
            &bare["connection_limit"],
            &bare["admin_state_up"],
            &bare["name"],
            &bare["tags"]
        ),
        (&json!(-1), &json!(true), &json!(""), &json!([]))
    );
    // TERMINATED_HTTPS takes a certificate reference: an id or a URL ending in one.
    let cert = certificate(&b);
    let (s, v) = b.post(
        LISTENERS,
        with(
            &lb,
            json!({"protocol": "TERMINATED_HTTPS", "protocol_port": 443,
                "default_tls_container_ref": format!("https://barbican.test/v1/containers/{cert}")}),
        ),
    );
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["listener"]["protocol"], "TERMINATED_HTTPS");
    assert_eq!(v["listener"]["default_tls_container_ref"], cert.as_str());
    wait_active(&b, &lb);
    let passthrough = v2_listener(&b, &lb, "HTTPS", 8443);
    assert_eq!(passthrough["protocol"], "HTTPS");
    assert_eq!(passthrough["default_tls_container_ref"], Value::Null);
}

#[test]
fn update_is_200_null_clears_optional_fields_and_delete_is_204_keeping_the_pool() {
    let b = Ballast::start();
    let lb = id(&v2_lb(&b, "x"));
    let (s, v) = b.post(
        LISTENERS,
        with(
            &lb,
            json!({"name": "n", "description": "d", "tags": ["t"], "connection_limit": 5}),
        ),
    );
    assert_eq!(s, 201, "{v}");
    let l = id(&v["listener"]);
    wait_active(&b, &lb);
    let p = v2_pool(&b, &lb, json!({"listener_id": l, "protocol": "HTTP"}));
    let (s, v) = b.put(
        &listener_path(&l),
        json!({"listener": {"connection_limit": "200", "admin_state_up": false}}),
    );
    assert_eq!(s, 200, "{v}");
    assert_shape(&v["listener"], LISTENER_FIELDS);
    assert_eq!(v["listener"]["connection_limit"], 200);
    assert_eq!(v["listener"]["provisioning_status"], "PENDING_UPDATE");
    wait_active(&b, &lb);
    let (s, v) = b.put(
        &listener_path(&l),
        json!({"listener": {"name": null, "description": null, "tags": null,
            "connection_limit": null, "default_pool_id": null}}),
    );
    assert_eq!(s, 200, "{v}");
    wait_active(&b, &lb);
    let got = b.get(&listener_path(&l)).1["listener"].clone();
    for (field, want) in [
        ("name", json!("")),
        ("description", json!("")),
        ("tags", json!([])),
        ("connection_limit", json!(-1)),
        ("default_pool_id", Value::Null),
        ("admin_state_up", json!(false)),
        ("protocol_port", json!(80)),
    ] {
        assert_eq!(got[field], want, "{field} of {got}");
    }
    assert!(got["updated_at"].is_string(), "{got}");
    assert_eq!(
        b.get(&format!("/v2/lbaas/pools/{}", id(&p))).1["pool"]["listeners"],
        json!([])
    );
    // default_pool_id sets it back.
    let (s, v) = b.put(
        &listener_path(&l),
        json!({"listener": {"default_pool_id": id(&p)}}),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["listener"]["default_pool_id"], id(&p).as_str());
    wait_active(&b, &lb);

    // Fields of the POST type only, or read-only ones, are 400 on PUT.
    for (field, value) in [
        ("protocol", json!("TCP")),
        ("protocol_port", json!(81)),
        ("loadbalancer_id", json!(lb)),
        ("project_id", json!("p")),
        ("provisioning_status", json!("ACTIVE")),
    ] {
        refused(
            &b,
            "PUT",
            &listener_path(&l),
            Some(json!({"listener": {field: value}})),
            400,
            field,
        );
    }

    let (s, v) = b.delete(&listener_path(&l));
    assert_eq!((s, v), (204, Value::Null));
    wait_until(Duration::from_secs(10), "listener gone", || {
        b.get(&listener_path(&l)).0 == 404
    });
    wait_active(&b, &lb);
    // Octavia keeps a deleted listener's default pool, standalone.
    let (s, pool) = b.get(&format!("/v2/lbaas/pools/{}", id(&p)));
    assert_eq!(s, 200, "{pool}");
    assert_eq!(pool["pool"]["listeners"], json!([]));
    for bad in [l.as_str(), "not-a-uuid"] {
        for (method, path) in [
            ("GET", listener_path(bad)),
            ("PUT", listener_path(bad)),
            ("DELETE", listener_path(bad)),
            ("GET", format!("{}/stats", listener_path(bad))),
        ] {
            let body = (method == "PUT").then(|| json!({"listener": {"name": "x"}}));
            refused(&b, method, &path, body, 404, "not found");
        }
    }
}

#[test]
fn unsupported_options_are_refused_with_400_on_post_and_put_and_change_nothing() {
    let b = Ballast::start();
    let lb = id(&v2_lb(&b, "x"));
    let l = id(&v2_listener(&b, &lb, "HTTP", 80));
    let options = [
        ("timeout_client_data", json!(1000)),
        ("timeout_member_connect", json!(1000)),
        ("timeout_member_data", json!(1000)),
        ("timeout_tcp_inspect", json!(1000)),
        ("allowed_cidrs", json!(["10.0.0.0/8"])),
        ("insert_headers", json!({"X-Forwarded-For": "true"})),
        ("sni_container_refs", json!(["c"])),
        ("client_ca_tls_container_ref", json!("c")),
        ("client_authentication", json!("MANDATORY")),
        ("client_crl_container_ref", json!("c")),
        ("tls_ciphers", json!("ECDHE")),
        ("tls_versions", json!(["TLSv1.3"])),
        ("alpn_protocols", json!(["h2"])),
        ("hsts_max_age", json!(100)),
        ("hsts_include_subdomains", json!(true)),
        ("hsts_preload", json!(true)),
    ];
    for (field, value) in &options {
        unsupported(
            &b,
            "POST",
            LISTENERS,
            with(&lb, json!({"protocol_port": 81, *field: value})),
            field,
        );
        unsupported(
            &b,
            "PUT",
            &listener_path(&l),
            json!({"listener": {"name": "changed", *field: value}}),
            field,
        );
    }
    for (field, value) in [
        (
            "default_pool",
            json!({"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN"}),
        ),
        ("l7policies", json!([{"action": "REJECT"}])),
    ] {
        unsupported(
            &b,
            "POST",
            LISTENERS,
            with(&lb, json!({"protocol_port": 81, field: value})),
            field,
        );
    }
    for protocol in ["UDP", "SCTP", "PROMETHEUS"] {
        unsupported(
            &b,
            "POST",
            LISTENERS,
            with(&lb, json!({"protocol": protocol, "protocol_port": 81})),
            &format!("protocol {protocol}"),
        );
    }
    assert_eq!(list_ids(&b, "listeners", ""), [l.as_str()]);
    assert_eq!(b.get(&listener_path(&l)).1["listener"]["name"], "");
}

#[test]
fn bad_listener_requests_are_refused_with_a_fault_and_change_nothing() {
    let b = Ballast::start();
    let lb = id(&v2_lb(&b, "x"));
    v2_listener(&b, &lb, "HTTP", 80);
    let cert = certificate(&b);
    let unknown = "5e1a1c5e-0000-4000-8000-000000000004";
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"listener": {"protocol": "HTTP", "protocol_port": 81}}),
            400,
            "loadbalancer_id",
        ),
        (
            with(unknown, json!({"protocol_port": 81})),
            404,
            "not found",
        ),
        (
            with("not-a-uuid", json!({"protocol_port": 81})),
            400,
            "loadbalancer_id",
        ),
        (
            json!({"listener": {"loadbalancer_id": lb, "protocol_port": 81}}),
            400,
            "protocol",
        ),
        (
            with(&lb, json!({"protocol": "FTP", "protocol_port": 81})),
            400,
            "protocol",
        ),
        (
            json!({"listener": {"loadbalancer_id": lb, "protocol": "HTTP"}}),
            400,
            "protocol_port",
        ),
        (with(&lb, json!({"protocol_port": 0})), 400, "protocol_port"),
        (
            with(&lb, json!({"protocol_port": 65536})),
            400,
            "protocol_port",
        ),
        (
            with(&lb, json!({"protocol_port": "eighty"})),
            400,
            "protocol_port",
        ),
        (
            with(&lb, json!({"protocol_port": 81, "connection_limit": -2})),
            400,
            "connection_limit",
        ),
        (
            with(&lb, json!({"protocol_port": 81, "connection_limit": "x"})),
            400,
            "connection_limit",
        ),
        (
            with(&lb, json!({"protocol_port": 81, "name": "n".repeat(256)})),
            400,
            "name",
        ),
        (
            with(&lb, json!({"protocol_port": 81, "colour": "red"})),
            400,
            "colour",
        ),
        (
            with(&lb, json!({"protocol_port": 81, "admin_state_up": 1})),
            400,
            "admin_state_up",
        ),
        // Another listener of this load balancer has the port.
        (with(&lb, json!({})), 409, "protocol_port 80"),
        (
            with(
                &lb,
                json!({"protocol": "TERMINATED_HTTPS", "protocol_port": 443}),
            ),
            400,
            "SSL container reference is required",
        ),
        (
            with(
                &lb,
                json!({"protocol": "TERMINATED_HTTPS", "protocol_port": 443,
                    "default_tls_container_ref": unknown}),
            ),
            400,
            "not found",
        ),
        (
            with(
                &lb,
                json!({"protocol_port": 81, "default_tls_container_ref": cert}),
            ),
            400,
            "default_tls_container_ref",
        ),
        (
            with(
                &lb,
                json!({"protocol_port": 81, "default_pool_id": unknown}),
            ),
            404,
            "not found",
        ),
        // Ballast asks that a listener's project be its load balancer's
        // (Octavia ignores the deprecated field and uses the load balancer's).
        (
            with(&lb, json!({"protocol_port": 81, "project_id": "other"})),
            400,
            "project_id",
        ),
        (json!({"protocol_port": 81}), 400, "\"listener\""),
    ];
    for (body, want, needle) in cases {
        refused(&b, "POST", LISTENERS, Some(body), want, needle);
    }
    // The load balancer's own project is accepted.
    let (s, v) = b.post(
        LISTENERS,
        with(&lb, json!({"protocol_port": 81, "project_id": "ballast"})),
    );
    assert_eq!(s, 201, "{v}");
}

/// Three ACTIVE listeners over two load balancers to list: `a` (HTTP 80,
/// tags t1 t2, limit 10, with a default pool), `b` (TCP 81, tag t2,
/// disabled), `c` (HTTP 82 on the second load balancer).
struct Three {
    lbs: [String; 2],
    l: [Value; 3],
    pool: String,
}

fn three(b: &Ballast) -> Three {
    let lb1 = id(&v2_lb(b, "one"));
    let lb2 = id(&v2_lb(b, "two"));
    let post = |lb: &str, fields: Value| {
        let (s, v) = b.post(LISTENERS, with(lb, fields));
        assert_eq!(s, 201, "{v}");
        wait_active(b, lb);
        v["listener"].clone()
    };
    let a = post(
        &lb1,
        json!({"name": "a", "tags": ["t1", "t2"], "connection_limit": 10}),
    );
    let bb = post(
        &lb1,
        json!({"name": "b", "protocol": "TCP", "protocol_port": 81, "tags": ["t2"],
            "admin_state_up": false}),
    );
    let c = post(&lb2, json!({"name": "c", "protocol_port": 82}));
    let pool = id(&v2_pool(
        b,
        &lb1,
        json!({"listener_id": id(&a), "protocol": "HTTP"}),
    ));
    Three {
        lbs: [lb1, lb2],
        l: [a, bb, c],
        pool,
    }
}

#[test]
fn lists_filter_sort_page_and_cut_fields_as_octavia() {
    let b = Ballast::start();
    let t = three(&b);
    let [a, bb, c] = [id(&t.l[0]), id(&t.l[1]), id(&t.l[2])];
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    let all = sorted(vec![a.clone(), bb.clone(), c.clone()]);
    let by = |q: &str| sorted(list_ids(&b, "listeners", q));
    assert_eq!(by(""), all);
    assert_eq!(by(&format!("id={bb}")), [bb.as_str()]);
    assert_eq!(by("name=c"), [c.as_str()]);
    assert_eq!(by("protocol=TCP"), [bb.as_str()]);
    assert_eq!(by("protocol_port=82"), [c.as_str()]);
    assert_eq!(by("connection_limit=10"), [a.as_str()]);
    assert_eq!(
        by("connection_limit=-1"),
        sorted(vec![bb.clone(), c.clone()])
    );
    assert_eq!(
        by(&format!("loadbalancer_id={}", t.lbs[0])),
        sorted(vec![a.clone(), bb.clone()])
    );
    assert_eq!(by(&format!("default_pool_id={}", t.pool)), [a.as_str()]);
    for v in ["True", "true"] {
        assert_eq!(
            by(&format!("admin_state_up={v}")),
            sorted(vec![a.clone(), c.clone()])
        );
    }
    for v in ["False", "false"] {
        assert_eq!(by(&format!("admin_state_up={v}")), [bb.as_str()]);
    }
    assert_eq!(by("provisioning_status=ACTIVE"), all);
    assert_eq!(by("project_id=ballast"), all);
    assert_eq!(by("description="), all);
    assert_eq!(by("tags=t1,t2"), [a.as_str()]);
    assert_eq!(by("tags-any=t2"), sorted(vec![a.clone(), bb.clone()]));
    assert_eq!(by("not-tags=t1,t2"), sorted(vec![bb.clone(), c.clone()]));
    assert_eq!(by("not-tags-any=t1&not-tags-any=t2"), [c.as_str()]);
    for q in ["colour=red", "insert_headers=x", "loadbalancers=x"] {
        refused(
            &b,
            "GET",
            &format!("{LISTENERS}?{q}"),
            None,
            400,
            "One or more arguments are either duplicate or invalid",
        );
    }

    // Sort by `sort` and by `sort_key`/`sort_dir`.
    let by = |q: &str| list_ids(&b, "listeners", q);
    assert_eq!(
        by("sort=protocol_port:desc"),
        [c.as_str(), bb.as_str(), a.as_str()]
    );
    assert_eq!(
        by("sort=protocol:desc,name"),
        [bb.as_str(), a.as_str(), c.as_str()]
    );
    assert_eq!(
        by("sort_key=protocol,name&sort_dir=asc,desc"),
        [c.as_str(), a.as_str(), bb.as_str()]
    );
    for (q, needle) in [
        ("sort=protocol_port:down", "sort direction"),
        ("sort=colour", "sort key 'colour'"),
        ("sort_key=name&sort_dir=x", "sort direction"),
    ] {
        refused(&b, "GET", &format!("{LISTENERS}?{q}"), None, 400, needle);
    }
    // Pages.
    let (_, first) = b.get(&format!("{LISTENERS}?sort=protocol_port&limit=2"));
    assert_eq!(
        common::v2::ids(&first, "listeners"),
        [a.as_str(), bb.as_str()]
    );
    assert_eq!(first["listeners_links"][0]["rel"], "next");
    let next = first["listeners_links"][0]["href"].as_str().unwrap();
    let (_, second) = http("GET", next, None);
    assert_eq!(common::v2::ids(&second, "listeners"), [c.as_str()]);
    assert_eq!(second["listeners_links"].as_array().unwrap().len(), 1);
    assert_eq!(second["listeners_links"][0]["rel"], "previous");
    assert_eq!(
        by(&format!(
            "sort=protocol_port&marker={c}&page_reverse=True&limit=1"
        )),
        [bb.as_str()]
    );
    let (_, v) = b.get(&format!("{LISTENERS}?limit=1001"));
    assert_eq!(v["listeners"].as_array().unwrap().len(), 3);
    assert_eq!(v["listeners_links"], json!([]));
    for (q, needle) in [
        ("limit=x", "pagination limit 'x'"),
        (
            "marker=5e1a1c5e-0000-4000-8000-000000000005",
            "pagination marker",
        ),
    ] {
        refused(&b, "GET", &format!("{LISTENERS}?{q}"), None, 400, needle);
    }
    // fields=.
    let (_, cut) = b.get(&format!("{LISTENERS}?fields=id,protocol_port"));
    for l in cut["listeners"].as_array().unwrap() {
        assert_eq!(l.as_object().unwrap().len(), 2, "{l}");
    }
    let (s, one) = b.get(&format!(
        "{}?fields=protocol&fields=loadbalancers",
        listener_path(&c)
    ));
    assert_eq!(s, 200);
    assert_eq!(
        one,
        json!({"listener": {"protocol": "HTTP", "loadbalancers": [{"id": t.lbs[1]}]}})
    );
}

#[test]
fn listener_stats_have_octavias_shape_and_count_traffic() {
    let b = Ballast::start();
    let lb = v2_lb(&b, "x");
    let lb_id = id(&lb);
    let l = id(&v2_listener(&b, &lb_id, "HTTP", 8080));
    let p = id(&v2_pool(
        &b,
        &lb_id,
        json!({"listener_id": l, "protocol": "HTTP"}),
    ));
    let member = common::http_member("m1");
    common::v2::v2_child(
        &b,
        &lb_id,
        &format!("pools/{p}/members"),
        json!({"member": {"address": member.ip().to_string(), "protocol_port": member.port()}}),
    );
    let vip = lb["vip_address"].as_str().unwrap();
    let url = format!("http://{vip}:8080/");
    wait_until(Duration::from_secs(10), "traffic through the VIP", || {
        common::try_http("GET", &url, None).is_ok_and(|(s, _)| s == 200)
    });
    let (s, v) = b.get(&format!("{}/stats", listener_path(&l)));
    assert_eq!(s, 200, "{v}");
    assert_eq!(v.as_object().unwrap().len(), 1);
    assert_shape(&v["stats"], STATS_FIELDS);
    let (_, lbs) = b.get(&format!("/v2/lbaas/loadbalancers/{lb_id}/stats"));
    assert_shape(&lbs["stats"], STATS_FIELDS);
    wait_until(Duration::from_secs(10), "stats count the request", || {
        let (_, v) = b.get(&format!("{}/stats", listener_path(&l)));
        v["stats"]["total_connections"].as_i64() > Some(0)
            && v["stats"]["bytes_in"].as_i64() > Some(0)
    });
}
