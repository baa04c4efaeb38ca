//! The Octavia v1 REST API on Rocket: routes per resource, catchers, and the
//! write path that commits a change, its load balancer lock and its job in
//! one transaction before waking the controller.

pub mod auth;
pub mod certificates;
pub mod error;
pub mod front;
pub mod guards;
pub mod health_monitors;
pub mod identity;
pub mod insight;
pub mod listeners;
pub mod load_balancers;
pub mod lookup;
pub mod members;
pub mod networks;
pub mod policy;
pub mod pools;
pub mod request_log;
pub mod system;
pub mod v2;
pub mod validate;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use rocket::{Build, Request, Rocket, catchers};

use crate::controller::Kick;
use crate::dataplane::DataPlane;
use crate::model::{
    JobKind, ListenerId, ListenerStats, LoadBalancerId, ProvisioningStatus, StatsBase,
};
use crate::network::NetworkDriver;
use crate::store::{self, Store, load_balancers::LoadBalancer};
use error::{ApiError, ApiResult};

/// What every handler can reach (Rocket managed state).
#[derive(Clone)]
pub struct ApiState {
    pub store: Store,
    pub network: Arc<dyn NetworkDriver>,
    pub dataplane: Arc<DataPlane>,
    /// Wakes the controller after a write commits.
    pub kick: Kick,
    /// Set once the start-up reconcile is done (`/readyz`).
    pub ready: Arc<AtomicBool>,
    /// Prometheus registry behind `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Members' last probes and the causes of their statuses (read only).
    pub health: Arc<crate::health::HealthChecker>,
    /// The last hour of each listener's traffic (read only).
    pub history: Arc<crate::controller::history::TrafficHistory>,
    /// `[api] default_project_id`: the v2 project of objects made without one.
    pub default_project_id: String,
    /// Who may call the API and which addresses members may take.
    pub policy: Arc<policy::ApiPolicy>,
    /// `[auth]`: the mode, token lifetime and login lockout.
    pub auth: Arc<auth::AuthState>,
}

impl ApiState {
    /// Run `f` in one IMMEDIATE transaction; commit only when it returns Ok,
    /// then wake the controller. A failed request changes nothing. Runs
    /// unscoped (sees every project in `none` mode, none in `local` mode):
    /// handlers take [`auth::Api`], whose `write` carries the caller's scope.
    pub async fn write<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> ApiResult<T> + Send + 'static,
    {
        self.write_in(self.auth.unscoped(), f).await
    }

    /// Run a read on the blocking pool, unscoped (see [`Self::write`]).
    pub async fn read<T, F>(&self, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> ApiResult<T> + Send + 'static,
    {
        self.read_in(self.auth.unscoped(), f).await
    }

    /// [`Self::write`] with the lookups of `f` limited to `scope`.
    pub async fn write_in<T, F>(&self, scope: auth::Scope, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> ApiResult<T> + Send + 'static,
    {
        self.check_ready()?;
        let out = self
            .store
            .write_with(move |tx| auth::scope::with(scope, || f(tx)))
            .await?;
        self.kick.notify_one();
        Ok(out)
    }

    /// [`Self::read`] with the lookups of `f` limited to `scope`.
    pub async fn read_in<T, F>(&self, scope: auth::Scope, f: F) -> ApiResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> ApiResult<T> + Send + 'static,
    {
        self.check_ready()?;
        self.store
            .run(move |conn| Ok(auth::scope::with(scope, || f(conn))))
            .await?
    }

    /// A listener's counters now: the data plane's live ones when it serves
    /// the listener, never below the persisted totals `base` (a disabled or
    /// not yet re-applied listener keeps what it counted).
    pub fn current_stats(&self, id: ListenerId, base: StatsBase) -> ListenerStats {
        let live = self.dataplane.listener_stats(id).unwrap_or_default();
        live.at_least(base)
    }

    /// The `/v1` API answers 503 until the start-up reconcile is done, so
    /// nobody reads a state that is about to change under them.
    fn check_ready(&self) -> ApiResult<()> {
        if self.ready.load(std::sync::atomic::Ordering::Acquire) {
            Ok(())
        } else {
            Err(ApiError::new(
                rocket::http::Status::ServiceUnavailable,
                "Ballast is starting: the start-up reconcile is not finished",
            ))
        }
    }
}

/// Take the load balancer lock for a write: only an ACTIVE or ERROR load
/// balancer accepts one; it moves to `to` (PENDING_UPDATE, or PENDING_DELETE
/// for its own delete) and the job that will release it is queued.
pub fn lock(
    tx: &rusqlite::Connection,
    lb: &LoadBalancer,
    to: ProvisioningStatus,
    kind: JobKind,
    object_id: Option<String>,
) -> ApiResult<()> {
    match lb.provisioning_status {
        ProvisioningStatus::Active | ProvisioningStatus::Error => {}
        other => {
            return Err(ApiError::conflict(format!(
                "load balancer {} is {other}; it accepts changes only when ACTIVE or ERROR",
                lb.id
            )));
        }
    }
    store::load_balancers::set_status(tx, lb.id, to, None)?;
    store::jobs::insert(tx, lb.id, kind, object_id)?;
    Ok(())
}

/// Lock load balancer `lb` for a write to one of its children (it moves to
/// PENDING_UPDATE) and queue the job; see [`lock`].
pub fn lock_update(
    tx: &rusqlite::Connection,
    lb: LoadBalancerId,
    kind: JobKind,
    object_id: Option<String>,
) -> ApiResult<()> {
    let lbo = lookup::load_balancer(tx, lb)?;
    lock(tx, &lbo, ProvisioningStatus::PendingUpdate, kind, object_id)
}

/// Rocket instance with every API route and catcher mounted. `figment` is
/// Rocket's own configuration (address, port, limits, shutdown).
pub fn build(figment: rocket::figment::Figment, state: ApiState) -> Rocket<Build> {
    rocket::custom(figment)
        .manage(Arc::clone(&state.policy))
        .manage(state)
        .attach(request_log::RequestLog)
        .attach(policy::Policy)
        .attach(auth::Gate)
        .mount("/", policy::routes())
        .mount("/v1", load_balancers::routes())
        .mount("/v1", listeners::routes())
        .mount("/v1", pools::routes())
        .mount("/v1", members::routes())
        .mount("/v1", health_monitors::routes())
        .mount("/v1", networks::routes())
        .mount("/v1", certificates::routes())
        .mount("/v1", insight::routes())
        .mount("/v2", v2::routes())
        .mount("/v2.0", v2::routes())
        .mount("/v2.0", v2::neutron::routes())
        .mount("/", v2::versions::routes())
        .mount("/", system::routes())
        .mount("/v3", identity::routes())
        .register(
            "/",
            catchers![
                error::not_found,
                error::payload_too_large,
                error::internal_error,
                error::default
            ],
        )
}

/// Whether some API route matches the request's path with another method
/// (so the answer is 405, not 404). Catch-all routes (`<path..>`, the web UI)
/// do not count.
pub fn method_not_allowed(req: &Request<'_>) -> bool {
    let path: Vec<&str> = req.uri().path().segments().collect();
    req.rocket()
        .routes()
        .any(|route| route.method != req.method() && route_matches_path(route.uri.path(), &path))
}

fn route_matches_path(pattern: &str, path: &[&str]) -> bool {
    let pattern: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    if pattern.iter().any(|s| s.ends_with("..>")) || pattern.len() != path.len() {
        return false;
    }
    pattern
        .iter()
        .zip(path)
        .all(|(p, s)| (p.starts_with('<') && p.ends_with('>')) || p == s)
}
