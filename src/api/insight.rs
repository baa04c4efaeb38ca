//! Ballast's own extension routes beside `/v1`, for the web UI and anyone
//! asking why: traffic history, the events feed and members' health. They
//! are separate paths, never fields inside the Octavia bodies.
//!
//! - `GET /v1/loadbalancers/{lb}/history` — the sum of its listeners'
//!   traffic over the last hour; `.../listeners/{l}/history` — one listener's.
//! - `GET /v1/loadbalancers/{lb}/events` — the newest events, newest first.
//! - `GET /v1/loadbalancers/{lb}/listeners/{l}/pools/{p}/member_health` —
//!   each member's last probe and the cause of its status.
//!
//! Unknown or foreign ids are 404 like everywhere else; nothing here writes.

use rocket::serde::json::Json;
use rocket::{get, routes};
use serde::Serialize;

use super::ApiState;
use super::auth::Api;
use super::error::ApiResult;
use super::guards::path_id;
use super::lookup::{listener, load_balancer, pool, pool_ids};
use crate::controller::history::{Sample, WINDOW};
use crate::health::MemberHealth;
use crate::model::{ListenerId, LoadBalancerId, MemberId};
use crate::store::{self, events::Event};

pub fn routes() -> Vec<rocket::Route> {
    routes![lb_history, listener_history, events, member_health]
}

/// A traffic history: samples oldest first, `interval_secs` apart, at most
/// `window_secs` back.
#[derive(Serialize)]
pub struct History {
    pub interval_secs: u64,
    pub window_secs: u64,
    pub samples: Vec<Sample>,
}

/// A load balancer's events feed, newest first, at most `limit` long.
#[derive(Serialize)]
pub struct Events {
    pub limit: usize,
    pub events: Vec<Event>,
}

/// One member's health; `monitored: false` (and nothing else) when its pool
/// has no enabled monitor or the member is disabled.
#[derive(Serialize)]
pub struct MemberHealthEntry {
    pub member_id: MemberId,
    pub monitored: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub health: Option<MemberHealth>,
}

/// Every member of a pool, in the members list's order.
#[derive(Serialize)]
pub struct PoolHealth {
    pub members: Vec<MemberHealthEntry>,
}

fn history(state: &ApiState, samples: Vec<Sample>) -> Json<History> {
    Json(History {
        interval_secs: state.history.interval().as_secs(),
        window_secs: WINDOW.as_secs(),
        samples,
    })
}

#[get("/loadbalancers/<lb>/history")]
async fn lb_history(state: Api<'_>, lb: &str) -> ApiResult<Json<History>> {
    let lb: LoadBalancerId = path_id("load balancer", lb)?;
    let ids: Vec<ListenerId> = state
        .read(move |conn| {
            load_balancer(conn, lb)?;
            Ok(store::listeners::list(conn, lb)?
                .into_iter()
                .map(|l| l.id)
                .collect())
        })
        .await?;
    Ok(history(&state, state.history.sum(&ids)))
}

#[get("/loadbalancers/<lb>/listeners/<l>/history")]
async fn listener_history(state: Api<'_>, lb: &str, l: &str) -> ApiResult<Json<History>> {
    let lb: LoadBalancerId = path_id("load balancer", lb)?;
    let l: ListenerId = path_id("listener", l)?;
    state
        .read(move |conn| listener(conn, lb, l).map(drop))
        .await?;
    Ok(history(&state, state.history.listener(l)))
}

#[get("/loadbalancers/<lb>/events")]
async fn events(state: Api<'_>, lb: &str) -> ApiResult<Json<Events>> {
    let lb: LoadBalancerId = path_id("load balancer", lb)?;
    state
        .read(move |conn| {
            load_balancer(conn, lb)?;
            Ok(Json(Events {
                limit: store::events::KEEP_PER_LOAD_BALANCER,
                events: store::events::list(conn, lb)?,
            }))
        })
        .await
}

#[get("/loadbalancers/<lb>/listeners/<l>/pools/<p>/member_health")]
async fn member_health(state: Api<'_>, lb: &str, l: &str, p: &str) -> ApiResult<Json<PoolHealth>> {
    let (lb, l, p) = pool_ids(lb, l, p)?;
    let members = state
        .read(move |conn| {
            pool(conn, lb, l, p)?;
            Ok(store::members::list(conn, p)?)
        })
        .await?;
    let members = members
        .into_iter()
        .map(|m| {
            let health = state.health.member_health(m.id);
            MemberHealthEntry {
                member_id: m.id,
                monitored: health.is_some(),
                health,
            }
        })
        .collect();
    Ok(Json(PoolHealth { members }))
}
