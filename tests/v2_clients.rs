//! The real OpenStack clients drive the real binary: the `openstack` CLI
//! (python-octaviaclient), openstacksdk and ansible's openstack.cloud, from
//! the virtualenv `.ci/clients.sh` installs, with a `clouds.yaml` of
//! `auth_type: none` whose one endpoint is Ballast.

mod common;

use common::Ballast;
use common::clients::Clients;
use serde_json::json;

#[test]
fn the_virtualenv_holds_the_pinned_clients() {
    let b = Ballast::start();
    let c = Clients::new(&b);
    let versions = c.python(
        "import importlib.metadata as m\n\
         for p in ['python-openstackclient', 'python-octaviaclient', 'openstacksdk', 'ansible']:\n\
         \x20   print(p, m.version(p))\n",
    );
    let pinned = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/requirements.txt"),
    )
    .unwrap();
    for line in versions.lines() {
        let (name, version) = line.split_once(' ').unwrap();
        assert!(
            pinned.lines().any(|l| l == format!("{name}=={version}")),
            "{name} {version} is not the pinned version"
        );
    }
    let collections = c
        .command("ansible-galaxy")
        .args(["collection", "list", "openstack.cloud"])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&collections.stdout);
    assert!(listed.contains("openstack.cloud 2.5."), "{listed}");
}

#[test]
fn the_cli_lists_ballast_as_the_one_provider_and_empty_catalogs() {
    let b = Ballast::start();
    let c = Clients::new(&b);
    let providers = c.openstack_json(&["loadbalancer", "provider", "list"]);
    assert_eq!(providers.as_array().unwrap().len(), 1, "{providers}");
    assert_eq!(providers[0]["name"], "ballast");
    for what in [
        ["loadbalancer", "flavor", "list"],
        ["loadbalancer", "flavorprofile", "list"],
        ["loadbalancer", "availabilityzone", "list"],
        ["loadbalancer", "availabilityzoneprofile", "list"],
        ["loadbalancer", "amphora", "list"],
        ["loadbalancer", "quota", "list"],
    ] {
        assert_eq!(c.openstack_json(&what), json!([]), "{}", what.join(" "));
    }
    let defaults = c.openstack_json(&["loadbalancer", "quota", "defaults", "show"]);
    assert_eq!(defaults["load_balancer"], -1, "{defaults}");
    assert_eq!(defaults["member"], -1, "{defaults}");
}
