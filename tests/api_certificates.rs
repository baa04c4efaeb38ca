//! `/v1/certificates`: TLS containers for HTTPS listeners.

mod common;

use common::{Ballast, assert_fault};
use serde_json::{Value, json};

fn self_signed(name: &str) -> (String, String) {
    let cert = rcgen::generate_simple_self_signed(vec![name.to_string(), "127.0.0.1".into()])
        .expect("rcgen");
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

#[test]
fn certificate_is_described_without_its_key_and_protected_while_in_use() {
    let b = Ballast::start();
    let (pem, key) = self_signed("www.example.test");
    let (s, cert) = b.post(
        "/v1/certificates",
        json!({"name": "www", "certificate": pem, "private_key": key}),
    );
    assert_eq!(s, 202, "{cert}");
    let keys: Vec<&str> = cert
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(!keys.contains(&"private_key"), "{cert}");
    assert!(
        cert["sans"]
            .as_array()
            .unwrap()
            .contains(&json!("DNS:www.example.test")),
        "{cert}"
    );
    assert!(
        cert["sans"]
            .as_array()
            .unwrap()
            .contains(&json!("IP:127.0.0.1")),
        "{cert}"
    );
    assert_eq!(cert["fingerprint"].as_str().unwrap().len(), 32 * 3 - 1);
    let id = cert["id"].as_str().unwrap().to_string();
    let (s, list) = b.get("/v1/certificates");
    assert_eq!(s, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);

    let lb = b.create_lb();
    let lb_id = lb["id"].as_str().unwrap();
    let (s, listener) = b.post(
        &format!("/v1/loadbalancers/{lb_id}/listeners"),
        json!({"protocol": "HTTPS", "protocol_port": 8443, "default_tls_container_id": id}),
    );
    assert_eq!(s, 202, "{listener}");
    b.wait_lb_active(lb_id);
    let (s, body) = b.delete(&format!("/v1/certificates/{id}"));
    assert_fault(s, &body, 409, "in use");
    assert_eq!(
        b.get(&format!("/v1/certificates/{id}")).0,
        200,
        "still there"
    );
}

#[test]
fn bad_certificate_material_is_a_400_naming_the_field() {
    let b = Ballast::start();
    let (pem, key) = self_signed("a.test");
    let (_, other_key) = self_signed("b.test");
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"certificate": "nope", "private_key": key}),
            "certificate",
        ),
        (
            json!({"certificate": pem, "private_key": "nope"}),
            "private_key",
        ),
        (
            json!({"certificate": pem, "private_key": other_key}),
            "does not match",
        ),
        (json!({"private_key": key}), "certificate: is required"),
    ];
    for (body, needle) in cases {
        let (s, fault) = b.post("/v1/certificates", body);
        assert_fault(s, &fault, 400, needle);
    }
    assert_eq!(b.get("/v1/certificates").1, json!([]), "nothing stored");
}
