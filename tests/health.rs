//! Health monitoring against real members on 127.0.0.1: each probe type
//! against a live and a dead member, and the checker taking members out of
//! rotation and back as they stop and start.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ballast::dataplane::MemberStates;
use ballast::health::{
    HealthChecker, MemberStatusChange, MonitorSettings, PoolMonitorSpec, ProbeError, Prober,
};
use ballast::model::{
    HealthMonitorType, HttpMethod, LoadBalancerId, MemberId, OperatingStatus, PoolId,
};
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------- members

/// A member server the test owns: HTTP(S) answering 200 on `/` and 404
/// elsewhere, or a bare TCP acceptor; it records requests and Host headers.
struct Member {
    address: SocketAddr,
    stop: CancellationToken,
    requests: Arc<AtomicUsize>,
    hosts: Arc<Mutex<Vec<String>>>,
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Tcp,
    Http,
    Https,
    /// Accepts TCP connections and never answers.
    Silent,
}

impl Member {
    async fn start(kind: Kind) -> Member {
        Self::start_on("127.0.0.1:0".parse().unwrap(), kind).await
    }

    /// Start on `address`; retries a taken port for up to 5 s (a restart).
    async fn start_on(address: SocketAddr, kind: Kind) -> Member {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(address).await {
                Ok(listener) => break listener,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("rebinding {address}: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("cannot bind {address}: {e}"),
            }
        };
        let address = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let requests = Arc::new(AtomicUsize::new(0));
        let hosts = Arc::new(Mutex::new(Vec::new()));
        let tls = (kind == Kind::Https).then(tls_acceptor);
        tokio::spawn({
            let (stop, requests, hosts) = (stop.clone(), requests.clone(), hosts.clone());
            async move {
                let mut held = Vec::new();
                loop {
                    let (stream, _) = tokio::select! {
                        () = stop.cancelled() => return,
                        accepted = listener.accept() => match accepted {
                            Ok(accepted) => accepted,
                            Err(_) => continue,
                        },
                    };
                    match kind {
                        Kind::Tcp => {
                            requests.fetch_add(1, Ordering::SeqCst);
                        }
                        Kind::Silent => held.push(stream),
                        Kind::Http => {
                            tokio::spawn(serve_http(stream, requests.clone(), hosts.clone()));
                        }
                        Kind::Https => {
                            let tls = tls.clone().unwrap();
                            let (requests, hosts) = (requests.clone(), hosts.clone());
                            tokio::spawn(async move {
                                if let Ok(stream) = tls.accept(stream).await {
                                    serve_http(stream, requests, hosts).await;
                                }
                            });
                        }
                    }
                }
            }
        });
        Member {
            address,
            stop,
            requests,
            hosts,
        }
    }

    /// Close the listening socket: new connections are refused.
    fn stop(&self) {
        self.stop.cancel();
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn serve_http<S>(stream: S, requests: Arc<AtomicUsize>, hosts: Arc<Mutex<Vec<String>>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
        requests.fetch_add(1, Ordering::SeqCst);
        if let Some(host) = request.headers().get(hyper::header::HOST) {
            hosts
                .lock()
                .unwrap()
                .push(host.to_str().unwrap_or("").to_owned());
        }
        let status = if request.uri().path() == "/" {
            StatusCode::OK
        } else {
            StatusCode::NOT_FOUND
        };
        async move {
            Ok::<_, std::convert::Infallible>(
                Response::builder()
                    .status(status)
                    .body(Full::new(Bytes::from_static(b"member\n")))
                    .unwrap(),
            )
        }
    });
    // Errors here are the probe hanging up early; nothing to check.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

fn tls_acceptor() -> TlsAcceptor {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.signing_key.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// An address nothing listens on: a port bound, then closed.
fn dead_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

// ---------------------------------------------------------------- settings

fn monitor(kind: HealthMonitorType) -> MonitorSettings {
    MonitorSettings {
        kind,
        delay_secs: 1,
        timeout_secs: 1,
        fall_threshold: 2,
        rise_threshold: 1,
        http_method: HttpMethod::Get,
        url_path: "/".into(),
        expected_codes: "200".into(),
    }
}

// ---------------------------------------------------------------- probes

#[tokio::test]
async fn tcp_probe_passes_a_live_member_and_fails_a_dead_one() {
    let prober = Prober::new();
    let member = Member::start(Kind::Tcp).await;
    let settings = monitor(HealthMonitorType::Tcp);
    prober.probe(&settings, member.address).await.unwrap();
    let err = prober.probe(&settings, dead_address()).await.unwrap_err();
    assert!(matches!(err, ProbeError::Connect(_)), "{err}");
    assert_eq!(err.down_status(), OperatingStatus::Offline);
}

#[tokio::test]
async fn http_probe_sends_method_path_and_host_and_judges_the_status() {
    let prober = Prober::new();
    let member = Member::start(Kind::Http).await;
    let mut settings = monitor(HealthMonitorType::Http);
    prober.probe(&settings, member.address).await.unwrap();
    assert_eq!(
        member.hosts.lock().unwrap().as_slice(),
        [member.address.to_string()]
    );

    settings.http_method = HttpMethod::Head;
    prober.probe(&settings, member.address).await.unwrap();

    settings.url_path = "/missing".into();
    let err = prober.probe(&settings, member.address).await.unwrap_err();
    assert!(
        matches!(err, ProbeError::UnexpectedStatus { status: 404, .. }),
        "{err}"
    );
    settings.expected_codes = "200, 400-404".into();
    prober.probe(&settings, member.address).await.unwrap();
    assert_eq!(member.requests.load(Ordering::SeqCst), 4);

    let err = prober.probe(&settings, dead_address()).await.unwrap_err();
    assert!(matches!(err, ProbeError::Connect(_)), "{err}");
}

#[tokio::test]
async fn https_probe_accepts_a_self_signed_member_and_fails_a_dead_one() {
    let prober = Prober::new();
    let member = Member::start(Kind::Https).await;
    let settings = monitor(HealthMonitorType::Https);
    prober.probe(&settings, member.address).await.unwrap();
    assert_eq!(member.requests.load(Ordering::SeqCst), 1);

    let err = prober.probe(&settings, dead_address()).await.unwrap_err();
    assert!(matches!(err, ProbeError::Connect(_)), "{err}");

    // Plain HTTP against the TLS member is no answer at all.
    let plain = monitor(HealthMonitorType::Http);
    assert!(prober.probe(&plain, member.address).await.is_err());
    // And HTTPS against a plain member fails its handshake.
    let http_member = Member::start(Kind::Http).await;
    let err = prober
        .probe(&settings, http_member.address)
        .await
        .unwrap_err();
    assert!(matches!(err, ProbeError::Tls(_)), "{err}");
}

#[tokio::test]
async fn ping_probe_gets_an_echo_from_loopback() {
    // Root here: surge-ping falls back to a RAW socket (ping_group_range is
    // closed). Without root this would fail with IcmpUnavailable (ERROR).
    let prober = Prober::new();
    let settings = monitor(HealthMonitorType::Ping);
    for target in ["127.0.0.1:0", "127.0.0.2:0"] {
        let result = prober.probe(&settings, target.parse().unwrap()).await;
        match result {
            Ok(()) => {}
            Err(e @ ProbeError::IcmpUnavailable { .. }) => {
                assert_eq!(e.down_status(), OperatingStatus::Error);
                panic!("this test needs root or CAP_NET_RAW: {e}");
            }
            Err(e) => panic!("ping {target}: {e}"),
        }
    }
}

#[tokio::test]
async fn a_probe_never_outlives_its_timeout() {
    let prober = Prober::new();
    let member = Member::start(Kind::Silent).await;
    let settings = monitor(HealthMonitorType::Http);
    let started = Instant::now();
    let err = prober.probe(&settings, member.address).await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, ProbeError::Timeout { timeout_secs: 1 }),
        "{err}"
    );
    assert!(
        took >= Duration::from_millis(990) && took < Duration::from_millis(1500),
        "{took:?}"
    );
}

// ---------------------------------------------------------------- checker

struct Checker {
    checker: HealthChecker,
    events: UnboundedReceiver<MemberStatusChange>,
    members: Arc<MemberStates>,
    pool_id: PoolId,
    load_balancer_id: LoadBalancerId,
    _shutdown: tokio_util::sync::DropGuard,
}

impl Checker {
    fn new() -> Checker {
        let members = Arc::new(MemberStates::new());
        let shutdown = CancellationToken::new();
        let (checker, events) = HealthChecker::new(members.clone(), shutdown.clone());
        Checker {
            checker,
            events,
            members,
            pool_id: PoolId::new(),
            load_balancer_id: LoadBalancerId::new(),
            _shutdown: shutdown.drop_guard(),
        }
    }

    fn apply(&self, monitor: Option<MonitorSettings>, members: &[(MemberId, SocketAddr)]) {
        self.checker.apply_pool(PoolMonitorSpec {
            pool_id: self.pool_id,
            load_balancer_id: self.load_balancer_id,
            monitor,
            members: members.to_vec(),
        });
    }

    /// The next change of `member` to `status`, within `within`.
    async fn wait_for(
        &mut self,
        member: MemberId,
        status: OperatingStatus,
        within: Duration,
    ) -> MemberStatusChange {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let change = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("member not {status} within {within:?}"))
                .expect("events channel open");
            if change.member_id == member && change.status == status {
                assert_eq!(change.pool_id, self.pool_id);
                assert_eq!(change.load_balancer_id, self.load_balancer_id);
                return change;
            }
        }
    }

    fn is_up(&self, member: MemberId) -> bool {
        self.members
            .find(member)
            .expect("member state exists")
            .is_up()
    }
}

#[tokio::test]
async fn a_stopped_member_goes_offline_in_time_and_comes_back_when_restarted() {
    let mut c = Checker::new();
    let member = Member::start(Kind::Http).await;
    let id = MemberId::new();
    let settings = monitor(HealthMonitorType::Http);
    c.apply(Some(settings.clone()), &[(id, member.address)]);
    c.wait_for(id, OperatingStatus::Online, Duration::from_secs(2))
        .await;
    assert!(c.is_up(id));
    assert_eq!(c.checker.member_status(id), Some(OperatingStatus::Online));

    let address = member.address;
    member.stop();
    let stopped = Instant::now();
    // delay × fall + timeout, plus a little for scheduling.
    let bound = Duration::from_secs(u64::from(
        settings.delay_secs * settings.fall_threshold + settings.timeout_secs,
    )) + Duration::from_millis(500);
    let change = c.wait_for(id, OperatingStatus::Offline, bound).await;
    eprintln!("OFFLINE after {:?}: {}", stopped.elapsed(), change.cause);
    assert!(
        change.cause.contains("2 consecutive failures"),
        "{}",
        change.cause
    );
    assert!(!c.is_up(id));
    assert_eq!(c.checker.member_status(id), Some(OperatingStatus::Offline));

    let _restarted = Member::start_on(address, Kind::Http).await;
    c.wait_for(id, OperatingStatus::Online, Duration::from_secs(3))
        .await;
    assert!(c.is_up(id));
}

#[tokio::test]
async fn member_health_tells_the_last_probe_and_the_cause_since_the_change() {
    let mut c = Checker::new();
    let id = MemberId::new();
    let address = dead_address();
    assert_eq!(c.checker.member_health(id), None, "not monitored yet");
    c.apply(Some(monitor(HealthMonitorType::Tcp)), &[(id, address)]);
    let change = c
        .wait_for(id, OperatingStatus::Offline, Duration::from_secs(3))
        .await;
    assert_eq!(change.address, address);
    let health = c.checker.member_health(id).expect("monitored");
    assert_eq!(health.status, Some(OperatingStatus::Offline));
    assert_eq!(health.cause.as_deref(), Some(change.cause.as_str()));
    assert!(
        change.cause.contains("consecutive failure"),
        "{}",
        change.cause
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let since = health.since.expect("changed once");
    assert!((now - 5..=now).contains(&since), "since {since}, now {now}");
    let probe = health.last_probe.expect("probed");
    assert_eq!(probe.kind, HealthMonitorType::Tcp);
    assert_eq!(probe.result, "failure");
    assert!(probe.detail.is_some_and(|d| !d.is_empty()));
    assert!(probe.latency_ms < 2_000, "{}", probe.latency_ms);
    assert!((since..=now).contains(&probe.at));
}

#[tokio::test]
async fn a_new_member_gets_no_traffic_until_its_first_probe_which_runs_at_once() {
    let mut c = Checker::new();
    let member = Member::start(Kind::Tcp).await;
    let id = MemberId::new();
    let mut settings = monitor(HealthMonitorType::Tcp);
    settings.delay_secs = 60;
    c.apply(Some(settings), &[(id, member.address)]);
    // Decided synchronously by apply_pool, before any probe could run.
    assert!(!c.is_up(id));
    assert_eq!(c.checker.member_status(id), Some(OperatingStatus::Offline));

    let change = c
        .wait_for(id, OperatingStatus::Online, Duration::from_secs(2))
        .await;
    assert_eq!(change.cause, "first probe succeeded");
    assert!(c.is_up(id));
}

#[tokio::test]
async fn reapplying_keeps_members_status_and_adds_new_ones_down() {
    let mut c = Checker::new();
    let first = Member::start(Kind::Tcp).await;
    let second = Member::start(Kind::Tcp).await;
    let (a, b) = (MemberId::new(), MemberId::new());
    let mut settings = monitor(HealthMonitorType::Tcp);
    settings.delay_secs = 60;
    c.apply(Some(settings.clone()), &[(a, first.address)]);
    c.wait_for(a, OperatingStatus::Online, Duration::from_secs(2))
        .await;
    let probes = first.requests.load(Ordering::SeqCst);

    c.apply(
        Some(settings.clone()),
        &[(a, first.address), (b, second.address)],
    );
    assert!(c.is_up(a), "an unchanged member stays in rotation");
    assert!(!c.is_up(b), "a new member waits for its first probe");
    c.wait_for(b, OperatingStatus::Online, Duration::from_secs(2))
        .await;
    assert_eq!(
        first.requests.load(Ordering::SeqCst),
        probes,
        "the unchanged member was not probed again"
    );
    assert_eq!(c.checker.member_status(a), Some(OperatingStatus::Online));
}

#[tokio::test]
async fn a_monitor_change_takes_effect_without_restarting_members() {
    let mut c = Checker::new();
    let member = Member::start(Kind::Http).await;
    let id = MemberId::new();
    let mut settings = monitor(HealthMonitorType::Http);
    c.apply(Some(settings.clone()), &[(id, member.address)]);
    c.wait_for(id, OperatingStatus::Online, Duration::from_secs(2))
        .await;

    settings.url_path = "/missing".into();
    settings.fall_threshold = 1;
    c.apply(Some(settings.clone()), &[(id, member.address)]);
    let change = c
        .wait_for(id, OperatingStatus::Offline, Duration::from_secs(3))
        .await;
    assert!(change.cause.contains("HTTP status 404"), "{}", change.cause);
    assert!(!c.is_up(id));

    settings.expected_codes = "404".into();
    c.apply(Some(settings), &[(id, member.address)]);
    c.wait_for(id, OperatingStatus::Online, Duration::from_secs(3))
        .await;
    assert!(c.is_up(id));
}

#[tokio::test]
async fn passive_connect_failures_take_a_member_out_before_its_next_probe() {
    let mut c = Checker::new();
    let member = Member::start(Kind::Tcp).await;
    let id = MemberId::new();
    let mut settings = monitor(HealthMonitorType::Tcp);
    settings.delay_secs = 60;
    settings.fall_threshold = 2;
    c.apply(Some(settings), &[(id, member.address)]);
    c.wait_for(id, OperatingStatus::Online, Duration::from_secs(2))
        .await;

    // What the data plane does when it cannot connect to the member.
    let state = c.members.find(id).unwrap();
    state.report_connect_failure();
    state.report_connect_failure();
    let change = c
        .wait_for(id, OperatingStatus::Offline, Duration::from_secs(1))
        .await;
    assert!(change.cause.contains("data plane"), "{}", change.cause);
    assert!(!state.is_up());
}

#[tokio::test]
async fn removing_the_monitor_puts_members_back_and_stops_probes() {
    let mut c = Checker::new();
    let id = MemberId::new();
    let dead = dead_address();
    c.apply(Some(monitor(HealthMonitorType::Tcp)), &[(id, dead)]);
    c.wait_for(id, OperatingStatus::Offline, Duration::from_secs(2))
        .await;
    assert!(!c.is_up(id));

    c.apply(None, &[(id, dead)]);
    assert!(c.is_up(id), "an unmonitored member is in rotation");
    assert_eq!(c.checker.member_status(id), None);
    // Nothing more is said about it, even though it is still dead.
    let quiet = tokio::time::timeout(Duration::from_millis(2500), c.events.recv()).await;
    assert!(quiet.is_err(), "unexpected change: {quiet:?}");
    assert!(c.is_up(id));
}

#[tokio::test]
async fn a_pool_gaining_a_monitor_keeps_serving_members_online_until_they_fail() {
    let mut c = Checker::new();
    let member = Member::start(Kind::Tcp).await;
    let id = MemberId::new();
    let dead_id = MemberId::new();
    let members = [(id, member.address), (dead_id, dead_address())];
    c.apply(None, &members);
    assert!(c.is_up(id) && c.is_up(dead_id));

    c.apply(Some(monitor(HealthMonitorType::Tcp)), &members);
    assert!(
        c.is_up(id),
        "a serving member is not pulled on monitor creation"
    );
    assert_eq!(c.checker.member_status(id), Some(OperatingStatus::Online));
    c.wait_for(dead_id, OperatingStatus::Offline, Duration::from_secs(4))
        .await;
    assert!(c.is_up(id));
    assert!(!c.is_up(dead_id));
}

#[tokio::test]
async fn remove_pool_stops_probes_and_forgets_member_states() {
    let mut c = Checker::new();
    let member = Member::start(Kind::Tcp).await;
    let id = MemberId::new();
    c.apply(
        Some(monitor(HealthMonitorType::Tcp)),
        &[(id, member.address)],
    );
    c.wait_for(id, OperatingStatus::Online, Duration::from_secs(2))
        .await;

    c.checker.remove_pool(c.pool_id);
    assert!(c.members.find(id).is_none());
    assert_eq!(c.checker.member_status(id), None);
    let probes = member.requests.load(Ordering::SeqCst);
    // Two full delays with no probe reaching the member.
    let quiet = tokio::time::timeout(Duration::from_millis(2500), c.events.recv()).await;
    assert!(quiet.is_err(), "unexpected change: {quiet:?}");
    assert!(
        member.requests.load(Ordering::SeqCst) <= probes + 1,
        "probes went on after remove_pool"
    );
}

#[tokio::test]
async fn ping_monitor_brings_a_loopback_member_online() {
    let mut c = Checker::new();
    let id = MemberId::new();
    c.apply(
        Some(monitor(HealthMonitorType::Ping)),
        &[(id, "127.0.0.1:80".parse().unwrap())],
    );
    let change = c
        .wait_for(id, OperatingStatus::Online, Duration::from_secs(2))
        .await;
    assert_eq!(change.cause, "first probe succeeded");
    assert!(c.is_up(id));
}

#[tokio::test]
async fn https_monitor_follows_a_self_signed_member() {
    let mut c = Checker::new();
    let member = Member::start(Kind::Https).await;
    let id = MemberId::new();
    c.apply(
        Some(monitor(HealthMonitorType::Https)),
        &[(id, member.address)],
    );
    c.wait_for(id, OperatingStatus::Online, Duration::from_secs(2))
        .await;
    member.stop();
    c.wait_for(id, OperatingStatus::Offline, Duration::from_millis(3500))
        .await;
    assert!(!c.is_up(id));
}

#[test]
fn the_checker_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<HealthChecker>();
    shareable::<Prober>();
}
