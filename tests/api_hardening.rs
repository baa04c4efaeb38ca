//! The API refuses what would loop or make no sense, and what a web page
//! could make a browser send: members on Ballast's own listeners or API,
//! unspecified, broadcast, multicast and reserved addresses; listeners onto
//! a member's address; foreign `Host` headers (DNS rebinding); writes that
//! are not JSON; CORS unless configured. Each refusal is a 4xx JSON fault
//! naming the field or header, and changes nothing.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::api::{lb_path, listener_path};
use common::{Ballast, Options, assert_fault, fresh_cidr, raw_exchange};
use serde_json::json;

#[test]
fn a_member_on_a_listener_of_ballast_or_on_its_api_is_refused_and_changes_nothing() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let (_, lb) = b.get(&t.lb_path());
    let vip = lb["vip"]["ip_address"].as_str().unwrap().to_string();
    // A second load balancer's listener counts as much as the member's own.
    let other = b.create_lb();
    let other_id = other["id"].as_str().unwrap();
    let other_vip = other["vip"]["ip_address"].as_str().unwrap().to_string();
    b.add_listener(other_id, "TCP", 9090);
    let before = b.snapshot();
    let api_port = b.api.port();
    let cases = [
        (
            vip.clone(),
            8080,
            format!("ip_address: {vip}:8080 is a listener"),
        ),
        (
            format!("::ffff:{vip}"),
            8080,
            format!("ip_address: {vip}:8080 is a listener"),
        ),
        (
            other_vip.clone(),
            9090,
            format!("ip_address: {other_vip}:9090 is a listener"),
        ),
        (
            "127.0.0.1".to_string(),
            api_port,
            format!("ip_address: 127.0.0.1:{api_port} is Ballast's own API"),
        ),
    ];
    for (ip, port, needle) in cases {
        b.expect_fault(
            &before,
            "POST",
            &t.members_path(),
            Some(json!({"ip_address": ip, "protocol_port": port})),
            400,
            &needle,
        );
    }
}

#[test]
fn unspecified_broadcast_multicast_and_reserved_member_addresses_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let b = Ballast::start_in(
        tmp.path(),
        &fresh_cidr(),
        Options {
            env: vec![(
                "BALLAST_API__RESERVED_IPS".into(),
                "[\"169.254.169.254\", \"127.0.0.9\"]".into(),
            )],
            ..Options::default()
        },
    );
    let t = b.add_tree(8080);
    let before = b.snapshot();
    for (ip, needle) in [
        ("0.0.0.0", "ip_address: must not be an unspecified address"),
        ("::", "ip_address: must not be an unspecified address"),
        (
            "::ffff:0.0.0.0",
            "ip_address: must not be an unspecified address",
        ),
        (
            "255.255.255.255",
            "ip_address: must not be the broadcast address",
        ),
        ("224.0.0.1", "ip_address: must not be a multicast address"),
        ("ff02::1", "ip_address: must not be a multicast address"),
        ("169.254.169.254", "ip_address: 169.254.169.254 is reserved"),
        ("127.0.0.9", "ip_address: 127.0.0.9 is reserved"),
    ] {
        b.expect_fault(
            &before,
            "POST",
            &t.members_path(),
            Some(json!({"ip_address": ip, "protocol_port": 80})),
            400,
            needle,
        );
    }
}

#[test]
fn moving_a_member_onto_a_listener_is_refused_and_changes_nothing() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let (_, lb) = b.get(&t.lb_path());
    let vip = lb["vip"]["ip_address"].as_str().unwrap();
    let m = b.add_member(&t.lb, &t.listener, &t.pool, vip, 7000);
    let before = b.snapshot();
    b.expect_fault(
        &before,
        "PUT",
        &format!("{}/{}", t.members_path(), m["id"].as_str().unwrap()),
        Some(json!({"protocol_port": 8080})),
        400,
        "protocol_port: ",
    );
}

#[test]
fn a_listener_onto_a_members_address_is_refused_and_changes_nothing() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let (_, lb) = b.get(&t.lb_path());
    let vip = lb["vip"]["ip_address"].as_str().unwrap();
    // A member of this very load balancer points at its VIP on port 7000.
    b.add_member(&t.lb, &t.listener, &t.pool, vip, 7000);
    let second = b.add_listener(&t.lb, "TCP", 7001);
    let before = b.snapshot();
    b.expect_fault(
        &before,
        "POST",
        &format!("{}/listeners", lb_path(&t.lb)),
        Some(json!({"protocol": "TCP", "protocol_port": 7000})),
        400,
        "protocol_port: a member points at",
    );
    b.expect_fault(
        &before,
        "PUT",
        &listener_path(&t.lb, second["id"].as_str().unwrap()),
        Some(json!({"protocol_port": 7000})),
        400,
        "protocol_port: a member points at",
    );
}

/// A request as a web page could make a browser send it to `b`.
fn request(b: &Ballast, method: &str, path: &str, headers: &[&str], body: &str) -> String {
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("host:"))
    {
        req.push_str(&format!("Host: {}\r\n", b.api));
    }
    for h in headers {
        req.push_str(&format!("{h}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    req
}

#[test]
fn a_write_that_is_not_json_is_refused_and_creates_nothing() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let before = b.snapshot();
    let body = json!({"vip": {"network_id": b.network_id()}}).to_string();
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ] {
        let header = content_type.map(|c| format!("Content-Type: {c}"));
        let headers: Vec<&str> = header.iter().map(String::as_str).collect();
        for (method, path) in [
            ("POST", "/v1/loadbalancers".to_string()),
            ("PUT", t.lb_path()),
            ("DELETE", t.member_path()),
        ] {
            let (s, _, v) = raw_exchange(b.api, &request(&b, method, &path, &headers, &body));
            assert_fault(
                s,
                &v,
                415,
                "Content-Type: a request body must be application/json",
            );
        }
    }
    b.assert_unchanged(&before);
}

#[test]
fn a_foreign_host_header_is_refused_and_sees_no_data() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let before = b.snapshot();
    let port = b.api.port();
    for host in [
        format!("evil.example:{port}"),
        "evil.example".to_string(),
        format!("localhost.evil.example:{port}"),
    ] {
        let host_header = format!("Host: {host}");
        for path in ["/v1/loadbalancers", "/metrics", "/", "/healthz"] {
            let (s, _, v) = raw_exchange(b.api, &request(&b, "GET", path, &[&host_header], ""));
            assert_fault(
                s,
                &v,
                400,
                &format!("Host: {host} is not a name of this API"),
            );
            assert!(!v.to_string().contains(&t.lb), "{v}");
        }
        let body = json!({"vip": {"network_id": b.network_id()}}).to_string();
        let headers = [host_header.as_str(), "Content-Type: application/json"];
        let (s, _, v) = raw_exchange(
            b.api,
            &request(&b, "POST", "/v1/loadbalancers", &headers, &body),
        );
        assert_fault(s, &v, 400, "not a name of this API");
    }
    b.assert_unchanged(&before);
    // The names a local client uses still work.
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let host_header = format!("Host: {host}");
        let (s, _, v) = raw_exchange(
            b.api,
            &request(&b, "GET", "/v1/loadbalancers", &[&host_header], ""),
        );
        assert_eq!(s, 200, "{host}: {v}");
    }
}

#[test]
fn a_configured_public_name_is_an_allowed_host() {
    let tmp = tempfile::tempdir().unwrap();
    let b = Ballast::start_in(
        tmp.path(),
        &fresh_cidr(),
        Options {
            env: vec![(
                "BALLAST_API__PUBLIC_NAMES".into(),
                "[\"ballast.example\"]".into(),
            )],
            ..Options::default()
        },
    );
    let (s, _, v) = raw_exchange(
        b.api,
        &request(
            &b,
            "GET",
            "/v1/loadbalancers",
            &["Host: Ballast.Example:443"],
            "",
        ),
    );
    assert_eq!(s, 200, "{v}");
}

#[test]
fn no_cors_headers_are_sent_by_default() {
    let b = Ballast::start();
    let origin = "Origin: http://evil.example";
    let (s, head, _) = raw_exchange(
        b.api,
        &request(&b, "GET", "/v1/loadbalancers", &[origin], ""),
    );
    assert_eq!(s, 200);
    assert!(!head.contains("access-control-"), "{head}");
    let preflight = [origin, "Access-Control-Request-Method: DELETE"];
    let (s, head, _) = raw_exchange(
        b.api,
        &request(&b, "OPTIONS", "/v1/loadbalancers", &preflight, ""),
    );
    assert!(s >= 400, "a preflight is not granted: {s}");
    assert!(!head.contains("access-control-"), "{head}");
}

#[test]
fn configured_cors_origins_get_a_preflight_and_their_origin_echoed() {
    let tmp = tempfile::tempdir().unwrap();
    let b = Ballast::start_in(
        tmp.path(),
        &fresh_cidr(),
        Options {
            env: vec![(
                "BALLAST_API__CORS_ORIGINS".into(),
                "[\"https://ui.example:8443\"]".into(),
            )],
            ..Options::default()
        },
    );
    let allowed = "Origin: https://ui.example:8443";
    let preflight = [
        allowed,
        "Access-Control-Request-Method: POST",
        "Access-Control-Request-Headers: content-type",
    ];
    let (s, head, v) = raw_exchange(
        b.api,
        &request(&b, "OPTIONS", "/v1/loadbalancers", &preflight, ""),
    );
    assert_eq!(s, 204, "{head}{v}");
    assert!(
        head.contains("access-control-allow-origin: https://ui.example:8443"),
        "{head}"
    );
    assert!(head.contains("access-control-allow-methods: "), "{head}");
    assert!(
        head.contains("access-control-allow-headers: content-type"),
        "{head}"
    );
    let (s, head, _) = raw_exchange(
        b.api,
        &request(&b, "GET", "/v1/loadbalancers", &[allowed], ""),
    );
    assert_eq!(s, 200);
    assert!(
        head.contains("access-control-allow-origin: https://ui.example:8443"),
        "{head}"
    );
    // Another origin gets nothing, neither preflight nor headers.
    let other = [
        "Origin: https://evil.example",
        "Access-Control-Request-Method: POST",
    ];
    let (s, head, _) = raw_exchange(
        b.api,
        &request(&b, "OPTIONS", "/v1/loadbalancers", &other, ""),
    );
    assert!(s >= 400, "{s}");
    assert!(!head.contains("access-control-"), "{head}");
}

/// An instance whose API closes a connection after `secs` without a request.
fn with_request_timeout(tmp: &std::path::Path, secs: u64) -> Ballast {
    Ballast::start_in(
        tmp,
        &fresh_cidr(),
        Options {
            env: vec![("BALLAST_API__REQUEST_TIMEOUT_SECS".into(), secs.to_string())],
            ..Options::default()
        },
    )
}

/// Read from `s` until the server closes it; returns what came and when the
/// close came, counted from `since`.
fn read_until_closed(s: &mut std::net::TcpStream, since: Instant) -> (String, Duration) {
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("connection still open after {:?}: {e}", since.elapsed()),
        }
    }
    (String::from_utf8_lossy(&got).to_string(), since.elapsed())
}

#[test]
fn silent_dribbling_and_idle_api_connections_are_closed_after_the_request_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let b = with_request_timeout(tmp.path(), 1);
    let bounds = Duration::from_millis(900)..Duration::from_secs(4);

    let started = Instant::now();
    let mut silent = TcpStream::connect(b.api).unwrap();
    let (got, after) = read_until_closed(&mut silent, started);
    assert!(got.is_empty(), "{got}");
    assert!(
        bounds.contains(&after),
        "silent connection closed after {after:?}"
    );

    // One byte every 200 ms never completes the head within 1 s.
    let started = Instant::now();
    let mut dribble = TcpStream::connect(b.api).unwrap();
    let head = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Pad: ", b.api);
    let mut closed_early = false;
    for byte in head.bytes().chain(std::iter::repeat(b'a')).take(40) {
        if dribble.write_all(&[byte]).is_err() {
            closed_early = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(200)); // the slow client's pace, not a wait for the server
    }
    if !closed_early {
        let (_, after) = read_until_closed(&mut dribble, started);
        assert!(bounds.contains(&after), "dribbling closed after {after:?}");
    } else {
        assert!(
            bounds.contains(&started.elapsed()),
            "{:?}",
            started.elapsed()
        );
    }

    let mut idle = TcpStream::connect(b.api).unwrap();
    write!(idle, "GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", b.api).unwrap();
    let answered = Instant::now();
    let (got, after) = read_until_closed(&mut idle, answered);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(
        bounds.contains(&after),
        "idle keep-alive closed after {after:?}"
    );
    // The API still serves.
    assert_eq!(b.get("/healthz").0, 200);
}

#[test]
fn on_sigterm_a_request_in_flight_is_answered_with_connection_close() {
    let tmp = tempfile::tempdir().unwrap();
    // The front's per-request debug line tells when it has parsed the head:
    // only then is the request in flight rather than the connection idle.
    let b = Ballast::start_in(
        tmp.path(),
        &fresh_cidr(),
        Options {
            env: vec![(
                "RUST_LOG".into(),
                "info,rocket=warn,ballast::api::front=debug".into(),
            )],
            ..Options::default()
        },
    );
    let body = json!({"vip": {"network_id": b.network_id()}}).to_string();
    let mut s = TcpStream::connect(b.api).unwrap();
    let forwarding = format!("peer={}", s.local_addr().unwrap());
    // The head and half the body now; the rest once shutdown has begun.
    let (first, rest) = body.split_at(body.len() / 2);
    write!(
        s,
        "POST /v1/loadbalancers HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{first}",
        b.api,
        body.len()
    )
    .unwrap();
    common::wait_until(Duration::from_secs(10), "the POST is in flight", || {
        b.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("API request forwarding") && l.contains(&forwarding))
    });
    let pid = b.child.as_ref().unwrap().id();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    common::wait_until(Duration::from_secs(10), "shutdown begins", || {
        b.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("Requesting shutdown"))
    });
    // The rest of the body with a second request queued behind it, in one
    // write: the second is never answered, and the client is told so by
    // `Connection: close` rather than by silence.
    let queued = format!("{rest}GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", b.api);
    s.write_all(queued.as_bytes()).unwrap();
    let (got, _) = read_until_closed(&mut s, Instant::now());
    let head = got.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 202"), "{got}");
    assert!(head.contains("connection: close"), "{got}");
    assert_eq!(got.matches("HTTP/1.1 ").count(), 1, "{got}");
}

#[test]
fn duplicate_keys_and_nul_characters_are_400_and_change_nothing() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let before = b.snapshot();
    let net = b.network_id();
    for body in [
        format!(r#"{{"vip": {{"network_id": "{net}"}}, "name": "a", "name": "b"}}"#),
        format!(r#"{{"vip": {{"network_id": "{net}", "network_id": "{net}"}}}}"#),
    ] {
        let (s, v) = common::http("POST", &b.url("/v1/loadbalancers"), Some(body));
        assert_fault(s, &v, 400, "duplicate key `");
    }
    for (path, field) in [
        ("/v1/loadbalancers".to_string(), "name"),
        ("/v1/loadbalancers".to_string(), "description"),
        (t.lb_path(), "name"),
        (t.listener_path(), "description"),
    ] {
        let mut body = json!({ field: "web\u{0}admin" });
        let method = if path == "/v1/loadbalancers" {
            body["vip"] = json!({"network_id": net});
            "POST"
        } else {
            "PUT"
        };
        b.expect_fault(
            &before,
            method,
            &path,
            Some(body),
            400,
            &format!("{field}: must not contain NUL characters"),
        );
    }
}

#[test]
fn an_empty_update_is_400_and_leaves_the_load_balancer_active() {
    let b = Ballast::start();
    let t = b.add_tree(8080);
    let before = b.snapshot();
    for path in [
        t.lb_path(),
        t.listener_path(),
        t.pool_path(),
        t.member_path(),
    ] {
        b.expect_fault(
            &before,
            "PUT",
            &path,
            Some(json!({})),
            400,
            "an update must name at least one field",
        );
        let (_, lb) = b.get(&t.lb_path());
        assert_eq!(lb["provisioning_status"], "ACTIVE", "{lb}");
    }
}

#[test]
fn a_404_is_no_error_log_line() {
    let b = Ballast::start();
    for path in ["/v1/nope", "/v1/loadbalancers/x/y/z"] {
        let (s, v) = b.get(path);
        assert_fault(s, &v, 404, "");
    }
    // The request log line comes after the answer: poll a later request.
    assert_eq!(b.get("/healthz").0, 200);
    let lines = b.log.lock().unwrap().clone();
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("ERROR") || l.contains("No matching routes")),
        "{lines:#?}"
    );
}

/// Every key of a JSON value, nested ones included.
fn keys(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| std::iter::once(k.clone()).chain(keys(v)))
            .collect(),
        serde_json::Value::Array(items) => items.iter().flat_map(keys).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn json_log_lines_are_json_without_colour_or_source_paths() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = Ballast::start_in(
        tmp.path(),
        &fresh_cidr(),
        Options {
            extra_toml: "[log]\nformat = \"json\"\n".into(),
            ..Options::default()
        },
    );
    let (s, v) = b.get("/v1/nope");
    assert_fault(s, &v, 404, "");
    b.create_lb();
    assert!(b.terminate().expect("running").success());
    // The reader thread may still be taking the last lines off the pipe.
    common::wait_until(Duration::from_secs(10), "the last log line", || {
        b.log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("\"stopped\""))
    });

    let lines = b.log.lock().unwrap().clone();
    let mut targets = Vec::new();
    for line in &lines {
        assert!(!line.contains('\u{1b}'), "ANSI escape in {line:?}");
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"));
        assert!(value["fields"]["message"].is_string(), "{line}");
        for key in keys(&value) {
            assert!(
                !["file", "line", "module_path"]
                    .iter()
                    .any(|k| key == *k || key.ends_with(&format!(".{k}"))),
                "source location key {key:?} in {line}"
            );
        }
        targets.extend(value["target"].as_str().map(str::to_string));
    }
    // Both Ballast's own lines and Rocket's (bridged from `log`, which
    // carried source paths) were checked.
    assert!(
        targets.iter().any(|t| t.starts_with("ballast")),
        "{targets:?}"
    );
    assert!(
        targets.iter().any(|t| t.starts_with("rocket")),
        "{targets:?}"
    );
}
