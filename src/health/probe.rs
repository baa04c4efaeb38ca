//! One health probe of one member: PING (ICMP echo), TCP (connect), HTTP and
//! HTTPS (a request whose status must match `expected_codes`).
//!
//! Owns the shared ICMP sockets and the TLS client settings; never touches
//! member state or counters (the checker does). Every probe runs under the
//! monitor's timeout as a whole, so none outlives it.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::header::{CONNECTION, HOST, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OnceCell;
use tokio_rustls::TlsConnector;

use super::MonitorSettings;
use crate::model::{HealthMonitorType, HttpMethod, OperatingStatus, parse_expected_codes};

/// Why a probe failed. Every variant but [`ProbeError::IcmpUnavailable`]
/// means the member did not answer as expected (OFFLINE); that one means the
/// probe could not run at all (ERROR).
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("no answer within {timeout_secs} s")]
    Timeout { timeout_secs: u32 },
    #[error("connect failed: {0}")]
    Connect(#[source] std::io::Error),
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] std::io::Error),
    #[error("HTTP exchange failed: {0}")]
    Http(#[source] hyper::Error),
    #[error("connection closed before a response")]
    NoResponse,
    #[error("HTTP status {status}, expected {expected}")]
    UnexpectedStatus { status: u16, expected: String },
    #[error("cannot build the probe request: {reason}")]
    InvalidRequest { reason: String },
    #[error("ping failed: {reason}")]
    Ping { reason: String },
    #[error("cannot open an ICMP socket: {reason}")]
    IcmpUnavailable { reason: String },
}

impl ProbeError {
    /// The status a member falls to when probes fail this way.
    pub fn down_status(&self) -> OperatingStatus {
        match self {
            Self::IcmpUnavailable { .. } => OperatingStatus::Error,
            _ => OperatingStatus::Offline,
        }
    }
}

/// Sequence numbers of echo requests, process-wide: with RAW sockets every
/// socket sees every echo reply, so two checkers in one process (tests) must
/// never wait for the same (host, identifier, sequence).
static PING_SEQUENCE: AtomicU16 = AtomicU16::new(0);

/// Runs probes; one per health checker, shared by all member tasks.
pub struct Prober {
    icmp_v4: OnceCell<Result<surge_ping::Client, String>>,
    icmp_v6: OnceCell<Result<surge_ping::Client, String>>,
    tls: TlsConnector,
}

impl Default for Prober {
    fn default() -> Self {
        Self::new()
    }
}

impl Prober {
    /// A prober; ICMP sockets are opened on the first PING probe.
    pub fn new() -> Self {
        Self {
            icmp_v4: OnceCell::new(),
            icmp_v6: OnceCell::new(),
            // A probe asks "is it serving?", not "is it who it claims?": the
            // data plane's member connector checks handshake signatures only.
            tls: crate::dataplane::member_tls_connector(),
        }
    }

    /// Probe `address` as `settings` say, within `settings.timeout_secs`.
    pub async fn probe(
        &self,
        settings: &MonitorSettings,
        address: SocketAddr,
    ) -> Result<(), ProbeError> {
        let timeout = Duration::from_secs(u64::from(settings.timeout_secs));
        let probe = async {
            match settings.kind {
                HealthMonitorType::Ping => self.ping(address.ip(), timeout).await,
                HealthMonitorType::Tcp => tcp_connect(address).await,
                HealthMonitorType::Http => http_check(settings, address, None).await,
                HealthMonitorType::Https => http_check(settings, address, Some(&self.tls)).await,
            }
        };
        tokio::time::timeout(timeout, probe)
            .await
            .unwrap_or(Err(ProbeError::Timeout {
                timeout_secs: settings.timeout_secs,
            }))
    }

    async fn ping(&self, ip: IpAddr, timeout: Duration) -> Result<(), ProbeError> {
        let client = self.icmp_client(ip).await?;
        // One identifier for the process; sequences keep requests apart.
        let ident = surge_ping::PingIdentifier(std::process::id() as u16);
        let mut pinger = client.pinger(ip, ident).await;
        pinger.timeout(timeout);
        let seq = surge_ping::PingSequence(PING_SEQUENCE.fetch_add(1, Ordering::Relaxed));
        match pinger.ping(seq, &[0; 16]).await {
            Ok(_) => Ok(()),
            Err(surge_ping::SurgeError::Timeout { .. }) => Err(ProbeError::Timeout {
                timeout_secs: timeout.as_secs() as u32,
            }),
            Err(e) => Err(ProbeError::Ping {
                reason: e.to_string(),
            }),
        }
    }

    /// The shared ICMP client for `ip`'s family, opened once: an unprivileged
    /// DGRAM socket if the kernel allows it (`ping_group_range`), else RAW
    /// (root or CAP_NET_RAW). Failing both is logged once, here, and every
    /// PING probe of that family then fails with ERROR.
    async fn icmp_client(&self, ip: IpAddr) -> Result<&surge_ping::Client, ProbeError> {
        let (cell, kind) = match ip {
            IpAddr::V4(_) => (&self.icmp_v4, surge_ping::ICMP::V4),
            IpAddr::V6(_) => (&self.icmp_v6, surge_ping::ICMP::V6),
        };
        let client = cell
            .get_or_init(|| async move {
                // surge-ping tries the hinted DGRAM type first, then RAW.
                let config = surge_ping::Config::builder()
                    .kind(kind)
                    .sock_type_hint(socket2::Type::DGRAM)
                    .build();
                surge_ping::Client::new(&config).map_err(|e| {
                    let reason = e.to_string().replace('\n', " ");
                    tracing::error!(
                        icmp = ?kind,
                        %reason,
                        "PING health monitors cannot run: no ICMP socket; grant CAP_NET_RAW \
                         or widen net.ipv4.ping_group_range"
                    );
                    reason
                })
            })
            .await;
        client
            .as_ref()
            .map_err(|reason| ProbeError::IcmpUnavailable {
                reason: reason.clone(),
            })
    }
}

async fn tcp_connect(address: SocketAddr) -> Result<(), ProbeError> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(ProbeError::Connect)?;
    // Close with a reset, as HAProxy's checks do: thousands of probes a
    // second would otherwise leave as many sockets in TIME_WAIT.
    // Ignored on failure: the probe already succeeded, this is hygiene only.
    let _ = stream.set_zero_linger();
    Ok(())
}

async fn http_check(
    settings: &MonitorSettings,
    address: SocketAddr,
    tls: Option<&TlsConnector>,
) -> Result<(), ProbeError> {
    let expected = parse_expected_codes(&settings.expected_codes)
        .map_err(|reason| ProbeError::InvalidRequest { reason })?;
    let request = build_request(settings, address)?;
    let stream = TcpStream::connect(address)
        .await
        .map_err(ProbeError::Connect)?;
    // Ignored on failure: Nagle only delays a one-packet request.
    let _ = stream.set_nodelay(true);
    let status = match tls {
        None => send(stream, request).await?,
        Some(connector) => {
            // Members are usually self-signed and addressed by IP: the
            // verifier accepts any certificate, and an IP name sends no SNI.
            let name = ServerName::IpAddress(address.ip().into());
            let stream = connector
                .connect(name, stream)
                .await
                .map_err(ProbeError::Tls)?;
            send(stream, request).await?
        }
    };
    if expected.contains(status) {
        Ok(())
    } else {
        Err(ProbeError::UnexpectedStatus {
            status,
            expected: expected.to_string(),
        })
    }
}

fn build_request(
    settings: &MonitorSettings,
    address: SocketAddr,
) -> Result<Request<Empty<Bytes>>, ProbeError> {
    let invalid = |reason: String| ProbeError::InvalidRequest { reason };
    let uri: Uri = settings
        .url_path
        .parse()
        .map_err(|e| invalid(format!("url_path {:?}: {e}", settings.url_path)))?;
    Request::builder()
        .method(method(settings.http_method))
        .uri(uri)
        .header(HOST, address.to_string())
        .header(CONNECTION, "close")
        .header(USER_AGENT, "ballast-health-check")
        .body(Empty::new())
        .map_err(|e| invalid(e.to_string()))
}

fn method(method: HttpMethod) -> Method {
    match method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Head => Method::HEAD,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Delete => Method::DELETE,
        HttpMethod::Options => Method::OPTIONS,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Connect => Method::CONNECT,
        HttpMethod::Trace => Method::TRACE,
    }
}

/// One HTTP/1.1 request on its own connection; the status code of the answer.
/// The body is not read: the status decides, and the connection is dropped.
async fn send<S>(stream: S, request: Request<Empty<Bytes>>) -> Result<u16, ProbeError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(ProbeError::Http)?;
    // The connection is driven here rather than in a spawned task, so the
    // probe's timeout cancels both halves together.
    tokio::pin!(connection);
    let response = sender.send_request(request);
    tokio::pin!(response);
    let response = tokio::select! {
        biased;
        response = &mut response => response,
        // With `Connection: close` the connection may finish in the same
        // wake-up that delivered the response: the answer is still waiting.
        ended = &mut connection => match (response.await, ended) {
            (Ok(response), _) => Ok(response),
            (Err(_), Err(e)) => Err(e),
            (Err(e), Ok(())) if e.is_canceled() => return Err(ProbeError::NoResponse),
            (Err(e), Ok(())) => Err(e),
        },
    };
    response
        .map(|r| r.status().as_u16())
        .map_err(ProbeError::Http)
}
