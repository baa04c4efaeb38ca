//! Wires every part and owns shutdown: the store, network driver, data plane,
//! controller, background tasks and the Rocket API server, all in one tokio
//! runtime.

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
use crate::config::{Config, NetworkDriverKind};
use crate::controller::Controller;
use crate::dataplane::{DataPlane, DataPlaneConfig, MemberStates};
use crate::health::{HealthChecker, MemberStatusChange};
use crate::metrics::Metrics;
use crate::network::local::LocalDriver;
use crate::network::noop::NoopDriver;
use crate::network::{Network, NetworkDriver};
use crate::store::{self, Store};
use crate::systemd;

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
pub fn rocket_figment(config: &Config) -> Figment {
    Figment::from(rocket::Config::default())
        .merge(("address", config.api.address))
        .merge(("port", config.api.port))
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
    let store = Store::open(&config.data_dir)?;
    info!(path = %store.path().display(), "store open");
    let networks: Vec<Network> = config.networks.iter().map(Network::from).collect();
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
    let ready = Arc::new(AtomicBool::new(false));
    let state = ApiState {
        store: store.clone(),
        network,
        dataplane: Arc::clone(&dataplane),
        kick,
        ready: Arc::clone(&ready),
        metrics,
        default_project_id: config.api.default_project_id.clone(),
    };

    let rocket = api::build(rocket_figment(&config), state)
        .mount("/", crate::ui::routes())
        .attach(AdHoc::on_liftoff("announce", |rocket| {
            Box::pin(async move {
                let config = rocket.config();
                let addr = SocketAddr::new(config.address, config.port);
                info!(%addr, "API listening");
            })
        }))
        .ignite()
        .await?;
    let rocket_shutdown = rocket.shutdown();

    let mut tasks = JoinSet::new();
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
        let store = store.clone();
        let dataplane = Arc::clone(&dataplane);
        let config = config.clone();
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
            background.spawn(status_loop(
                Arc::clone(&controller),
                store.clone(),
                status_changes,
                shutdown.clone(),
            ));
            background.spawn(persist_stats_loop(
                store.clone(),
                Arc::clone(&dataplane),
                Duration::from_secs(config.housekeeping.stats_persist_interval_secs),
                shutdown.clone(),
            ));
            background.spawn(housekeeping_loop(
                store,
                config.housekeeping.purge_deleted_after_secs,
                shutdown.clone(),
            ));
            while background.join_next().await.is_some() {}
        });
    }

    let launched = rocket.launch().await;
    shutdown.cancel();
    info!("stopping: draining the data plane");
    dataplane.shutdown().await;
    while tasks.join_next().await.is_some() {}
    // The last word on shutdown: write everything once more.
    persist_stats(&store, &dataplane, &mut Saved::new()).await;
    info!("stopped");
    launched?;
    Ok(())
}

/// Write member status changes from the health checker: batch what arrives
/// together, then recompute the roll-up once per affected load balancer
/// (only changed statuses are written).
async fn status_loop(
    controller: Arc<Controller>,
    store: Store,
    mut changes: tokio::sync::mpsc::UnboundedReceiver<MemberStatusChange>,
    shutdown: CancellationToken,
) {
    // Being at connection_limit is not an event anyone sends: look every
    // couple of seconds at the load balancers that have a limited listener.
    let mut limits = tokio::time::interval(Duration::from_secs(2));
    limits.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut affected = std::collections::HashSet::new();
        tokio::select! {
            change = changes.recv() => match change {
                Some(c) => {
                    affected.insert(c.load_balancer_id);
                }
                None => return,
            },
            _ = limits.tick() => {
                match store.run(|c| store::listeners::limited_load_balancers(c)).await {
                    Ok(ids) => affected.extend(ids),
                    Err(e) => warn!(error = %e, "cannot list limited listeners"),
                }
            }
            _ = shutdown.cancelled() => return,
        }
        while let Ok(more) = changes.try_recv() {
            affected.insert(more.load_balancer_id);
        }
        for lb in affected {
            if let Err(e) = controller.refresh_status(lb).await {
                warn!(lb_id = %lb, error = %e, "cannot write operating statuses");
            }
        }
    }
}

/// Write the data plane's counters to the store.
/// Listener totals as last written, so unchanged counters cost no write.
type Saved = std::collections::HashMap<crate::model::ListenerId, crate::model::ListenerStats>;

/// Write the data plane's counters that moved since `saved` to the store.
async fn persist_stats(store: &Store, dataplane: &DataPlane, saved: &mut Saved) {
    let moved: Vec<_> = dataplane
        .all_listener_stats()
        .into_iter()
        .filter(|(id, s)| {
            // A listener not written yet counts as zeros: a new, idle one
            // costs no write either.
            let old = saved.get(id).copied().unwrap_or_default();
            (old.bytes_in, old.bytes_out, old.total_connections)
                != (s.bytes_in, s.bytes_out, s.total_connections)
        })
        .collect();
    if moved.is_empty() {
        return;
    }
    let to_write = moved.clone();
    let result = store
        .write(move |tx| {
            for (listener, s) in &to_write {
                store::stats::save(tx, *listener, s)?;
            }
            Ok(())
        })
        .await;
    match result {
        Ok(()) => saved.extend(moved),
        Err(e) => warn!(error = %e, "cannot persist listener stats"),
    }
}

async fn persist_stats_loop(
    store: Store,
    dataplane: Arc<DataPlane>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut saved = Saved::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => persist_stats(&store, &dataplane, &mut saved).await,
            _ = shutdown.cancelled() => return,
        }
    }
}

async fn housekeeping_loop(store: Store, purge_after_secs: u64, shutdown: CancellationToken) {
    // Look often enough that nothing outlives its age by much more than a
    // quarter of it, and at most once a minute.
    let every = Duration::from_secs((purge_after_secs / 4).clamp(1, 60));
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let before = store::now() - purge_after_secs as i64;
        let result = store
            .write(move |tx| {
                let lbs = store::load_balancers::purge_deleted_before(tx, before)?;
                let jobs = store::jobs::purge_closed_before(tx, before)?;
                Ok((lbs, jobs))
            })
            .await;
        match result {
            Ok((0, 0)) => {}
            Ok((lbs, jobs)) => info!(load_balancers = lbs, jobs, "housekeeping purged"),
            Err(e) => warn!(error = %e, "housekeeping failed"),
        }
    }
}
