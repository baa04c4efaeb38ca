//! The real OpenStack clients log in to Ballast's own Keystone with
//! ordinary credentials (`[auth] mode = "local"`) and run the load-balancer
//! lifecycle: the `openstack` CLI with a password and with an application
//! credential, given as `--os-*` options, and openstacksdk with a
//! `clouds.yaml` of `auth_type: password`. Each goes through keystoneauth's
//! discovery (`GET /v3`), token and catalog flow.

mod common;

use common::Ballast;
use common::clients::Clients;
use common::identity::{add_user, app_credential, call, login, start_local};
use serde_json::{Value, json};

/// The `--os-*` options of a password login of `user` on `project`.
fn password_options(b: &Ballast, user: &str, password: &str, project: &str) -> Vec<String> {
    [
        "--os-auth-url",
        &format!("http://{}/v3", b.api),
        "--os-identity-api-version",
        "3",
        "--os-username",
        user,
        "--os-password",
        password,
        "--os-project-name",
        project,
        "--os-user-domain-name",
        "Default",
        "--os-project-domain-name",
        "Default",
    ]
    .map(str::to_string)
    .to_vec()
}

/// The instance's one subnet, read with `token`.
fn subnet_id(b: &Ballast, token: &str) -> String {
    let (s, v) = call(b, "GET", "/v2.0/subnets", Some(token), None);
    assert_eq!(s, 200, "{v}");
    v["subnets"][0]["id"].as_str().unwrap().to_string()
}

/// Run the lifecycle with the CLI, every command carrying `auth`: create
/// (`--wait`), listener, pool, member, show, list, delete `--cascade`.
/// Returns the load balancer as shown.
fn cli_lifecycle(c: &Clients, auth: &[String], subnet: &str, name: &str) -> Value {
    let os = |args: &[&str]| {
        let mut all: Vec<&str> = auth.iter().map(String::as_str).collect();
        all.extend(args);
        c.openstack_json(&all)
    };
    let lb = os(&[
        "loadbalancer",
        "create",
        "--name",
        name,
        "--vip-subnet-id",
        subnet,
        "--wait",
    ]);
    assert_eq!(lb["provisioning_status"], "ACTIVE", "{lb}");
    let lb_id = lb["id"].as_str().unwrap().to_string();
    let l = os(&[
        "loadbalancer",
        "listener",
        "create",
        "--name",
        &format!("{name}-l"),
        "--protocol",
        "TCP",
        "--protocol-port",
        "18080",
        "--wait",
        &lb_id,
    ]);
    let p = os(&[
        "loadbalancer",
        "pool",
        "create",
        "--name",
        &format!("{name}-p"),
        "--protocol",
        "TCP",
        "--lb-algorithm",
        "ROUND_ROBIN",
        "--listener",
        l["id"].as_str().unwrap(),
        "--wait",
    ]);
    let p_id = p["id"].as_str().unwrap().to_string();
    let m = os(&[
        "loadbalancer",
        "member",
        "create",
        "--address",
        "127.0.0.1",
        "--protocol-port",
        "9",
        "--wait",
        &p_id,
    ]);
    for v in [&l, &p, &m] {
        assert_eq!(v["provisioning_status"], "ACTIVE", "{v}");
    }
    let shown = os(&["loadbalancer", "show", &lb_id]);
    assert_eq!(shown["listeners"], json!([{"id": l["id"]}]), "{shown}");
    assert_eq!(shown["pools"], json!([{"id": p["id"]}]), "{shown}");
    let listed = os(&["loadbalancer", "list"]);
    assert_eq!(
        listed.as_array().unwrap().len(),
        1,
        "the project's own only: {listed}"
    );
    assert_eq!(listed[0]["id"], lb_id.as_str());
    assert_eq!(
        os(&["loadbalancer", "member", "list", &p_id])[0]["id"],
        m["id"]
    );
    let mut delete: Vec<&str> = auth.iter().map(String::as_str).collect();
    delete.extend(["loadbalancer", "delete", "--cascade", "--wait", &lb_id]);
    c.openstack(&delete);
    assert_eq!(os(&["loadbalancer", "list"]), json!([]));
    shown
}

#[test]
fn the_cli_runs_the_lifecycle_with_a_password_and_with_an_application_credential() {
    let (b, _tmp) = start_local("");
    add_user(&b, "alice", "alice-pw", "web", "member");
    let token = login(&b, "alice", "alice-pw", "web");
    let subnet = subnet_id(&b, &token);
    let c = Clients::without_cloud();

    let auth = password_options(&b, "alice", "alice-pw", "web");
    let lb = cli_lifecycle(&c, &auth, &subnet, "pw-lb");
    let web = lb["project_id"].as_str().unwrap().to_string();
    assert!(
        !web.is_empty() && web != "default",
        "the token's project: {lb}"
    );

    // The quota of the caller's project: the CLI resolves the name through
    // Keystone's project look-up, which finds the caller's own project and
    // no other (another project's name is unknown to it).
    let quota_show = |project: &str| {
        auth.iter()
            .map(String::as_str)
            .chain(["loadbalancer", "quota", "show", project])
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let args = quota_show("web");
    let quota = c.openstack_json(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(quota["load_balancer"], -1, "{quota}");
    let args = quota_show("admin");
    let err = c.openstack_fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        err.contains("No project with a name or ID of 'admin'"),
        "{err}"
    );

    let (id, secret) = app_credential(&b, "alice", "web", "ci");
    let auth: Vec<String> = [
        "--os-auth-type",
        "v3applicationcredential",
        "--os-auth-url",
        &format!("http://{}/v3", b.api),
        "--os-identity-api-version",
        "3",
        "--os-application-credential-id",
        &id,
        "--os-application-credential-secret",
        &secret,
    ]
    .map(str::to_string)
    .to_vec();
    let lb = cli_lifecycle(&c, &auth, &subnet, "ac-lb");
    assert_eq!(lb["project_id"], web.as_str());

    // A wrong password is refused by the CLI's own login.
    let mut bad = password_options(&b, "alice", "wrong", "web");
    bad.extend(["loadbalancer", "list"].map(str::to_string));
    let err = c.openstack_fails(&bad.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(err.contains("401"), "{err}");
}

#[test]
fn openstacksdk_runs_the_lifecycle_from_a_password_clouds_yaml() {
    let (b, _tmp) = start_local("");
    add_user(&b, "bob", "bob-pw", "api", "member");
    let subnet = subnet_id(&b, &login(&b, "bob", "bob-pw", "api"));
    let c = Clients::with_cloud(&format!(
        "auth_type: password\nidentity_api_version: 3\nauth:\n  auth_url: http://{api}/v3\n  \
         username: bob\n  password: bob-pw\n  project_name: api\n  \
         user_domain_name: Default\n  project_domain_name: Default\n",
        api = b.api
    ));
    let out = c.python(&format!(
        r#"
import json, openstack
conn = openstack.connect(cloud="ballast")
lb_api = conn.load_balancer
lb = lb_api.create_load_balancer(name="sdk-lb", vip_subnet_id="{subnet}")
lb = conn.load_balancer.wait_for_load_balancer(lb.id, wait=30, interval=0.2)
l = lb_api.create_listener(name="sdk-l", protocol="TCP", protocol_port=18081,
                           loadbalancer_id=lb.id)
lb_api.wait_for_load_balancer(lb.id, wait=30, interval=0.2)
p = lb_api.create_pool(name="sdk-p", protocol="TCP", lb_algorithm="ROUND_ROBIN",
                       listener_id=l.id)
lb_api.wait_for_load_balancer(lb.id, wait=30, interval=0.2)
m = lb_api.create_member(p, address="127.0.0.1", protocol_port=9)
lb_api.wait_for_load_balancer(lb.id, wait=30, interval=0.2)
shown = lb_api.get_load_balancer(lb.id)
seen = {{"lb": lb.id, "project": shown.project_id, "status": shown.provisioning_status,
        "listeners": [x["id"] for x in shown.listeners], "listener": l.id,
        "listed": [x.id for x in lb_api.load_balancers()],
        "members": [x.id for x in lb_api.members(p)], "member": m.id,
        "user_project": conn.current_project_id}}
lb_api.delete_load_balancer(lb.id, cascade=True)
lb_api.wait_for_delete(shown, wait=30, interval=0.2)
seen["after"] = [x.id for x in lb_api.load_balancers()]
print(json.dumps(seen))
"#
    ));
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(v["status"], "ACTIVE", "{v}");
    assert_eq!(v["project"], v["user_project"], "{v}");
    assert_eq!(v["listeners"], json!([v["listener"]]), "{v}");
    assert_eq!(v["listed"], json!([v["lb"]]), "{v}");
    assert_eq!(v["members"], json!([v["member"]]), "{v}");
    assert_eq!(v["after"], json!([]), "{v}");
}
