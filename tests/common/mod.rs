//! Shared helpers for integration tests: start the real `ballast` binary on
//! its own data dir, API port and VIP range; typed HTTP calls; an HTTP
//! member answering with its name; polling with a deadline.
#![allow(dead_code)]

pub mod api;
pub mod identity;
mod member;
mod wait;

// Not every test binary uses every helper (see `allow(dead_code)` above).
#[allow(unused_imports)]
pub use member::http_member;
#[allow(unused_imports)]
pub use wait::wait_until;
pub mod clients;
pub mod v2;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running `ballast serve` child process.
pub struct Ballast {
    pub child: Option<Child>,
    pub api: SocketAddr,
    pub dir: PathBuf,
    /// The VIP network's CIDR (a /24 inside 127.0.0.0/8 of this instance alone).
    pub cidr: String,
    _tmp: Option<tempfile::TempDir>,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// A /24 inside 127.0.0.0/8 that no other test instance is likely to use.
pub fn fresh_cidr() -> String {
    let n = uuid::Uuid::new_v4().as_u128();
    let a = 100 + (n % 100) as u8;
    let b = ((n >> 8) % 256) as u8;
    format!("127.{a}.{b}.0/24")
}

/// Options of a test instance.
#[derive(Clone, Default)]
pub struct Options {
    /// Extra TOML appended to the generated config.
    pub extra_toml: String,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Run the binary through this command (e.g. `setpriv` to drop root);
    /// the binary's path and arguments follow it.
    pub wrapper: Vec<String>,
    /// Run this copy of the binary instead of the one cargo built (a path
    /// another user can reach).
    pub binary: Option<PathBuf>,
    /// `data_dir` as written in the config; default the absolute `DIR/data`.
    pub data_dir: Option<String>,
    /// The child's working directory; default the test's.
    pub cwd: Option<PathBuf>,
}

/// Write `dir/ballast.toml` as every test instance gets it: the API on
/// 127.0.0.1 port 0, one loopback network on `cidr`, `options.data_dir`
/// (default the absolute `dir/data`) and `options.extra_toml` at the end.
pub fn write_config(dir: &Path, cidr: &str, options: &Options) -> PathBuf {
    let config = dir.join("ballast.toml");
    let data = options
        .data_dir
        .clone()
        .unwrap_or_else(|| dir.join("data").display().to_string());
    let toml = format!(
        "data_dir = {data:?}\n\n[api]\naddress = \"127.0.0.1\"\nport = 0\n\n\
         [[networks]]\nname = \"test\"\nmode = \"loopback\"\ncidr = {cidr:?}\n{extra}\n",
        extra = options.extra_toml,
    );
    std::fs::write(&config, toml).expect("write config");
    config
}

/// `ballast` (the binary cargo built) with a clean systemd environment and
/// no `RUST_LOG` or `BALLAST_*` of the caller's.
pub fn ballast_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ballast"));
    cmd.env_remove("NOTIFY_SOCKET")
        .env_remove("WATCHDOG_USEC")
        .env_remove("WATCHDOG_PID")
        .env_remove("RUST_LOG");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("BALLAST_") {
            cmd.env_remove(name);
        }
    }
    cmd
}

/// Run `ballast serve --config CONFIG` with `env` where it must fail to
/// start: its exit status and stderr. Panics (after killing it) if it still
/// runs after 20 s.
pub fn serve_expecting_failure(
    config: &Path,
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    let mut child = ballast_command()
        .args(["serve", "--config"])
        .arg(config)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ballast serve");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill(); // we panic either way
            let _ = child.wait();
            panic!("ballast serve kept running; it should have refused to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr piped")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    (status, stderr)
}

/// Run `ballast ARGS...` to completion (see [`ballast_command`]).
pub fn ballast_cli(args: &[&std::ffi::OsStr]) -> std::process::Output {
    ballast_command().args(args).output().expect("run ballast")
}

impl Ballast {
    /// Start on a fresh temp dir with the default options.
    pub fn start() -> Ballast {
        let tmp = tempfile::tempdir().expect("temp dir");
        let dir = tmp.path().to_path_buf();
        let mut b = Ballast::start_in(&dir, &fresh_cidr(), Options::default());
        b._tmp = Some(tmp);
        b
    }

    /// Start on `dir` (reused across restarts) with VIPs from `cidr`; returns
    /// once `/readyz` answers 200.
    pub fn start_in(dir: &Path, cidr: &str, options: Options) -> Ballast {
        let b = Ballast::spawn_unready(dir, cidr, options);
        b.wait_ready();
        b
    }

    /// Base URL of the API, e.g. `http://127.0.0.1:1234`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.api, path)
    }

    fn wait_ready(&self) {
        wait_until(Duration::from_secs(30), "ballast ready", || {
            http("GET", &self.url("/readyz"), None).0 == 200
        });
    }

    /// The id of the instance's one network.
    pub fn network_id(&self) -> String {
        let (_, nets) = self.get("/v1/networks");
        nets[0]["id"].as_str().unwrap().to_string()
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        http("GET", &self.url(path), None)
    }
    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        http("POST", &self.url(path), Some(body.to_string()))
    }
    pub fn put(&self, path: &str, body: Value) -> (u16, Value) {
        http("PUT", &self.url(path), Some(body.to_string()))
    }
    pub fn delete(&self, path: &str) -> (u16, Value) {
        http("DELETE", &self.url(path), None)
    }

    /// Create a load balancer on the instance's network and wait for ACTIVE.
    pub fn create_lb(&self) -> Value {
        let (s, lb) = self.post(
            "/v1/loadbalancers",
            json!({"vip": {"network_id": self.network_id()}}),
        );
        assert_eq!(s, 202, "{lb}");
        let id = lb["id"].as_str().unwrap().to_string();
        self.wait_lb_active(&id)
    }

    /// Wait until the load balancer is ACTIVE; returns it.
    pub fn wait_lb_active(&self, id: &str) -> Value {
        let mut last = Value::Null;
        wait_until(Duration::from_secs(10), "load balancer ACTIVE", || {
            last = self.get(&format!("/v1/loadbalancers/{id}")).1;
            last["provisioning_status"] == "ACTIVE"
        });
        last
    }

    /// Stop with SIGKILL (a crash).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // already dead is fine
            let _ = c.wait();
        }
    }

    /// Stop with SIGTERM and wait; returns the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(c.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = c.try_wait().expect("wait child") {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                panic!("ballast did not exit within 20 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Ballast {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One blocking HTTP/1.1 request (Connection: close); status and JSON body
/// (Null when empty, a string when not JSON).
pub fn http(method: &str, url: &str, body: Option<String>) -> (u16, Value) {
    let (status, text) = http_raw(method, url, body.as_deref().map(str::as_bytes), &[]);
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, value)
}

/// One raw blocking HTTP/1.1 request with extra headers; status and body text.
pub fn http_raw(
    method: &str,
    url: &str,
    body: Option<&[u8]>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        req.push_str("Content-Type: application/json\r\n");
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).expect("write");
    let _ = stream.write_all(body); // the server may answer 413 and close early
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf); // a reset after a full answer is fine
    let text = String::from_utf8_lossy(&buf).to_string();
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    let body = if text
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Assert a JSON fault body with the status's faultcode and a faultstring
/// containing `needle`.
pub fn assert_fault(status: u16, body: &Value, want_status: u16, needle: &str) {
    assert_eq!(status, want_status, "status for {body}");
    let code = if want_status >= 500 {
        "Server"
    } else {
        "Client"
    };
    assert_eq!(body["faultcode"], code, "{body}");
    assert!(body["debuginfo"].is_null(), "{body}");
    let msg = body["faultstring"]
        .as_str()
        .unwrap_or_else(|| panic!("no faultstring in {body}"));
    assert!(
        msg.contains(needle),
        "faultstring {msg:?} should contain {needle:?}"
    );
}

impl Ballast {
    /// Start on `dir` with VIPs from `cidr` like [`Ballast::start_in`], but
    /// return as soon as the API listens, without waiting for `/readyz`, so a
    /// test can watch the start-up. The child gets a clean systemd
    /// environment (`NOTIFY_SOCKET`, `WATCHDOG_USEC`, `WATCHDOG_PID` removed)
    /// before `options.env` is applied.
    pub fn spawn_unready(dir: &Path, cidr: &str, options: Options) -> Ballast {
        let config = write_config(dir, cidr, &options);
        let binary = options
            .binary
            .clone()
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ballast")));
        let mut cmd = match options.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        cmd.arg("serve")
            .arg("--config")
            .arg(&config)
            .env("RUST_LOG", "info,rocket=warn")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(cwd) = &options.cwd {
            cmd.current_dir(cwd);
        }
        for (k, v) in &options.env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn ballast");
        let stderr = child.stderr.take().expect("stderr piped");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(addr) = logged_field(&line, "API listening", "addr") {
                        let _ = tx.send(addr); // receiver may be gone: fine
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill(); // may have exited already
                let _ = child.wait();
                panic!("ballast did not start: {:?}", log.lock().unwrap());
            }
        };
        Ballast {
            child: Some(child),
            api: addr.parse().expect("listening address"),
            dir: dir.to_path_buf(),
            cidr: cidr.to_string(),
            _tmp: None,
            log,
        }
    }

    /// The value of `field` on the first log line saying `message`, waiting
    /// for it up to 10 s.
    pub fn logged(&self, message: &str, field: &str) -> String {
        let mut found = None;
        wait_until(Duration::from_secs(10), message, || {
            let lines = self.log.lock().unwrap();
            found = lines.iter().find_map(|l| logged_field(l, message, field));
            found.is_some()
        });
        found.expect("waited for it")
    }

    /// The path of the config file the instance was started with.
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("ballast.toml")
    }
}

/// The value of `field` when `line` is a log line saying `message`, in the
/// text format (`... message field=value ...`) or the JSON one
/// (`{"fields": {"message": ..., field: ...}}`).
pub fn logged_field(line: &str, message: &str, field: &str) -> Option<String> {
    if let Some(rest) = line.split(&format!("{message} {field}=")).nth(1) {
        return rest.split_whitespace().next().map(str::to_string);
    }
    let value: Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    if fields.get("message")?.as_str()? != message {
        return None;
    }
    Some(fields.get(field)?.as_str()?.to_string())
}

// ---- Helpers added for the crash, restart and interface-mode tests ----

/// Like [`http`], but a refused connection, a reset or a missing status line
/// is an `Err` instead of a panic: for requests that may race a crash.
pub fn try_http(method: &str, url: &str, body: Option<String>) -> Result<(u16, Value), String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").ok_or("not an http url")?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let addr: SocketAddr = host.parse().map_err(|e| format!("{host}: {e}"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let body = body.unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        req.push_str("Content-Type: application/json\r\n");
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    stream
        .read_to_end(&mut buf)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("incomplete answer {text:?}"))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no HTTP status in {text:?}"))?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or(Value::String(body))
    };
    Ok((status, value))
}

/// Every object of the instance that is PENDING_* (load balancers and their
/// listeners), as `kind id status` lines; empty when everything settled.
pub fn pending_objects(b: &Ballast) -> Vec<String> {
    let mut out = Vec::new();
    let (s, lbs) = b.get("/v1/loadbalancers");
    assert_eq!(s, 200, "{lbs}");
    for lb in lbs.as_array().expect("list of load balancers") {
        let id = lb["id"].as_str().expect("load balancer id");
        let status = lb["provisioning_status"].as_str().unwrap_or("");
        if status.starts_with("PENDING_") {
            out.push(format!("load balancer {id} {status}"));
        }
        if status == "DELETED" {
            continue;
        }
        let (s, listeners) = b.get(&format!("/v1/loadbalancers/{id}/listeners"));
        assert_eq!(s, 200, "{listeners}");
        for l in listeners.as_array().expect("list of listeners") {
            let status = l["provisioning_status"].as_str().unwrap_or("");
            if status.starts_with("PENDING_") {
                out.push(format!("listener {} {status}", l["id"]));
            }
        }
    }
    out
}

/// Send `request` (a whole HTTP/1.1 request, head and body) to `addr` as
/// written and read until the server closes: status, the response head
/// lowercased, and the body parsed as JSON (Null when empty, a string when
/// not JSON). For requests the typed helpers cannot write (other media
/// types, foreign `Host` headers, CORS preflights).
pub fn raw_exchange(addr: SocketAddr, request: &str) -> (u16, String, Value) {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    exchange_over(&mut stream, request)
}

/// [`raw_exchange`] over a stream already open (a TLS session, say): send
/// `request` as written, read until the server closes, and parse the answer.
pub fn exchange_over(
    stream: &mut (impl std::io::Read + std::io::Write),
    request: &str,
) -> (u16, String, Value) {
    stream.write_all(request.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let _ = stream.read_to_end(&mut buf); // a reset after a full answer is fine
    let text = String::from_utf8_lossy(&buf).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    let value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&body).unwrap_or(Value::String(body))
    };
    (status, head.to_ascii_lowercase(), value)
}
