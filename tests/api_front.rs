//! The API's front (issue 14): a request head hyper cannot parse gets the
//! API's JSON fault like every other error, and Rocket's internal port,
//! which would bypass the front's timeouts and let a local process name its
//! own `X-Real-IP`, refuses every request that did not come through it.

mod common;

use common::{Ballast, assert_fault, raw_exchange};
use serde_json::json;

#[test]
fn an_unparsable_request_head_is_a_json_fault_and_changes_nothing() {
    let b = Ballast::start();
    let before = b.snapshot();
    let host = b.api;
    let long = "a".repeat(70_000);
    let cases = [
        (
            format!("GET /v1/loadbalancers/`x HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            400,
            "could not be parsed",
        ),
        (
            format!("DELETE /v1/loadbalancers/\x7f HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            400,
            "could not be parsed",
        ),
        (
            format!(
                "POST /v1/loadbalancers HTTP/1.1\r\nHost: {host}\r\nno colon here\r\n\
                 Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
            ),
            400,
            "could not be parsed",
        ),
        (
            format!("GET /{long} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
            414,
            "too long",
        ),
    ];
    for (request, status, needle) in cases {
        let (s, head, body) = raw_exchange(b.api, &request);
        assert_fault(s, &body, status, needle);
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("connection: close"), "{head}");
    }
    b.assert_unchanged(&before);
}

#[test]
fn an_unparsable_request_after_an_answered_one_on_the_same_connection_is_a_json_fault() {
    let b = Ballast::start();
    let host = b.api;
    let two = format!(
        "GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\nGET /`x HTTP/1.1\r\nHost: {host}\r\n\r\n"
    );
    let text = {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(b.api).unwrap();
        stream.write_all(two.as_bytes()).unwrap();
        let mut buf = Vec::new();
        let _ = stream.read_to_end(&mut buf); // a reset after both answers is fine
        String::from_utf8_lossy(&buf).to_string()
    };
    assert!(text.starts_with("HTTP/1.1 200 "), "{text}");
    let second = text
        .find("HTTP/1.1 400 ")
        .map(|at| &text[at..])
        .unwrap_or_else(|| panic!("no 400 after the 200 in {text:?}"));
    let (head, body) = second.split_once("\r\n\r\n").expect("a whole answer");
    assert!(head.contains("content-type: application/json"), "{head}");
    let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
    assert_fault(400, &body, 400, "could not be parsed");
}

#[test]
fn a_request_straight_to_rockets_internal_port_is_refused_and_changes_nothing() {
    let b = Ballast::start();
    let backend: std::net::SocketAddr = b
        .logged("API front forwarding to Rocket", "backend")
        .parse()
        .expect("backend address");
    assert_ne!(backend, b.api);
    let before = b.snapshot();
    for extra in ["", "X-Real-IP: 10.1.2.3\r\n", "X-Ballast-Front: guess\r\n"] {
        let (s, _, body) = raw_exchange(
            backend,
            &format!(
                "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
            ),
        );
        assert_fault(s, &body, 403, "through its public socket only");
    }
    let write = format!(
        "POST /v1/loadbalancers HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {len}\r\n\r\n{body}",
        body = json!({"vip": {"network_id": b.network_id()}}),
        len = json!({"vip": {"network_id": b.network_id()}})
            .to_string()
            .len(),
    );
    let (s, _, body) = raw_exchange(backend, &write);
    assert_fault(s, &body, 403, "through its public socket only");
    b.assert_unchanged(&before);

    // Through the front, a client's guess at the token is simply replaced.
    let (s, _, body) = raw_exchange(
        b.api,
        &format!(
            "GET /healthz HTTP/1.1\r\nHost: {}\r\nX-Ballast-Front: guess\r\nConnection: close\r\n\r\n",
            b.api
        ),
    );
    assert_eq!(s, 200, "{body}");
}
