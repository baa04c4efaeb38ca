//! Identity against the real binary: bootstrap, tokens (issue, validate,
//! revoke, expire, survive a restart, rescope), application credentials,
//! lockout, the `none` mode's refusal beyond loopback, and secrets that
//! never reach the database file in clear.

mod common;

use std::time::Duration;

use common::identity::{
    add_user, app_credential, bootstrap, call, call_with, cli, db_state, login, login_with,
    network_id, password_auth, start_local,
};
use common::{Ballast, Options, assert_fault, fresh_cidr, wait_until};
use serde_json::json;

#[test]
fn bootstrap_is_idempotent_and_its_admin_logs_in() {
    let (b, _tmp) = start_local("");
    let before = db_state(&b);
    let again = bootstrap(&b, "admin", "admin", "admin-pw");
    assert!(
        again.contains("user admin") && again.contains("exists"),
        "{again}"
    );
    let after = db_state(&b);
    for table in ["projects", "role_assignments"] {
        assert_eq!(before[table], after[table], "{table}");
    }
    assert_eq!(after["users"].as_array().unwrap().len(), 1);
    let users = cli(&b, &["user", "list"], None);
    assert_eq!(users.lines().count(), 1, "{users}");
    assert!(users.contains("admin:admin"), "{users}");
    let token = login(&b, "admin", "admin-pw", "admin");
    let (s, body) = call(&b, "GET", "/v3/projects", Some(&token), None);
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["projects"][0]["name"], "admin");
}

#[test]
fn a_token_is_issued_validated_revoked_and_then_refused() {
    let (b, _tmp) = start_local("");
    let (s, token, body) = login_with(&b, &password_auth("admin", "admin-pw", "admin"));
    assert_eq!(s, 201, "{body}");
    let token = token.unwrap();
    assert_eq!(token.len(), 64, "256 bits as hex");
    let t = &body["token"];
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(t["user"]["name"], "admin");
    let roles: Vec<&str> = t["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        roles.contains(&"admin") && roles.contains(&"member"),
        "{roles:?}"
    );
    let types: Vec<&str> = t["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["load-balancer", "network", "identity"]);
    assert_eq!(t["catalog"][0]["endpoints"][0]["url"], b.url(""));

    let subject = [("X-Subject-Token", token.as_str())];
    let (s, v) = call_with(&b, "GET", "/v3/auth/tokens", Some(&token), None, &subject);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["token"]["audit_ids"], t["audit_ids"]);
    let (s, _) = call_with(&b, "HEAD", "/v3/auth/tokens", Some(&token), None, &subject);
    assert_eq!(s, 200);
    assert_eq!(
        call(&b, "GET", "/v1/loadbalancers", Some(&token), None).0,
        200
    );

    let (s, v) = call_with(
        &b,
        "DELETE",
        "/v3/auth/tokens",
        Some(&token),
        None,
        &subject,
    );
    assert_eq!(s, 204, "{v}");
    let (s, v) = call(&b, "GET", "/v1/loadbalancers", Some(&token), None);
    assert_fault(s, &v, 401, "unknown, expired or revoked");
    let (s, v) = call(&b, "GET", "/v1/loadbalancers", Some("not-a-token"), None);
    assert_fault(s, &v, 401, "unknown, expired or revoked");
    let (s, v) = call(&b, "GET", "/v1/loadbalancers", None, None);
    assert_fault(s, &v, 401, "X-Auth-Token is missing");
}

#[test]
fn a_token_expires_after_its_ttl() {
    let (b, _tmp) = start_local("token_ttl_secs = 2");
    let token = login(&b, "admin", "admin-pw", "admin");
    assert_eq!(
        call(&b, "GET", "/v1/loadbalancers", Some(&token), None).0,
        200
    );
    wait_until(Duration::from_secs(10), "token expired", || {
        call(&b, "GET", "/v1/loadbalancers", Some(&token), None).0 == 401
    });
    let (s, v) = call(&b, "GET", "/v2/lbaas/loadbalancers", Some(&token), None);
    assert_fault(s, &v, 401, "unknown, expired or revoked");
}

#[test]
fn a_token_survives_a_restart_and_can_be_rescoped() {
    let (mut b, tmp) = start_local("");
    add_user(&b, "carol", "carol-pw", "p1", "member");
    let other = cli(&b, &["project", "add", "p2"], None);
    assert!(other.contains("p2"), "{other}");
    let token = login(&b, "carol", "carol-pw", "p1");
    let cidr = b.cidr.clone();
    b.terminate();
    let b = Ballast::start_in(
        tmp.path(),
        &cidr,
        Options {
            extra_toml: "\n[auth]\nmode = \"local\"\n".into(),
            ..Options::default()
        },
    );
    assert_eq!(
        call(&b, "GET", "/v1/loadbalancers", Some(&token), None).0,
        200
    );

    let rescope = |project: &str| {
        login_with(
            &b,
            &json!({"auth": {"identity": {"methods": ["token"], "token": {"id": token}},
                    "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}),
        )
    };
    let (s, t2, body) = rescope("p1");
    assert_eq!(s, 201, "{body}");
    assert_ne!(t2.as_deref(), Some(token.as_str()));
    assert_eq!(body["token"]["methods"], json!(["token"]));
    let (s, _, body) = rescope("p2");
    assert_fault(s, &body, 401, "no role on the project");
}

#[test]
fn an_application_credential_logs_in_by_id_and_by_name_and_is_bound_to_its_project() {
    let (b, _tmp) = start_local("");
    add_user(&b, "dave", "dave-pw", "p1", "member");
    let (id, secret) = app_credential(&b, "dave", "p1", "ci");
    let (s, _, body) = login_with(
        &b,
        &json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"id": id, "secret": secret}}}}),
    );
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["token"]["project"]["name"], "p1");
    assert_eq!(body["token"]["application_credential"]["id"], id.as_str());
    let (s, _, body) = login_with(
        &b,
        &json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"name": "ci", "secret": secret,
                "user": {"name": "dave", "domain": {"name": "Default"}}}}}}),
    );
    assert_eq!(s, 201, "{body}");
    let (s, _, body) = login_with(
        &b,
        &json!({"auth": {"identity": {"methods": ["application_credential"],
            "application_credential": {"id": id, "secret": "wrong"}}}}),
    );
    assert_fault(s, &body, 401, "not valid");

    // Through the API: dave makes one for himself; the secret shows once.
    let token = login(&b, "dave", "dave-pw", "p1");
    let me = body_user_id(&b, &token);
    let path = format!("/v3/users/{me}/application_credentials");
    let (s, c) = call(
        &b,
        "POST",
        &path,
        Some(&token),
        Some(json!({"application_credential": {"name": "api"}})),
    );
    assert_eq!(s, 201, "{c}");
    let secret = c["application_credential"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, list) = call(&b, "GET", &path, Some(&token), None);
    assert_eq!(s, 200, "{list}");
    assert!(
        !list.to_string().contains(&secret),
        "a list never shows a secret"
    );
    assert_eq!(list["application_credentials"].as_array().unwrap().len(), 2);
}

fn body_user_id(b: &Ballast, token: &str) -> String {
    let subject = [("X-Subject-Token", token)];
    let (_, v) = call_with(b, "GET", "/v3/auth/tokens", Some(token), None, &subject);
    v["token"]["user"]["id"].as_str().unwrap().to_string()
}

#[test]
fn repeated_failures_lock_the_user_out_even_with_the_right_password_then_expire() {
    let (b, _tmp) = start_local("lockout_failure_attempts = 3\nlockout_duration_secs = 2");
    for _ in 0..3 {
        let (s, _, body) = login_with(&b, &password_auth("admin", "wrong", "admin"));
        assert_fault(s, &body, 401, "not valid");
    }
    let (s, _, body) = login_with(&b, &password_auth("admin", "admin-pw", "admin"));
    assert_fault(s, &body, 401, "locked out");
    wait_until(Duration::from_secs(10), "lockout over", || {
        login_with(&b, &password_auth("admin", "admin-pw", "admin")).0 == 201
    });
    let log = b.log.lock().unwrap().join("\n");
    assert!(
        log.contains("login failed") && log.contains("source=127.0.0.1"),
        "{log}"
    );
    assert!(log.contains("locked out"), "{log}");
    assert!(!log.contains("admin-pw"), "a password is never logged");
}

#[test]
fn the_database_file_holds_no_password_secret_or_token_in_clear() {
    let (b, tmp) = start_local("");
    add_user(&b, "erin", "erin-very-secret-pw", "p1", "member");
    let (_, secret) = app_credential(&b, "erin", "p1", "x");
    let token = login(&b, "erin", "erin-very-secret-pw", "p1");
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(tmp.path().join("data")).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("erin"), "the file was read");
    for clear in [
        "erin-very-secret-pw",
        "admin-pw",
        secret.as_str(),
        token.as_str(),
    ] {
        assert!(!text.contains(clear), "{clear} is in the database in clear");
    }
    assert!(text.contains("$argon2id$"), "passwords are argon2id hashes");
}

#[test]
fn mode_none_beyond_loopback_refuses_to_start_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("b.toml");
    let run = |extra: &str| {
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\n[api]\naddress = \"0.0.0.0\"\n{extra}\n[[networks]]\nname = \"t\"\nmode = \"loopback\"\ncidr = {:?}\n",
                tmp.path().join("data"),
                fresh_cidr()
            ),
        )
        .unwrap();
        std::process::Command::new(env!("CARGO_BIN_EXE_ballast"))
            .args(["check", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let out = run("");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("auth.mode") && err.contains("allow_none_beyond_loopback"),
        "{err}"
    );
    let out = run("[auth]\nallow_none_beyond_loopback = true\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn open_paths_need_no_token_and_identity_needs_an_admin() {
    let (b, _tmp) = start_local("");
    for path in ["/healthz", "/readyz", "/v3", "/metrics"] {
        let (s, v) = call(&b, "GET", path, None, None);
        assert_eq!(s, 200, "{path}: {v}");
    }
    let (s, v) = call(&b, "GET", "/v3", None, None);
    assert_eq!(s, 200);
    assert_eq!(v["version"]["id"], "v3.14");
    add_user(&b, "frank", "frank-pw", "p1", "member");
    let token = login(&b, "frank", "frank-pw", "p1");
    let before = db_state(&b);
    let (s, v) = call(
        &b,
        "POST",
        "/v3/projects",
        Some(&token),
        Some(json!({"project": {"name": "evil"}})),
    );
    assert_fault(s, &v, 403, "admin only");
    let (s, v) = call(&b, "GET", "/v3/users", Some(&token), None);
    assert_fault(s, &v, 403, "admin only");
    assert_eq!(db_state(&b), before);
    // A member looks up its own project (by name or id), no other.
    let (s, own) = call(&b, "GET", "/v3/projects?name=p1", Some(&token), None);
    assert_eq!(s, 200, "{own}");
    let p1 = own["projects"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = call(&b, "GET", &format!("/v3/projects/{p1}"), Some(&token), None);
    assert_eq!((s, v["project"]["name"].as_str()), (200, Some("p1")), "{v}");
    let (s, v) = call(&b, "GET", "/v3/projects", Some(&token), None);
    assert_eq!(v["projects"].as_array().map(Vec::len), Some(1), "{s} {v}");
    let (s, v) = call(&b, "GET", "/v3/projects?name=admin", Some(&token), None);
    assert_eq!((s, v["projects"].clone()), (200, json!([])), "{v}");

    let admin = login(&b, "admin", "admin-pw", "admin");
    // Another project, looked up by id, is absent to the member.
    let (_, all) = call(&b, "GET", "/v3/projects?name=admin", Some(&admin), None);
    let other = all["projects"][0]["id"].as_str().unwrap().to_string();
    let (s, v) = call(
        &b,
        "GET",
        &format!("/v3/projects/{other}"),
        Some(&token),
        None,
    );
    assert_eq!(s, 404, "{v}");
    assert!(!v.to_string().contains("\"admin\""), "{v}");
    let (s, p) = call(
        &b,
        "POST",
        "/v3/projects",
        Some(&admin),
        Some(json!({"project": {"name": "p9", "domain_id": "default"}})),
    );
    assert_eq!(s, 201, "{p}");
    let (s, u) = call(
        &b,
        "POST",
        "/v3/users",
        Some(&admin),
        Some(
            json!({"user": {"name": "gina", "password": "gina-pw", "default_project_id": p["project"]["id"]}}),
        ),
    );
    assert_eq!(s, 201, "{u}");
    assert!(u["user"].get("password").is_none(), "{u}");
    let (s, found) = call(&b, "GET", "/v3/projects?name=p9", Some(&admin), None);
    assert_eq!((s, found["projects"].as_array().unwrap().len()), (200, 1));
    let grant = format!(
        "/v3/projects/{}/users/{}/roles/reader",
        p["project"]["id"].as_str().unwrap(),
        u["user"]["id"].as_str().unwrap()
    );
    assert_eq!(call(&b, "PUT", &grant, Some(&admin), None).0, 204);
    let gina = login(&b, "gina", "gina-pw", "p9");
    let (s, v) = call(
        &b,
        "POST",
        "/v2/lbaas/loadbalancers",
        Some(&gina),
        Some(json!({"loadbalancer": {"vip_network_id": network_id(&b, &gina)}})),
    );
    assert_fault(s, &v, 403, "may only read");
}
