//! HTTPS on the API (`[api] tls_cert`/`tls_key`, issue 16), through the real
//! binary with an rcgen certificate: the API and web UI answer over TLS to a
//! client that verifies the certificate; plain HTTP to the TLS port gets a
//! fault, never a hang; a handshake that never completes is closed after the
//! request timeout; the canned-400 replacement works inside TLS; bad files
//! stop start-up naming the key; and a plain listener beyond loopback warns.

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{
    Ballast, Options, assert_fault, exchange_over, fresh_cidr, raw_exchange,
    serve_expecting_failure, wait_until, write_config,
};
use rustls::pki_types::ServerName;
use serde_json::{Value, json};

/// The warning a plain listener beyond loopback logs at start.
const IN_CLEAR: &str = "API listens beyond loopback without TLS: requests cross the network \
                        in clear; set [api] tls_cert and tls_key";

/// A certificate for `localhost` and 127.0.0.1, written as `cert.pem` and
/// `key.pem` into `dir`; the certificate's PEM (the client's only root).
fn write_pair(dir: &Path) -> String {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("rcgen");
    std::fs::write(dir.join("cert.pem"), ck.cert.pem()).expect("write cert");
    std::fs::write(dir.join("key.pem"), ck.signing_key.serialize_pem()).expect("write key");
    ck.cert.pem()
}

/// The environment naming `dir`'s pair as the API's TLS files.
fn tls_env(dir: &Path) -> Vec<(String, String)> {
    vec![
        (
            "BALLAST_API__TLS_CERT".into(),
            dir.join("cert.pem").display().to_string(),
        ),
        (
            "BALLAST_API__TLS_KEY".into(),
            dir.join("key.pem").display().to_string(),
        ),
    ]
}

/// A TLS client trusting only `root_pem`, offering h2 and http/1.1.
fn client_config(root_pem: &str) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(root_pem.as_bytes()).expect("root PEM"))
        .expect("root accepted");
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("ring versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A running instance serving HTTPS, and a client that trusts it.
struct TlsBallast {
    b: Ballast,
    client: Arc<rustls::ClientConfig>,
    _tmp: tempfile::TempDir,
}

impl TlsBallast {
    /// Start with a fresh pair and `env` besides; returns once `/readyz`
    /// answers 200 over HTTPS.
    fn start(env: &[(&str, &str)]) -> TlsBallast {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = write_pair(tmp.path());
        let mut options = Options {
            env: tls_env(tmp.path()),
            ..Options::default()
        };
        options
            .env
            .extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let b = Ballast::spawn_unready(tmp.path(), &fresh_cidr(), options);
        let t = TlsBallast {
            b,
            client: client_config(&root),
            _tmp: tmp,
        };
        wait_until(Duration::from_secs(30), "ready over HTTPS", || {
            t.try_session()
                .map(|mut s| t.exchange_on(&mut s, "GET", "/readyz", None).0 == 200)
                .unwrap_or(false)
        });
        t
    }

    /// A verified TLS session to the API (server name `localhost`).
    fn try_session(
        &self,
    ) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, String> {
        let name = ServerName::try_from("localhost").expect("server name");
        let conn = rustls::ClientConnection::new(Arc::clone(&self.client), name)
            .map_err(|e| e.to_string())?;
        let tcp = TcpStream::connect(self.b.api).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn
                .complete_io(&mut tls.sock)
                .map_err(|e| e.to_string())?;
        }
        Ok(tls)
    }

    fn session(&self) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
        self.try_session().expect("TLS session")
    }

    /// One request (`Connection: close`) on `session`: status, head, body.
    fn exchange_on(
        &self,
        session: &mut rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n",
            self.b.api.port()
        );
        if !body.is_empty() {
            request.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        request.push_str("\r\n");
        request.push_str(&body);
        exchange_over(session, &request)
    }

    /// One request on a new session.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, String, Value) {
        self.exchange_on(&mut self.session(), method, path, body)
    }
}

#[test]
fn https_serves_the_api_and_the_web_ui_to_a_verifying_client() {
    let t = TlsBallast::start(&[]);
    let mut session = t.session();
    assert_eq!(session.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (s, _, body) = t.exchange_on(&mut session, "GET", "/healthz", None);
    assert_eq!(s, 200, "{body}");

    let (s, _, nets) = t.call("GET", "/v1/networks", None);
    assert_eq!(s, 200, "{nets}");
    let network_id = nets[0]["id"].as_str().expect("network id").to_string();
    let (s, _, lb) = t.call(
        "POST",
        "/v1/loadbalancers",
        Some(json!({"name": "over-tls", "vip": {"network_id": network_id}})),
    );
    assert_eq!(s, 202, "{lb}");
    let id = lb["id"].as_str().expect("load balancer id");
    let (s, _, got) = t.call("GET", &format!("/v1/loadbalancers/{id}"), None);
    assert_eq!(s, 200, "{got}");
    assert_eq!(got["name"], "over-tls");

    // Links name the scheme the client used.
    let (s, _, version) = t.call("GET", "/v2", None);
    assert_eq!(s, 200, "{version}");
    let href = version["version"]["links"][0]["href"]
        .as_str()
        .unwrap_or("");
    assert!(href.starts_with("https://localhost:"), "{version}");

    let (s, head, page) = t.call("GET", "/index.html", None);
    assert_eq!(s, 200, "{head}");
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(page.as_str().is_some_and(|p| p.contains("<html")), "{page}");

    let ui = t.b.logged("web UI", "url");
    assert!(ui.starts_with("https://127.0.0.1:"), "{ui}");
    assert!(
        !t.b.log.lock().unwrap().iter().any(|l| l.contains(IN_CLEAR)),
        "a loopback listener must not warn"
    );
}

#[test]
fn an_unparsable_request_head_inside_tls_is_the_json_fault() {
    let t = TlsBallast::start(&[]);
    let request = format!(
        "GET /v1/loadbalancers/`x HTTP/1.1\r\nHost: localhost:{}\r\n\r\n",
        t.b.api.port()
    );
    let (s, head, body) = exchange_over(&mut t.session(), &request);
    assert_fault(s, &body, 400, "could not be parsed");
    assert!(head.contains("content-type: application/json"), "{head}");
}

#[test]
fn plain_http_to_the_tls_port_is_a_fault_and_https_still_works() {
    let t = TlsBallast::start(&[]);
    let before = t.call("GET", "/v1/loadbalancers", None).2;
    let request = format!(
        "POST /v1/loadbalancers HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
         Content-Length: 2\r\n\r\n{{}}",
        t.b.api
    );
    let (s, head, body) = raw_exchange(t.b.api, &request);
    assert_fault(s, &body, 400, "use https://");
    assert!(head.contains("connection: close"), "{head}");
    assert_eq!(t.call("GET", "/v1/loadbalancers", None).2, before);
}

#[test]
fn a_tls_handshake_that_never_completes_is_closed_after_the_request_timeout() {
    let t = TlsBallast::start(&[("BALLAST_API__REQUEST_TIMEOUT_SECS", "1")]);
    // One client sends nothing; the other the head of a ClientHello record
    // that announces 512 bytes and never sends them.
    let silent = TcpStream::connect(t.b.api).expect("connect");
    let mut stalled = TcpStream::connect(t.b.api).expect("connect");
    std::io::Write::write_all(&mut stalled, &[0x16, 0x03, 0x01, 0x02, 0x00]).expect("write");
    let started = Instant::now();
    for mut stream in [silent, stalled] {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 64];
        match stream.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => {
                // A TLS alert is fine; then the connection must end.
                assert_eq!(buf[0], 0x15, "not an alert: {:?}", &buf[..n]);
                assert!(matches!(stream.read(&mut buf), Ok(0) | Err(_)));
            }
            Err(e) => assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "still open after 10 s: {e}"
            ),
        }
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed early: {waited:?}"
    );
    assert!(waited < Duration::from_secs(5), "closed late: {waited:?}");
    assert_eq!(t.call("GET", "/healthz", None).0, 200);
}

/// `ballast serve` with `dir/ballast.toml` (`[api]` gets `api_toml`) and
/// `env`: it must refuse to start; its stderr.
fn refused(dir: &Path, api_toml: &str, env: &[(&str, &str)]) -> String {
    let config = write_config(dir, &fresh_cidr(), &Options::default());
    let text = std::fs::read_to_string(&config).expect("read config");
    let text = text.replacen("[api]\n", &format!("[api]\n{api_toml}"), 1);
    std::fs::write(&config, text).expect("write config");
    let (status, stderr) = serve_expecting_failure(&config, env);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("API listening"), "{stderr}");
    assert!(
        !dir.join("data").exists(),
        "nothing may be created: {stderr}"
    );
    stderr
}

#[test]
fn bad_tls_files_stop_start_up_naming_the_key_and_the_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    write_pair(dir);
    let other = dir.join("other");
    std::fs::create_dir(&other).expect("mkdir");
    write_pair(&other);
    let path = |p: &Path| p.display().to_string();
    let missing: PathBuf = dir.join("missing.pem");

    let err = refused(
        dir,
        &format!(
            "tls_cert = {:?}\ntls_key = {:?}\n",
            path(&missing),
            path(&dir.join("key.pem"))
        ),
        &[],
    );
    assert!(
        err.contains(&format!("`[api] tls_cert`: cannot read {}", path(&missing))),
        "{err}"
    );

    let cert = path(&dir.join("cert.pem"));
    let wrong_key = path(&other.join("key.pem"));
    let err = refused(
        dir,
        "",
        &[
            ("BALLAST_API__TLS_CERT", &cert),
            ("BALLAST_API__TLS_KEY", &wrong_key),
        ],
    );
    assert!(
        err.contains(&format!(
            "BALLAST_API__TLS_KEY: {wrong_key} is not the key of the certificate in {cert}"
        )),
        "{err}"
    );
    assert!(!err.contains("PRIVATE KEY"), "{err}");

    let err = refused(dir, &format!("tls_cert = {cert:?}\n"), &[]);
    assert!(
        err.contains("`[api] tls_cert`: needs `tls_key` too"),
        "{err}"
    );
}

#[test]
fn a_plain_listener_on_every_address_warns_at_start() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let options = Options {
        env: vec![
            ("BALLAST_API__ADDRESS".into(), "0.0.0.0".into()),
            // `none` beyond loopback must be allowed explicitly (issue 16).
            (
                "BALLAST_AUTH__ALLOW_NONE_BEYOND_LOOPBACK".into(),
                "true".into(),
            ),
        ],
        ..Options::default()
    };
    let mut b = Ballast::spawn_unready(tmp.path(), &fresh_cidr(), options);
    let addr: SocketAddr = b.logged(IN_CLEAR, "addr").parse().expect("address");
    assert!(addr.ip().is_unspecified(), "{addr}");
    let ui = b.logged("web UI", "url");
    assert!(ui.starts_with("http://127.0.0.1:"), "{ui}");
    b.terminate();
}
