//! Wires every part and owns shutdown: the store, network driver, data plane,
//! controller, background tasks and the Rocket API server, all in one tokio
//! runtime.
//!
//! Wiring only: what a background task does lives with its part (the
//! controller's loops in `controller::background`); here they are built,
//! connected, spawned and stopped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use crate::api::{self, ApiState};
use crate::config::{AuthMode, Config, NetworkConfig, NetworkDriverKind};
use crate::controller::Controller;
use crate::controller::history::TrafficHistory;
use crate::dataplane::{DataPlane, DataPlaneConfig, MemberStates};
use crate::health::HealthChecker;
use crate::metrics::Metrics;
use crate::model::NetworkNaming;
use crate::network::local::LocalDriver;
use crate::network::noop::NoopDriver;
use crate::network::{Network, NetworkDriver};
use crate::store::Store;
use crate::systemd;

/// The API's address could not be bound: stated with the address, before
/// anything else starts.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {}", describe_bind_error(.cause))]
pub struct ListenError {
    /// The configured `[api] address` and `port`.
    pub addr: SocketAddr,
    /// The cause, already in the message (not a `#[source]`, so `{:#}` does
    /// not repeat it in the OS's words).
    pub cause: std::io::Error,
}

/// The operator's words for why a bind failed (the OS's "Address already in
/// use (os error 98)" names neither the address nor what to do).
fn describe_bind_error(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => "address already in use".into(),
        std::io::ErrorKind::AddrNotAvailable => "no interface of this host has that address".into(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need CAP_NET_BIND_SERVICE)".into()
        }
        _ => error.to_string(),
    }
}

/// Bind the API's public socket.
async fn bind_api(addr: SocketAddr) -> Result<tokio::net::TcpListener, ListenError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|cause| ListenError { addr, cause })
}

/// The web UI's address for the log: the bound one, or loopback when bound
/// to every address (`0.0.0.0` is not something to type into a browser);
/// `https` when the API serves TLS.
fn ui_url(bound: SocketAddr, https: bool) -> String {
    let mut shown = bound;
    if bound.ip().is_unspecified() {
        shown.set_ip(match bound.ip() {
            std::net::IpAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::IpAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{shown}/")
}

/// Build the runtime and run Ballast until SIGTERM/SIGINT.
pub fn serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        // Rocket warns about a "custom runtime" unless its workers carry
        // this name.
        .thread_name("rocket-worker-thread")
        .enable_all()
        .build()?;
    runtime.block_on(run(config))
}

/// Rocket's configuration: its defaults, then ours mapped onto its keys.
/// Rocket listens on a loopback port of its own: the API's address is the
/// front's (see `api::front`), which bounds slow and silent clients.
pub fn rocket_figment(_config: &Config) -> Figment {
    Figment::from(rocket::Config::default())
        .merge(("address", std::net::Ipv4Addr::LOCALHOST))
        .merge(("port", 0))
        .merge(("ident", "Ballast"))
        .merge(("log_level", "off"))
        .merge(("cli_colors", false))
        // Keep-alive API clients must not hold shutdown for long: the whole
        // stop is bounded (SPEC: exit within 10 s when idle).
        .merge(("shutdown.grace", 2))
        .merge(("shutdown.mercy", 2))
}

/// Everything `serve` starts, for `run` and tests.
async fn run(config: Config) -> anyhow::Result<()> {
    crate::limits::raise_nofile_limit();
    // Bound first: a taken port is the likeliest start-up failure, and it
    // must stop Ballast before anything opens, migrates or says ready.
    let api_listener = bind_api(SocketAddr::new(config.api.address, config.api.port)).await?;
    // Validated with the configuration; read again here, where it is used.
    let api_tls = config
        .api
        .tls_server_config()?
        .map(|tls| tokio_rustls::TlsAcceptor::from(Arc::new(tls)));
    let store = Store::open(&config.data_dir)?;
    info!(
        data_dir = %config.data_dir.display(),
        path = %store.path().display(),
        "store open"
    );
    let naming = store
        .run(|conn| crate::store::installation::network_naming(conn))
        .await?;
    let networks: Vec<Network> = config
        .networks
        .iter()
        .map(|c| network_from_config(c, &naming))
        .collect();
    if let Some(clash) = duplicate_network_id(&networks) {
        anyhow::bail!("two networks have id {clash}: give one of them another `id`");
    }
    let network: Arc<dyn NetworkDriver> = match config.network_driver {
        NetworkDriverKind::Local => Arc::new(LocalDriver::new(networks)),
        NetworkDriverKind::Noop => Arc::new(NoopDriver::new(networks)),
    };
    let members = Arc::new(MemberStates::new());
    let dataplane = Arc::new(DataPlane::new(
        DataPlaneConfig {
            drain_timeout: Duration::from_secs(config.dataplane.drain_timeout_secs),
            member_connect_timeout: Duration::from_millis(
                config.dataplane.member_connect_timeout_ms,
            ),
            workers: config.dataplane.workers(),
            client_data_timeout: Duration::from_secs(config.dataplane.client_data_timeout_secs),
            member_data_timeout: Duration::from_secs(config.dataplane.member_data_timeout_secs),
            max_connections: config.dataplane.max_connections(),
            ..DataPlaneConfig::default()
        },
        Arc::clone(&members),
    )?);
    let kick = Arc::new(Notify::new());
    let metrics = Arc::new(Metrics::new());
    let shutdown = CancellationToken::new();
    let (health, status_changes) = HealthChecker::new(Arc::clone(&members), shutdown.clone());
    let health = Arc::new(health);
    {
        let metrics = Arc::clone(&metrics);
        health.observe_probes(Box::new(move |kind, result| {
            metrics.observe_probe(kind, result)
        }));
    }
    let controller = Arc::new(Controller::new(
        store.clone(),
        Arc::clone(&network),
        Arc::clone(&dataplane),
        Arc::clone(&kick),
        Arc::clone(&metrics),
        Arc::clone(&health),
    ));
    let history = Arc::new(TrafficHistory::new(Duration::from_secs(
        config.housekeeping.traffic_sample_interval_secs,
    )));
    let ready = Arc::new(AtomicBool::new(false));
    let policy = Arc::new(api::policy::ApiPolicy::new(&config.api));
    let api_addr = api_listener.local_addr()?;
    policy.bound_to(api_addr);
    let https = api_tls.is_some();
    info!(addr = %api_addr, "API listening");
    info!(url = %ui_url(api_addr, https), "web UI");
    if api::front::exposed_in_clear(api_addr.ip(), https) {
        warn!(
            addr = %api_addr,
            "API listens beyond loopback without TLS: requests cross the network in clear; \
             set [api] tls_cert and tls_key"
        );
    }
    let on_loopback = api_addr.ip().is_loopback();
    match config.auth.mode {
        AuthMode::None if !on_loopback => warn!(
            addr = %api_addr,
            "[auth] mode = \"none\" BEYOND LOOPBACK ([auth] allow_none_beyond_loopback): \
             ANYONE WHO REACHES THIS ADDRESS CAN CHANGE OR DELETE EVERY LOAD BALANCER"
        ),
        AuthMode::None => info!("[auth] mode = \"none\": no tokens (loopback only)"),
        AuthMode::Local => info!("[auth] mode = \"local\": every API request needs a token"),
    }
    let auth = Arc::new(api::auth::AuthState::new(&config.auth, on_loopback));
    let state = ApiState {
        store: store.clone(),
        network,
        dataplane: Arc::clone(&dataplane),
        kick,
        ready: Arc::clone(&ready),
        metrics,
        health: Arc::clone(&health),
        history: Arc::clone(&history),
        default_project_id: config.api.default_project_id.clone(),
        policy: Arc::clone(&policy),
        auth,
    };

    let (backend_tx, backend_rx) = tokio::sync::oneshot::channel();
    let backend_tx = std::sync::Mutex::new(Some(backend_tx));
    let rocket = api::build(rocket_figment(&config), state)
        .mount("/", crate::ui::routes())
        .attach(AdHoc::on_liftoff("front", move |rocket| {
            Box::pin(async move {
                let config = rocket.config();
                let addr = SocketAddr::new(config.address, config.port);
                if let Some(tx) = crate::sync::lock(&backend_tx).take() {
                    // The front is gone only if start-up already failed.
                    let _ = tx.send(addr);
                }
            })
        }))
        .ignite()
        .await?;
    let rocket_shutdown = rocket.shutdown();

    let mut tasks = JoinSet::new();
    {
        let rocket_shutdown = rocket.shutdown();
        let shutdown = shutdown.clone();
        let timeout = Duration::from_secs(config.api.request_timeout_secs);
        let policy = Arc::clone(&policy);
        tasks.spawn(async move {
            // No address: Rocket never lifted off, and run is returning.
            let Ok(backend) = backend_rx.await else {
                return;
            };
            let stop = async move {
                tokio::select! {
                    _ = rocket_shutdown => {}
                    _ = shutdown.cancelled() => {}
                }
            };
            let token = policy.front_token();
            api::front::serve(api_listener, backend, token, timeout, api_tls, stop).await;
        });
    }
    // Rocket catches SIGTERM/SIGINT; everything else stops with it.
    {
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            tokio::select! {
                _ = rocket_shutdown => {}
                _ = shutdown.cancelled() => {}
            }
            if let Err(error) = systemd::notify_stopping() {
                warn!(%error, "sd_notify STOPPING=1 failed");
            }
            shutdown.cancel();
        });
    }
    // Pings come from a runtime task, so a wedged runtime stops them and
    // systemd restarts the service.
    if let Some(watchdog) = systemd::spawn_watchdog(shutdown.clone()) {
        tasks.spawn(async move {
            // A JoinError only means the pinger panicked; nothing to undo.
            let _ = watchdog.await;
        });
    }
    // Start-up reconcile runs while the API already answers /healthz and
    // /readyz (503); /v1 answers 503 until it is done.
    {
        let controller = Arc::clone(&controller);
        let shutdown = shutdown.clone();
        let ready = Arc::clone(&ready);
        let housekeeping = config.housekeeping.clone();
        tasks.spawn(async move {
            // Ready means reconciled: a failed reconcile (e.g. the store
            // busy) is retried, never skipped.
            while let Err(e) = controller.reconcile().await {
                error!(error = %e, "start-up reconcile failed; retrying in 1 s");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.cancelled() => return,
                }
            }
            ready.store(true, Ordering::Release);
            info!("ready");
            if let Err(error) = systemd::notify_ready() {
                warn!(%error, "sd_notify READY=1 failed");
            }
            let mut background = JoinSet::new();
            background.spawn(Arc::clone(&controller).run(shutdown.clone()));
            background
                .spawn(Arc::clone(&controller).watch_statuses(status_changes, shutdown.clone()));
            background.spawn(Arc::clone(&controller).persist_stats_every(
                Duration::from_secs(housekeeping.stats_persist_interval_secs),
                shutdown.clone(),
            ));
            background.spawn(
                Arc::clone(&controller).sample_traffic(Arc::clone(&history), shutdown.clone()),
            );
            background.spawn(
                Arc::clone(&controller)
                    .purge_every(housekeeping.purge_deleted_after_secs, shutdown.clone()),
            );
            while background.join_next().await.is_some() {}
        });
    }

    let launched = rocket.launch().await;
    shutdown.cancel();
    info!("stopping: draining the data plane");
    dataplane.shutdown().await;
    while tasks.join_next().await.is_some() {}
    // The last word on shutdown: write everything once more.
    controller.persist_all_stats().await;
    info!("stopped");
    launched?;
    Ok(())
}

/// The network driver's view of one configured `[[networks]]` entry.
fn network_from_config(c: &NetworkConfig, naming: &NetworkNaming) -> Network {
    Network {
        id: c.network_id(naming),
        name: c.name.clone(),
        cidr: c.cidr,
        mode: c.mode,
        interface: c.interface.clone(),
    }
}

/// An id two networks share: an explicit `id` equal to another network's
/// derived one (validation already refused equal names and equal explicit
/// ids).
fn duplicate_network_id(networks: &[Network]) -> Option<crate::model::NetworkId> {
    let mut seen = std::collections::HashSet::new();
    networks.iter().map(|n| n.id).find(|id| !seen.insert(*id))
}
