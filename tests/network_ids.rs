//! Network ids cannot be guessed (issue 14): a network configured without an
//! `id` gets one keyed with its installation's secret, so the same name has
//! another id on every installation, yet the same id after a restart and in
//! a restored backup. A database from before keyed ids keeps the ids its
//! load balancers and ports hold.

mod common;

use std::time::Duration;

use ballast::model::NetworkNaming;
use common::api::id_of;
use common::{Ballast, Options, fresh_cidr, http, http_member, wait_until};
use serde_json::json;

#[test]
fn two_installations_name_the_same_network_differently_and_a_restart_keeps_each_id() {
    let (tmp_a, tmp_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (cidr_a, cidr_b) = (fresh_cidr(), fresh_cidr());
    let mut a = Ballast::start_in(tmp_a.path(), &cidr_a, Options::default());
    let b = Ballast::start_in(tmp_b.path(), &cidr_b, Options::default());
    let (_, nets_a) = a.get("/v1/networks");
    let (_, nets_b) = b.get("/v1/networks");
    assert_eq!(nets_a[0]["name"], "test");
    assert_eq!(nets_b[0]["name"], "test");
    let id_a = a.network_id();
    assert_ne!(id_a, b.network_id(), "same name, another installation");
    assert_ne!(
        id_a,
        NetworkNaming::legacy_id("test").to_string(),
        "not the name-only id anyone can compute"
    );
    a.create_lb();

    assert!(a.terminate().expect("running").success());
    let a = Ballast::start_in(tmp_a.path(), &cidr_a, Options::default());
    assert_eq!(a.network_id(), id_a, "the id survives a restart");
    let (s, net) = a.get(&format!("/v1/networks/{id_a}"));
    assert_eq!(s, 200, "{net}");
}

#[test]
fn a_restored_backup_keeps_the_network_id() {
    let tmp = tempfile::tempdir().unwrap();
    let cidr = fresh_cidr();
    let b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let id = b.network_id();
    let lb = b.create_lb();

    let restored = tempfile::tempdir().unwrap();
    let data = restored.path().join("data");
    std::fs::create_dir(&data).unwrap();
    ballast::backup::backup(
        &ballast::store::database_path(&tmp.path().join("data")),
        &ballast::store::database_path(&data),
    )
    .expect("backup");
    drop(b);
    let r = Ballast::start_in(restored.path(), &cidr, Options::default());
    assert_eq!(r.network_id(), id);
    let (s, got) = r.get(&format!("/v1/loadbalancers/{}", lb["id"].as_str().unwrap()));
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["vip"]["network_id"], id.as_str());
}

/// Turn a current database back into what a build before keyed network ids
/// (schema step 3) left: its rows hold the name-only id of network `test`.
fn downgrade_to_step_3(db: &std::path::Path, keyed: &str) {
    let legacy = NetworkNaming::legacy_id("test").to_string();
    let conn = rusqlite::Connection::open(db).expect("open database");
    conn.execute_batch(&format!(
        "BEGIN;
         UPDATE load_balancers SET vip_network_id = '{legacy}' WHERE vip_network_id = '{keyed}';
         UPDATE ports SET network_id = '{legacy}' WHERE network_id = '{keyed}';
         DROP TABLE installation;
         DROP TABLE legacy_network_ids;
         DROP TABLE IF EXISTS events; -- step 5, after keyed ids
         DROP TABLE tokens; -- step 6: identity
         DROP TABLE application_credentials;
         DROP TABLE role_assignments;
         DROP TABLE users;
         DROP TABLE projects;
         ALTER TABLE ports DROP COLUMN project_id;
         ALTER TABLE certificates DROP COLUMN project_id;
         PRAGMA user_version = 3;
         COMMIT;"
    ))
    .expect("downgrade");
}

#[test]
fn a_step_3_database_keeps_its_network_id_and_serves_its_load_balancers_after_migrating() {
    let tmp = tempfile::tempdir().unwrap();
    let cidr = fresh_cidr();
    let mut b = Ballast::start_in(tmp.path(), &cidr, Options::default());
    let member = http_member("legacy");
    let keyed = b.network_id();
    let lb = b.create_lb();
    let (lb_id, vip) = (
        id_of(&lb),
        lb["vip"]["ip_address"].as_str().unwrap().to_string(),
    );
    let listener = id_of(&b.add_listener(&lb_id, "HTTP", 8080));
    let pool = id_of(&b.add_pool(&lb_id, &listener, "HTTP"));
    let ip = member.ip().to_string();
    b.add_member(&lb_id, &listener, &pool, &ip, member.port());
    assert!(b.terminate().expect("running").success());

    downgrade_to_step_3(
        &ballast::store::database_path(&tmp.path().join("data")),
        &keyed,
    );
    let b = Ballast::start_in(tmp.path(), &cidr, Options::default());

    let legacy = NetworkNaming::legacy_id("test").to_string();
    assert_eq!(b.network_id(), legacy, "the id the rows hold is kept");
    let (s, net) = b.get(&format!("/v1/networks/{legacy}"));
    assert_eq!(s, 200, "{net}");
    let lb = b.wait_lb_active(&lb_id);
    assert_eq!(lb["vip"]["network_id"], legacy.as_str());
    let url = format!("http://{vip}:8080/");
    let mut last = (0, serde_json::Value::Null);
    wait_until(Duration::from_secs(10), "the VIP serves again", || {
        last = http("GET", &url, None);
        last.0 == 200
    });
    assert_eq!(last.1, "legacy");
    // New load balancers go onto the same network.
    let (s, more) = b.post("/v1/loadbalancers", json!({"vip": {"network_id": legacy}}));
    assert_eq!(s, 202, "{more}");
}
