//! The real OpenStack clients (the `openstack` CLI with python-octaviaclient,
//! openstacksdk, ansible with openstack.cloud) pointed at a test instance:
//! the virtualenv `.ci/clients.sh` installs, and a `clouds.yaml` with
//! `auth_type: none` whose one endpoint is the instance's API.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::Ballast;

/// The name of the cloud in the generated `clouds.yaml`.
pub const CLOUD: &str = "ballast";

/// The clients' virtualenv: `$BALLAST_CLIENTS_VENV`, else the one
/// `.ci/clients.sh` installs (`~/.cache/ballast-venv/current`), running that
/// script first when the venv is missing or was installed from another
/// `tests/clients/requirements.txt` (so `cargo test` alone suffices, as the
/// browser tests install playwright-core themselves). Panics with what to
/// run when it still is not there.
pub fn venv() -> PathBuf {
    if std::env::var_os("BALLAST_CLIENTS_VENV").is_none() && current_venv().is_err() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/clients.sh");
        let status = std::process::Command::new("bash")
            .arg(&script)
            .status()
            .expect("run .ci/clients.sh");
        assert!(status.success(), ".ci/clients.sh failed: {status}");
    }
    current_venv().unwrap_or_else(|why| panic!("{why}"))
}

/// The venv in use and whether it matches `tests/clients/requirements.txt`.
fn current_venv() -> Result<PathBuf, String> {
    let venv = match std::env::var_os("BALLAST_CLIENTS_VENV") {
        Some(v) => PathBuf::from(v),
        None => {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").expect("HOME is set")).join(".cache")
                });
            cache.join("ballast-venv").join("current")
        }
    };
    let wanted = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/requirements.txt");
    let wanted = std::fs::read_to_string(&wanted).expect("read tests/clients/requirements.txt");
    match std::fs::read_to_string(venv.join("requirements.txt")) {
        Ok(have) if have == wanted && venv.join(".complete").exists() => Ok(venv),
        Ok(_) => Err(format!(
            "FAIL: the client virtualenv {} was installed from another \
             tests/clients/requirements.txt: run `bash .ci/clients.sh`",
            venv.display()
        )),
        Err(_) => Err(format!(
            "FAIL: no client virtualenv at {} (the openstack CLI, openstacksdk and \
             ansible): run `bash .ci/clients.sh`, or set BALLAST_CLIENTS_VENV",
            venv.display()
        )),
    }
}

/// The clients, configured for one Ballast instance.
pub struct Clients {
    venv: PathBuf,
    dir: tempfile::TempDir,
}

impl Clients {
    /// Clients whose `clouds.yaml` points at `b`'s API (no identity: every
    /// service is that one endpoint).
    pub fn new(b: &Ballast) -> Clients {
        Clients::with_cloud(&format!(
            "auth_type: none\nauth:\n  endpoint: http://{api}\n",
            api = b.api
        ))
    }

    /// Clients whose `clouds.yaml` cloud is `cloud` (YAML, unindented).
    pub fn with_cloud(cloud: &str) -> Clients {
        let clients = Clients::without_cloud();
        let indented: String = cloud.lines().map(|l| format!("    {l}\n")).collect();
        let clouds = format!("clouds:\n  {CLOUD}:\n{indented}");
        std::fs::write(clients.dir().join("clouds.yaml"), clouds).expect("write clouds.yaml");
        clients
    }

    /// Clients with no `clouds.yaml`: every command names its cloud itself
    /// (`--os-auth-url`, ...).
    pub fn without_cloud() -> Clients {
        Clients {
            venv: venv(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A scratch directory of these clients (holds `clouds.yaml`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A command running the virtualenv's `program` with the generated
    /// `clouds.yaml`, a private HOME and no OS_* variables from outside.
    pub fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.venv.join("bin").join(program));
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("OS_") {
                cmd.env_remove(key);
            }
        }
        let clouds = self.dir().join("clouds.yaml");
        if clouds.exists() {
            cmd.env("OS_CLIENT_CONFIG_FILE", clouds)
                .env("OS_CLOUD", CLOUD);
        }
        cmd.env("HOME", self.dir())
            .env("ANSIBLE_LOCAL_TEMP", self.dir().join("ansible-tmp"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(self.dir());
        cmd
    }

    /// Run `openstack args…`; the whole output, whatever the exit status.
    pub fn openstack_output(&self, args: &[&str]) -> Output {
        self.command("openstack")
            .args(args)
            .output()
            .expect("run openstack")
    }

    /// Run `openstack args…`, which must succeed; its stdout.
    pub fn openstack(&self, args: &[&str]) -> String {
        let out = self.openstack_output(args);
        assert!(
            out.status.success(),
            "openstack {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run `openstack args… -f json`, which must succeed; its JSON.
    pub fn openstack_json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-f", "json"]);
        let text = self.openstack(&all);
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("openstack {}: not JSON ({e}): {text}", args.join(" ")))
    }

    /// Run `openstack args…`, which must fail; its stderr.
    pub fn openstack_fails(&self, args: &[&str]) -> String {
        let out = self.openstack_output(args);
        assert!(
            !out.status.success(),
            "openstack {} should fail; stdout: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Run a python script with the virtualenv's interpreter (openstacksdk
    /// importable; `openstack.connect(cloud=CLOUD)` reaches Ballast); must
    /// succeed; its stdout.
    pub fn python(&self, script: &str) -> String {
        let path = self.dir().join("script.py");
        std::fs::write(&path, script).expect("write script");
        let out = self
            .command("python")
            .arg(&path)
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "python script failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Run `ansible-playbook` on `playbook` (YAML text) against localhost
    /// with the virtualenv's interpreter; must succeed; its stdout.
    pub fn ansible_playbook(&self, playbook: &str) -> String {
        let path = self.dir().join("playbook.yml");
        std::fs::write(&path, playbook).expect("write playbook");
        let python = self.venv.join("bin").join("python");
        let out = self
            .command("ansible-playbook")
            .arg("-i")
            .arg("localhost,")
            .arg("-c")
            .arg("local")
            .arg("-e")
            .arg(format!("ansible_python_interpreter={}", python.display()))
            .arg(&path)
            .output()
            .expect("run ansible-playbook");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "ansible-playbook failed ({}):\nstdout: {stdout}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }
}
