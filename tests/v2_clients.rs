//! The real OpenStack clients drive the real binary: the `openstack` CLI
//! (python-octaviaclient), openstacksdk and ansible's openstack.cloud, from
//! the virtualenv `.ci/clients.sh` installs, with a `clouds.yaml` of
//! `auth_type: none` whose one endpoint is Ballast.

mod common;

use common::Ballast;
use common::clients::Clients;

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
