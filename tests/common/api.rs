//! Helpers of the API contract suite (`tests/api_*.rs`): resource paths,
//! "create and wait for ACTIVE" shortcuts, exact key-set checks and a
//! whole-state snapshot for "a failed request changed nothing".

use std::time::Duration;

use serde_json::{Value, json};

use super::{Ballast, assert_fault, http, wait_until};

/// `/v1/loadbalancers/{lb}`.
pub fn lb_path(lb: &str) -> String {
    format!("/v1/loadbalancers/{lb}")
}

/// `/v1/loadbalancers/{lb}/listeners/{l}`.
pub fn listener_path(lb: &str, l: &str) -> String {
    format!("/v1/loadbalancers/{lb}/listeners/{l}")
}

/// `.../listeners/{l}/pools/{p}`.
pub fn pool_path(lb: &str, l: &str, p: &str) -> String {
    format!("/v1/loadbalancers/{lb}/listeners/{l}/pools/{p}")
}

/// `.../pools/{p}/members/{m}`.
pub fn member_path(lb: &str, l: &str, p: &str, m: &str) -> String {
    format!("/v1/loadbalancers/{lb}/listeners/{l}/pools/{p}/members/{m}")
}

/// `.../pools/{p}/health_monitor`.
pub fn monitor_path(lb: &str, l: &str, p: &str) -> String {
    format!("/v1/loadbalancers/{lb}/listeners/{l}/pools/{p}/health_monitor")
}

/// The keys a load balancer answers with, exactly.
pub const LB_KEYS: &[&str] = &[
    "id",
    "vip",
    "tenant_id",
    "name",
    "description",
    "enabled",
    "provisioning_status",
    "operating_status",
];
/// The keys of a load balancer's `vip`, exactly.
pub const VIP_KEYS: &[&str] = &["ip_address", "port_id", "network_id"];
/// The keys a listener answers with, exactly.
pub const LISTENER_KEYS: &[&str] = &[
    "id",
    "protocol",
    "protocol_port",
    "connection_limit",
    "default_tls_container_id",
    "tenant_id",
    "name",
    "description",
    "enabled",
    "provisioning_status",
    "operating_status",
];
/// The keys a pool answers with, exactly.
pub const POOL_KEYS: &[&str] = &[
    "id",
    "protocol",
    "lb_algorithm",
    "session_persistence",
    "name",
    "description",
    "enabled",
    "operating_status",
];
/// The keys a health monitor answers with, exactly (it has no id).
pub const MONITOR_KEYS: &[&str] = &[
    "type",
    "delay",
    "timeout",
    "fall_threshold",
    "rise_threshold",
    "http_method",
    "url_path",
    "expected_codes",
    "enabled",
];
/// The keys a member answers with, exactly.
pub const MEMBER_KEYS: &[&str] = &[
    "id",
    "ip_address",
    "protocol_port",
    "weight",
    "subnet_id",
    "enabled",
    "operating_status",
];
/// The keys a port answers with, exactly.
pub const PORT_KEYS: &[&str] = &["id", "network_id", "ip_address", "load_balancer_id"];
/// The keys a network answers with, exactly.
pub const NETWORK_KEYS: &[&str] = &["id", "name", "cidr", "mode", "interface"];

/// Assert `v` is an object whose key set is exactly `keys`.
pub fn assert_keys(v: &Value, keys: &[&str]) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("not a JSON object: {v}"));
    let mut got: Vec<&str> = obj.keys().map(String::as_str).collect();
    let mut want = keys.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "key set of {v}");
}

/// Assert `id` is a lowercase hyphenated UUID.
pub fn assert_uuid(id: &Value) {
    let s = id
        .as_str()
        .unwrap_or_else(|| panic!("id {id} is no string"));
    let parsed = uuid::Uuid::parse_str(s).unwrap_or_else(|_| panic!("{s} is no UUID"));
    assert_eq!(
        s,
        parsed.hyphenated().to_string(),
        "lowercase hyphenated id"
    );
}

/// Ids of a load balancer with a listener, its pool, one member and a
/// health monitor (see [`Ballast::add_tree`]).
#[derive(Clone)]
pub struct Tree {
    pub lb: String,
    pub listener: String,
    pub pool: String,
    pub member: String,
}

impl Tree {
    pub fn lb_path(&self) -> String {
        lb_path(&self.lb)
    }
    pub fn listener_path(&self) -> String {
        listener_path(&self.lb, &self.listener)
    }
    pub fn pool_path(&self) -> String {
        pool_path(&self.lb, &self.listener, &self.pool)
    }
    pub fn member_path(&self) -> String {
        member_path(&self.lb, &self.listener, &self.pool, &self.member)
    }
    pub fn monitor_path(&self) -> String {
        monitor_path(&self.lb, &self.listener, &self.pool)
    }
    pub fn members_path(&self) -> String {
        format!("{}/members", self.pool_path())
    }
}

/// The `id` of an API object.
pub fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

impl Ballast {
    /// POST `body` to `path` under load balancer `lb`, expect 202, wait for
    /// the load balancer to be ACTIVE again; returns the 202 answer.
    pub fn post_and_settle(&self, lb: &str, path: &str, body: Value) -> Value {
        let (s, v) = self.post(path, body);
        assert_eq!(s, 202, "POST {path}: {v}");
        self.wait_lb_active(lb);
        v
    }

    /// PUT `body` to `path` under load balancer `lb`, expect 202, wait for
    /// ACTIVE; returns the 202 answer.
    pub fn put_and_settle(&self, lb: &str, path: &str, body: Value) -> Value {
        let (s, v) = self.put(path, body);
        assert_eq!(s, 202, "PUT {path}: {v}");
        self.wait_lb_active(lb);
        v
    }

    /// DELETE `path` under load balancer `lb`, expect 202 with no body,
    /// wait for ACTIVE.
    pub fn delete_and_settle(&self, lb: &str, path: &str) {
        let (s, v) = self.delete(path);
        assert_eq!(s, 202, "DELETE {path}: {v}");
        assert!(v.is_null(), "DELETE answers no body: {v}");
        self.wait_lb_active(lb);
    }

    /// Create a listener and wait until its load balancer is ACTIVE; returns
    /// the listener as read back.
    pub fn add_listener(&self, lb: &str, protocol: &str, port: u16) -> Value {
        let l = self.post_and_settle(
            lb,
            &format!("{}/listeners", lb_path(lb)),
            json!({"protocol": protocol, "protocol_port": port}),
        );
        let (s, l) = self.get(&listener_path(lb, &id_of(&l)));
        assert_eq!(s, 200, "{l}");
        l
    }

    /// Create a ROUND_ROBIN pool and wait for ACTIVE; returns it as read back.
    pub fn add_pool(&self, lb: &str, l: &str, protocol: &str) -> Value {
        let p = self.post_and_settle(
            lb,
            &format!("{}/pools", listener_path(lb, l)),
            json!({"protocol": protocol, "lb_algorithm": "ROUND_ROBIN"}),
        );
        let (s, p) = self.get(&pool_path(lb, l, &id_of(&p)));
        assert_eq!(s, 200, "{p}");
        p
    }

    /// Create a member and wait for ACTIVE; returns it as read back.
    pub fn add_member(&self, lb: &str, l: &str, p: &str, ip: &str, port: u16) -> Value {
        let m = self.post_and_settle(
            lb,
            &format!("{}/members", pool_path(lb, l, p)),
            json!({"ip_address": ip, "protocol_port": port}),
        );
        let (s, m) = self.get(&member_path(lb, l, p, &id_of(&m)));
        assert_eq!(s, 200, "{m}");
        m
    }

    /// Create a TCP health monitor (delay 30 s, so it hardly probes) and wait
    /// for ACTIVE; returns it as read back.
    pub fn add_monitor(&self, lb: &str, l: &str, p: &str) -> Value {
        self.post_and_settle(
            lb,
            &monitor_path(lb, l, p),
            json!({"type": "TCP", "delay": 30, "timeout": 5,
                   "fall_threshold": 3, "rise_threshold": 2}),
        );
        let (s, h) = self.get(&monitor_path(lb, l, p));
        assert_eq!(s, 200, "{h}");
        h
    }

    /// An ACTIVE load balancer with an HTTP listener on `port`, an HTTP pool,
    /// one member 127.0.0.1:1 and a TCP health monitor.
    pub fn add_tree(&self, port: u16) -> Tree {
        let lb = id_of(&self.create_lb());
        let listener = id_of(&self.add_listener(&lb, "HTTP", port));
        let pool = id_of(&self.add_pool(&lb, &listener, "HTTP"));
        let member = id_of(&self.add_member(&lb, &listener, &pool, "127.0.0.1", 1));
        self.add_monitor(&lb, &listener, &pool);
        Tree {
            lb,
            listener,
            pool,
            member,
        }
    }

    /// Number of controller jobs ever queued (finished ones are kept until
    /// housekeeping), read from the SQLite file: a write that was refused
    /// must not have queued one.
    pub fn job_count(&self) -> i64 {
        let path = self.dir.join("data").join("ballast.sqlite3");
        let conn = rusqlite::Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        conn.busy_timeout(Duration::from_secs(5))
            .expect("busy timeout");
        conn.query_row("SELECT count(*) FROM jobs", [], |r| r.get(0))
            .expect("count jobs")
    }

    /// Everything the API shows — every load balancer with its listeners,
    /// pools, members and health monitors, every port — plus the number of
    /// queued jobs. `operating_status` is left out: health checks may move
    /// it at any time, independent of any request.
    pub fn snapshot(&self) -> Value {
        let get = |path: &str| {
            let (s, v) = self.get(path);
            assert_eq!(s, 200, "GET {path}: {v}");
            v
        };
        let mut lbs = Vec::new();
        for lb in get("/v1/loadbalancers").as_array().expect("lb list") {
            let lb_id = id_of(lb);
            let mut listeners = Vec::new();
            for l in get(&format!("{}/listeners", lb_path(&lb_id)))
                .as_array()
                .expect("listener list")
            {
                let l_id = id_of(l);
                let mut pools = Vec::new();
                for p in get(&format!("{}/pools", listener_path(&lb_id, &l_id)))
                    .as_array()
                    .expect("pool list")
                {
                    let p_id = id_of(p);
                    let members = get(&format!("{}/members", pool_path(&lb_id, &l_id, &p_id)));
                    let (s, monitor) = self.get(&monitor_path(&lb_id, &l_id, &p_id));
                    let monitor = match s {
                        200 => monitor,
                        404 => Value::Null,
                        _ => panic!("GET monitor: {s} {monitor}"),
                    };
                    pools.push(json!({"pool": p, "members": members, "monitor": monitor}));
                }
                listeners.push(json!({"listener": l, "pools": pools}));
            }
            lbs.push(json!({"lb": lb, "listeners": listeners}));
        }
        let mut all = json!({
            "load_balancers": lbs,
            "ports": get("/v1/ports"),
            "jobs": self.job_count(),
        });
        strip_operating_status(&mut all);
        all
    }

    /// Assert that the state is exactly `before` (a [`Ballast::snapshot`]).
    pub fn assert_unchanged(&self, before: &Value) {
        let after = self.snapshot();
        assert!(
            after == *before,
            "a failed request changed the state\nbefore: {before:#}\nafter: {after:#}"
        );
    }

    /// Send `method path body`, expect a fault `want`/`needle`, and that
    /// nothing changed compared with `before`.
    pub fn expect_fault(
        &self,
        before: &Value,
        method: &str,
        path: &str,
        body: Option<Value>,
        want: u16,
        needle: &str,
    ) {
        let (s, v) = http(method, &self.url(path), body.map(|b| b.to_string()));
        assert_fault(s, &v, want, needle);
        self.assert_unchanged(before);
    }

    /// Wait until the load balancer reads DELETED; returns it.
    pub fn wait_lb_deleted(&self, id: &str) -> Value {
        let mut last = Value::Null;
        wait_until(Duration::from_secs(10), "load balancer DELETED", || {
            last = self.get(&lb_path(id)).1;
            last["provisioning_status"] == "DELETED"
        });
        last
    }
}

/// Remove every `operating_status` of `v`, at any depth: health checks may
/// move it at any time, independent of any request.
pub fn strip_operating_status(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove("operating_status");
            map.values_mut().for_each(strip_operating_status);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_operating_status),
        _ => {}
    }
}

/// One blocking HTTP/1.1 request (Connection: close) that also returns the
/// response head: status, the head's header lines lowercased, and the body
/// (not de-chunked; use it for small answers only).
pub fn http_with_head(method: &str, url: &str, body: Option<&str>) -> (u16, String, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let body = body.unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf); // a reset after a full answer is fine
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    (status, head.to_ascii_lowercase(), body.to_string())
}
