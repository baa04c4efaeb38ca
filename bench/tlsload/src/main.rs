//! A TLS load client for `bench/full.sh`: full TLS 1.3 handshakes per second.
//!
//! wrk (and h2load) keep the OpenSSL session of a closed connection and
//! resume it on the next one, so their "new connection" rate over TLS is a
//! rate of resumed handshakes: no certificate, no signature. This client
//! never resumes. Each of CONNS connections in turn connects, completes a
//! full handshake (checking the server's handshake signature, not its
//! certificate chain, as wrk does not either), sends one request with
//! `Connection: close`, reads the response to EOF and closes; for SECONDS.
//! One thread, as `wrk -t1`; aws-lc-rs, the fastest crypto at hand, so the
//! client takes as little of the machine's CPU from the proxies as it can.
//!
//!   tlsload CONNS SECONDS HOST:PORT PATH
//!
//! Prints wrk's figures as bench/lib.sh reads them: `req/s p99_ms MiB/s
//! requests` (p99 of connect + handshake + request + response).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, conns, seconds, address, path] = args.as_slice() else {
        eprintln!("usage: tlsload CONNS SECONDS HOST:PORT PATH");
        std::process::exit(2);
    };
    let conns: usize = conns.parse().expect("CONNS is a number");
    let duration = Duration::from_secs_f64(seconds.parse().expect("SECONDS is a number"));
    let address: SocketAddr = address
        .parse()
        .expect("HOST:PORT is an IP address and port");
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: bench.example\r\nConnection: close\r\n\r\n");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let connector = connector();
    let start = Instant::now();
    let deadline = start + duration;
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..conns)
            .map(|_| {
                let connector = connector.clone();
                let request = request.clone();
                tokio::spawn(client(connector, address, request, deadline))
            })
            .collect();
        let mut all = Outcome::default();
        for task in tasks {
            all.merge(task.await.expect("a client task"));
        }
        all
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut latencies = results.latencies_us;
    latencies.sort_unstable();
    let n = latencies.len();
    let p99_ms = if n == 0 {
        0.0
    } else {
        latencies[(n * 99 / 100).min(n - 1)] as f64 / 1000.0
    };
    if results.errors > 0 {
        eprintln!(
            "tlsload: {} connections failed ({})",
            results.errors, results.last_error
        );
    }
    println!(
        "{:.2} {:.3} {:.2} {}",
        n as f64 / elapsed,
        p99_ms,
        results.bytes as f64 / elapsed / (1024.0 * 1024.0),
        n
    );
}

#[derive(Default)]
struct Outcome {
    latencies_us: Vec<u32>,
    bytes: u64,
    errors: u64,
    last_error: String,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies_us.extend(other.latencies_us);
        self.bytes += other.bytes;
        self.errors += other.errors;
        if !other.last_error.is_empty() {
            self.last_error = other.last_error;
        }
    }
}

/// One client: new connections back to back until the deadline.
async fn client(
    connector: TlsConnector,
    address: SocketAddr,
    request: String,
    deadline: Instant,
) -> Outcome {
    let mut outcome = Outcome::default();
    let mut response = Vec::with_capacity(4096);
    while Instant::now() < deadline {
        let began = Instant::now();
        response.clear();
        match once(&connector, address, &request, &mut response).await {
            Ok(()) => {
                let us = began.elapsed().as_micros();
                outcome
                    .latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
                outcome.bytes += response.len() as u64;
            }
            Err(error) => {
                outcome.errors += 1;
                outcome.last_error = error.to_string();
            }
        }
    }
    outcome
}

async fn once(
    connector: &TlsConnector,
    address: SocketAddr,
    request: &str,
    response: &mut Vec<u8>,
) -> std::io::Result<()> {
    let tcp = TcpStream::connect(address).await?;
    tcp.set_nodelay(true)?;
    let name = ServerName::try_from("bench.example").expect("a valid name");
    let mut tls = connector.connect(name, tcp).await?;
    tls.write_all(request.as_bytes()).await?;
    tls.read_to_end(response).await?;
    if !response.starts_with(b"HTTP/1.1 200") {
        return Err(std::io::Error::other("not a 200 response"));
    }
    Ok(())
}

/// TLS 1.3 only, no session resumption, any certificate (its handshake
/// signature still checked).
fn connector() -> TlsConnector {
    // X25519 only, as wrk's OpenSSL 3.0 offers: no post-quantum hybrid, so
    // both proxies do the same key exchange in one round trip.
    let provider = Arc::new(CryptoProvider {
        kx_groups: vec![rustls::crypto::aws_lc_rs::kx_group::X25519],
        ..rustls::crypto::aws_lc_rs::default_provider()
    });
    let algorithms = provider.signature_verification_algorithms;
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("aws-lc-rs does TLS 1.3")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(algorithms)))
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}
