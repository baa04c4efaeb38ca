//! Interface mode of the local network driver, for real: the binary runs
//! inside a network namespace this test creates, with a veth pair (this
//! kernel has no `dummy` links), and VIPs appear on and vanish from the
//! veth end as load balancers come and go. Needs root (CI runs as root);
//! without it the test fails and says so. Every address lives only inside
//! the namespace, which is deleted at the end.

mod common;

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use common::wait_until;
use serde_json::{Value, json};

unsafe extern "C" {
    /// glibc's setns(2): move the calling thread into another namespace.
    fn setns(fd: i32, nstype: i32) -> i32;
}
const CLONE_NEWNET: i32 = 0x4000_0000;

/// A network namespace with `lo` up and a veth pair `vb0`/`vb1`, deleted on
/// drop.
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Netns {
        let name = format!(
            "ballast-test-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        let out = run("ip", &["netns", "add", &name]);
        assert!(
            out.status.success(),
            "the interface-mode test needs root and `ip netns` (CI runs as root); \
             `ip netns add {name}` failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns.ip(&["link", "add", "vb0", "type", "veth", "peer", "name", "vb1"]);
        ns.ip(&["link", "set", "vb0", "up"]);
        ns.ip(&["link", "set", "vb1", "up"]);
        ns
    }

    /// `ip -n NS ARGS`, which must succeed; returns stdout.
    fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["-n", &self.name];
        full.extend_from_slice(args);
        let out = run("ip", &full);
        assert!(
            out.status.success(),
            "ip {full:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// The addresses on `vb0`, one `ADDR/PREFIX` per entry.
    fn vb0_addresses(&self) -> Vec<String> {
        self.ip(&["-o", "addr", "show", "dev", "vb0"])
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                words.find(|w| *w == "inet" || *w == "inet6")?;
                words.next().map(str::to_string)
            })
            .collect()
    }

    /// Run `f` on a thread that has entered the namespace, so its sockets
    /// reach the API bound on the namespace's own 127.0.0.1.
    fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|s| {
            s.spawn(|| {
                let file = File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
                // SAFETY: setns only reads the fd, which `file` keeps open;
                // CLONE_NEWNET affects this thread alone.
                let rc = unsafe { setns(file.as_raw_fd(), CLONE_NEWNET) };
                assert_eq!(rc, 0, "setns({path}): {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .expect("thread inside the namespace")
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let out = run("ip", &["netns", "del", &self.name]);
        if !out.status.success() {
            eprintln!(
                "cannot delete namespace {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

/// `ballast serve` running inside a namespace.
struct NsBallast<'a> {
    ns: &'a Netns,
    child: Option<Child>,
    api: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl<'a> NsBallast<'a> {
    /// Start on `dir` (reused across restarts) inside `ns`.
    fn start(ns: &'a Netns, dir: &Path) -> NsBallast<'a> {
        let config = write_config(dir);
        // `ip netns exec` execs the binary in place: the child is Ballast.
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name, env!("CARGO_BIN_EXE_ballast")])
            .arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info,rocket=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ip netns exec ballast");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("API listening addr=").nth(1) {
                        let _ = tx.send(rest.trim().to_string()); // receiver may be gone: fine
                    }
                    log.lock().expect("log").push(line);
                }
            });
        }
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("ballast did not start: {:?}", log.lock()));
        let b = NsBallast {
            ns,
            child: Some(child),
            api: addr.parse().expect("listening address"),
            log,
        };
        wait_until(Duration::from_secs(30), "ballast ready", || {
            b.call("GET", "/readyz", None).0 == 200
        });
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("http://{}{path}", self.api);
        self.ns
            .enter(|| common::http(method, &url, body.map(|b| b.to_string())))
    }

    fn network_id(&self, name: &str) -> String {
        let (s, nets) = self.call("GET", "/v1/networks", None);
        assert_eq!(s, 200, "{nets}");
        nets.as_array()
            .expect("list")
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("no network {name} in {nets}"))["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// Create a load balancer on `network` and wait until it leaves
    /// PENDING_CREATE; returns it.
    fn create_lb(&self, vip: Value) -> Value {
        let (s, lb) = self.call("POST", "/v1/loadbalancers", Some(json!({ "vip": vip })));
        assert_eq!(s, 202, "{lb}");
        self.wait_settled(lb["id"].as_str().expect("id"))
    }

    fn wait_settled(&self, id: &str) -> Value {
        let mut last = Value::Null;
        wait_until(Duration::from_secs(10), "load balancer settled", || {
            last = self.call("GET", &format!("/v1/loadbalancers/{id}"), None).1;
            !last["provisioning_status"]
                .as_str()
                .unwrap_or("PENDING_")
                .starts_with("PENDING_")
        });
        last
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // already dead is fine
            let _ = c.wait();
        }
    }
}

impl Drop for NsBallast<'_> {
    fn drop(&mut self) {
        self.kill();
    }
}

fn write_config(dir: &Path) -> PathBuf {
    let config = dir.join("ballast.toml");
    let toml = format!(
        r#"data_dir = {data:?}

[api]
address = "127.0.0.1"
port = 0

[[networks]]
name = "eth"
mode = "interface"
cidr = "10.99.0.0/24"
interface = "vb0"

[[networks]]
name = "eth6"
mode = "interface"
cidr = "fd00:99::/120"
interface = "vb0"

[[networks]]
name = "ghost"
mode = "interface"
cidr = "10.98.0.0/24"
interface = "vbnone0"

[[networks]]
name = "loopback"
mode = "loopback"
cidr = "127.77.0.0/16"
"#,
        data = dir.join("data").display().to_string(),
    );
    std::fs::write(&config, toml).expect("write config");
    config
}

fn ip_of(lb: &Value) -> String {
    lb["vip"]["ip_address"]
        .as_str()
        .unwrap_or_else(|| panic!("no VIP address in {lb}"))
        .to_string()
}

#[test]
fn interface_mode_vips_come_and_go_on_the_interface_inside_a_namespace() {
    let ns = Netns::create();
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut b = NsBallast::start(&ns, tmp.path());
    let eth = b.network_id("eth");

    // Next free address, and an explicit one.
    let first = b.create_lb(json!({"network_id": eth}));
    assert_eq!(first["provisioning_status"], "ACTIVE", "{first}");
    let first_ip = ip_of(&first);
    assert!(first_ip.starts_with("10.99.0."), "{first_ip}");
    let second = b.create_lb(json!({"network_id": eth, "ip_address": "10.99.0.200"}));
    assert_eq!(second["provisioning_status"], "ACTIVE", "{second}");
    let addrs = ns.vb0_addresses();
    assert!(addrs.contains(&format!("{first_ip}/32")), "{addrs:?}");
    assert!(addrs.contains(&"10.99.0.200/32".to_string()), "{addrs:?}");

    // IPv6 VIPs are /128s.
    let v6 = b.create_lb(json!({"network_id": b.network_id("eth6")}));
    assert_eq!(v6["provisioning_status"], "ACTIVE", "{v6}");
    let v6_ip = ip_of(&v6);
    assert!(v6_ip.starts_with("fd00:99::"), "{v6_ip}");
    let addrs = ns.vb0_addresses();
    assert!(addrs.contains(&format!("{v6_ip}/128")), "{addrs:?}");

    // The addresses exist only inside the namespace.
    let host = String::from_utf8_lossy(&run("ip", &["-o", "addr", "show"]).stdout).to_string();
    assert!(
        !host.contains(&first_ip),
        "{first_ip} leaked to the host: {host}"
    );
    assert!(!host.contains("10.99.0.200"), "leaked to the host: {host}");

    // A crash, and someone removed the address meanwhile: the start-up
    // reconcile plugs it again before the API reports ready.
    b.kill();
    ns.ip(&["addr", "del", &format!("{first_ip}/32"), "dev", "vb0"]);
    assert!(!ns.vb0_addresses().contains(&format!("{first_ip}/32")));
    let b = NsBallast::start(&ns, tmp.path());
    let addrs = ns.vb0_addresses();
    assert!(
        addrs.contains(&format!("{first_ip}/32")),
        "the restart re-plugs {first_ip}: {addrs:?}"
    );
    let id = first["id"].as_str().expect("id");
    let (_, again) = b.call("GET", &format!("/v1/loadbalancers/{id}"), None);
    assert_eq!(again["provisioning_status"], "ACTIVE", "{again}");

    // Delete: the address goes, the other one stays.
    let (s, body) = b.call("DELETE", &format!("/v1/loadbalancers/{id}"), None);
    assert_eq!(s, 202, "{body}");
    let gone = b.wait_settled(id);
    assert_eq!(gone["provisioning_status"], "DELETED", "{gone}");
    let addrs = ns.vb0_addresses();
    assert!(!addrs.contains(&format!("{first_ip}/32")), "{addrs:?}");
    assert!(addrs.contains(&"10.99.0.200/32".to_string()), "{addrs:?}");
    let v6_id = v6["id"].as_str().expect("id");
    let (s, body) = b.call("DELETE", &format!("/v1/loadbalancers/{v6_id}"), None);
    assert_eq!(s, 202, "{body}");
    b.wait_settled(v6_id);
    assert!(!ns.vb0_addresses().contains(&format!("{v6_ip}/128")));

    // The freed address is handed out again and plugged again.
    let again = b.create_lb(json!({"network_id": eth, "ip_address": first_ip}));
    assert_eq!(again["provisioning_status"], "ACTIVE", "{again}");
    assert!(ns.vb0_addresses().contains(&format!("{first_ip}/32")));
    let log = b.log.lock().expect("log").join("\n");
    assert!(log.contains("VIP plugged"), "{log}");
}

#[test]
fn a_vip_on_a_missing_interface_ends_in_error_and_can_be_deleted() {
    let ns = Netns::create();
    let tmp = tempfile::tempdir().expect("temp dir");
    let b = NsBallast::start(&ns, tmp.path());
    let lb = b.create_lb(json!({"network_id": b.network_id("ghost")}));
    assert_eq!(lb["provisioning_status"], "ERROR", "{lb}");
    let before = ns.vb0_addresses();
    let id = lb["id"].as_str().expect("id");
    let (s, body) = b.call("DELETE", &format!("/v1/loadbalancers/{id}"), None);
    assert_eq!(s, 202, "an ERROR load balancer takes a delete: {body}");
    let gone = b.wait_settled(id);
    assert_eq!(gone["provisioning_status"], "DELETED", "{gone}");
    assert_eq!(ns.vb0_addresses(), before, "vb0 untouched");
    let log = b.log.lock().expect("log").join("\n");
    assert!(
        log.contains("vbnone0"),
        "the cause names the interface: {log}"
    );
}
