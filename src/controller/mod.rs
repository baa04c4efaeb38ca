//! The controller: a durable job queue in SQLite, the flows that apply jobs
//! (network driver, data plane) and the start-up reconcile.
//!
//! One job runs at a time per load balancer (the API's lock guarantees at most
//! one is open), many load balancers in parallel. The API wakes the
//! controller through [`Kick`] after each commit; a slow poll covers the rest.
//!
//! - `desired` — the desired state of one load balancer from its stored tree:
//!   the data plane spec and the health checker's pools.
//! - `status` — the operating-status roll-up of one load balancer.
//! - `background` — the loops beside the job queue: status roll-up on health
//!   changes, counter persistence, traffic sampling, purging old rows.
//! - `history` — the in-memory hour of traffic samples per listener.

mod background;
pub mod desired;
pub mod history;
pub mod status;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

use crate::dataplane::{DataPlane, DataPlaneError};
use crate::health::HealthChecker;
use crate::model::{ListenerId, LoadBalancerId, MemberId, OperatingStatus, ProvisioningStatus};
use crate::network::{NetworkDriver, NetworkError};
use crate::store::jobs::{self, Job};
use crate::store::tree::{self, LoadBalancerTree};
use crate::store::{self, Store, StoreError};
use crate::sync::lock;
use status::StatusInputs;

/// Add a job's outcome to its load balancer's events feed (skipped when the
/// load balancer is gone already).
fn provisioning_event(
    tx: &rusqlite::Connection,
    lb: LoadBalancerId,
    kind: crate::model::JobKind,
    message: &str,
) -> Result<(), StoreError> {
    if !store::load_balancers::exists(tx, lb)? {
        return Ok(());
    }
    store::events::insert(
        tx,
        lb,
        store::events::EventKind::Provisioning,
        kind.as_str(),
        message,
    )
}

/// Wakes the controller (the API kicks it after a write commits).
pub type Kick = Arc<Notify>;

/// Why a flow failed.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("network driver: {0}")]
    Network(#[from] NetworkError),
    #[error("data plane: {0}")]
    DataPlane(#[from] DataPlaneError),
}

/// The controller and what it drives.
pub struct Controller {
    store: Store,
    network: Arc<dyn NetworkDriver>,
    dataplane: Arc<DataPlane>,
    kick: Kick,
    metrics: Arc<crate::metrics::Metrics>,
    health: Arc<HealthChecker>,
    /// Load balancers with a job in flight in this process.
    running: Mutex<HashSet<LoadBalancerId>>,
}

/// Roll-up inputs read from the running data plane and health checker.
struct LiveInputs<'a> {
    dataplane: &'a DataPlane,
    health: &'a HealthChecker,
}

impl StatusInputs for LiveInputs<'_> {
    fn probed(&self, member: MemberId) -> Option<OperatingStatus> {
        self.health.member_status(member)
    }
    fn at_connection_limit(&self, listener: ListenerId) -> bool {
        self.dataplane.at_connection_limit(listener)
    }
}

impl Controller {
    pub fn new(
        store: Store,
        network: Arc<dyn NetworkDriver>,
        dataplane: Arc<DataPlane>,
        kick: Kick,
        metrics: Arc<crate::metrics::Metrics>,
        health: Arc<HealthChecker>,
    ) -> Self {
        Self {
            store,
            network,
            dataplane,
            kick,
            metrics,
            health,
            running: Mutex::new(HashSet::new()),
        }
    }

    /// Start-up: re-plug and re-apply every ACTIVE load balancer, then finish
    /// (or fail to ERROR) every job a previous process left open. Returns
    /// when nothing is PENDING_* any more.
    pub async fn reconcile(self: &Arc<Self>) -> Result<(), ControllerError> {
        let requeued = self.store.run(|c| jobs::requeue_running(c)).await?;
        if requeued > 0 {
            info!(
                requeued,
                "jobs interrupted by the last stop are queued again"
            );
        }
        let lbs = self.store.run(|c| store::load_balancers::list(c)).await?;
        let mut restored = 0;
        for lb in lbs {
            if lb.provisioning_status != ProvisioningStatus::Active {
                continue;
            }
            let id = lb.id;
            if self.store.run(move |c| jobs::has_open(c, id)).await? {
                continue;
            }
            match self.converge(id).await {
                Ok(()) => restored += 1,
                Err(e) => {
                    error!(lb_id = %id, error = %e, "cannot restore load balancer");
                    let msg = e.to_string();
                    self.store
                        .write(move |tx| {
                            store::load_balancers::set_status(
                                tx,
                                id,
                                ProvisioningStatus::Error,
                                Some(&msg),
                            )
                        })
                        .await?;
                }
            }
        }
        let open = self.store.run(|c| jobs::pending(c)).await?;
        let total = open.len();
        let mut set = JoinSet::new();
        for job in open {
            let me = Arc::clone(self);
            set.spawn(async move { me.run_job(job).await });
        }
        while set.join_next().await.is_some() {}
        info!(restored, finished_jobs = total, "start-up reconcile done");
        Ok(())
    }

    /// Claim and run jobs until `shutdown`; waits for jobs in flight.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let mut set = JoinSet::new();
        loop {
            tokio::select! {
                _ = self.kick.notified() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.cancelled() => break,
            }
            while set.try_join_next().is_some() {}
            let pending = match self.store.run(|c| jobs::pending(c)).await {
                Ok(p) => p,
                Err(e) => {
                    error!(error = %e, "cannot read the job queue");
                    continue;
                }
            };
            for job in pending {
                let fresh = lock(&self.running).insert(job.load_balancer_id);
                if !fresh {
                    continue;
                }
                let me = Arc::clone(&self);
                set.spawn(async move {
                    let lb = job.load_balancer_id;
                    me.run_job(job).await;
                    lock(&me.running).remove(&lb);
                    // Another job for this load balancer may be waiting.
                    me.kick.notify_one();
                });
            }
        }
        while set.join_next().await.is_some() {}
    }

    /// Claim one job and run its flow to ACTIVE (or DELETED), or to ERROR.
    async fn run_job(&self, job: Job) {
        let span =
            info_span!("job", job_id = job.id, kind = %job.kind, lb_id = %job.load_balancer_id);
        async {
            let id = job.id;
            match self.store.write(move |tx| jobs::claim(tx, id)).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    error!(error = %e, "cannot claim job");
                    return;
                }
            }
            let started = Instant::now();
            match self.converge(job.load_balancer_id).await {
                Ok(()) => {
                    let (id, lb, kind) = (job.id, job.load_balancer_id, job.kind);
                    let message = format!("done in {} ms", started.elapsed().as_millis());
                    let closed = self
                        .store
                        .write(move |tx| {
                            jobs::finish(tx, id)?;
                            provisioning_event(tx, lb, kind, &message)
                        })
                        .await;
                    if let Err(e) = closed {
                        error!(error = %e, "cannot close job");
                    }
                    self.metrics
                        .observe_job(job.kind.as_str(), "success", started.elapsed());
                    info!(
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "provisioning done"
                    );
                }
                Err(e) => {
                    self.metrics
                        .observe_job(job.kind.as_str(), "error", started.elapsed());
                    warn!(error = %e, "provisioning failed");
                    if let Err(e2) = self.fail(&job, &e.to_string()).await {
                        error!(error = %e2, "cannot record the failure");
                    }
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Record a failed flow: the load balancer and everything pending under
    /// it go to ERROR, the cause is kept with the load balancer and the job.
    async fn fail(&self, job: &Job, cause: &str) -> Result<(), StoreError> {
        let (lb, id, kind, cause) = (job.load_balancer_id, job.id, job.kind, cause.to_string());
        self.store
            .write(move |tx| {
                store::load_balancers::settle_children(tx, lb, ProvisioningStatus::Error, false)?;
                store::load_balancers::set_status(tx, lb, ProvisioningStatus::Error, Some(&cause))?;
                jobs::fail(tx, id, &cause)?;
                provisioning_event(tx, lb, kind, &format!("failed: {cause}"))
            })
            .await
    }

    /// Converge a load balancer to its stored configuration.
    pub async fn converge(&self, id: LoadBalancerId) -> Result<(), ControllerError> {
        let Some(tree) = self.store.run(move |c| tree::load(c, id)).await? else {
            // Purged meanwhile: nothing left to do.
            return Ok(());
        };
        let lb = &tree.load_balancer;
        if lb.provisioning_status == ProvisioningStatus::Deleted {
            return Ok(());
        }
        if lb.provisioning_status == ProvisioningStatus::PendingDelete {
            return self.delete(&tree).await;
        }
        self.network
            .plug_vip(lb.vip.network_id, lb.vip.ip_address)
            .await?;
        // Health first, so a new monitored member is out of rotation before
        // the data plane can send it anything.
        desired::sync_health(&self.health, &tree);
        if lb.enabled {
            self.dataplane.apply(desired::build_spec(&tree)).await?;
        } else {
            self.dataplane.remove(id).await?;
        }
        self.finalize(tree).await?;
        Ok(())
    }

    /// Commit the outcome of an applied tree: drop what was pending deletion,
    /// turn PENDING_* into ACTIVE, roll statuses up.
    async fn finalize(&self, tree: LoadBalancerTree) -> Result<(), StoreError> {
        let id = tree.load_balancer.id;
        let dataplane = Arc::clone(&self.dataplane);
        let health = Arc::clone(&self.health);
        self.store
            .write(move |tx| {
                store::load_balancers::settle_children(tx, id, ProvisioningStatus::Active, true)?;
                store::load_balancers::set_status(tx, id, ProvisioningStatus::Active, None)?;
                let fresh = tree::load(tx, id)?.expect("load balancer exists inside its own job");
                let inputs = LiveInputs {
                    dataplane: &dataplane,
                    health: &health,
                };
                status::write_rollup(tx, &fresh, &inputs)?;
                Ok(())
            })
            .await
    }

    async fn delete(&self, tree: &LoadBalancerTree) -> Result<(), ControllerError> {
        let lb = &tree.load_balancer;
        for pool in tree.pools() {
            self.health.remove_pool(pool.pool.id);
        }
        self.dataplane.remove(lb.id).await?;
        self.network
            .unplug_vip(lb.vip.network_id, lb.vip.ip_address)
            .await?;
        let id = lb.id;
        self.store
            .write(move |tx| {
                store::load_balancers::delete_children(tx, id)?;
                store::ports::release_for(tx, id)?;
                store::load_balancers::mark_deleted(tx, id)
            })
            .await?;
        info!(lb_id = %id, "load balancer deleted");
        Ok(())
    }

    /// Recompute the operating statuses of one load balancer. A read decides
    /// first, so nothing is written (no transaction at all) when nothing
    /// changed; the write re-plans on fresh state inside its transaction.
    pub async fn refresh_status(&self, id: LoadBalancerId) -> Result<usize, StoreError> {
        let (dp, hc) = (Arc::clone(&self.dataplane), Arc::clone(&self.health));
        let stale = self
            .store
            .run(move |conn| {
                Ok(tree::load(conn, id)?.is_some_and(|t| {
                    let live = LiveInputs {
                        dataplane: &dp,
                        health: &hc,
                    };
                    !status::plan(&t, &live).is_empty()
                }))
            })
            .await?;
        if !stale {
            return Ok(0);
        }
        let (dp, hc) = (Arc::clone(&self.dataplane), Arc::clone(&self.health));
        self.store
            .write(move |tx| match tree::load(tx, id)? {
                Some(t) => {
                    let live = LiveInputs {
                        dataplane: &dp,
                        health: &hc,
                    };
                    status::write_rollup(tx, &t, &live)
                }
                None => Ok(0),
            })
            .await
    }
}
