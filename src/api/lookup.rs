//! Parent-chain lookups shared by the resource handlers: a child is looked up
//! under its parent, so an id under another parent (or under a missing one)
//! is a 404 naming the first missing link.
//!
//! Resource modules take these from here (with `guards`, `validate` and
//! `error`), so they never import each other.

use rusqlite::Connection;

use super::error::{ApiError, ApiResult};
use super::guards::path_id;
use crate::model::{ListenerId, LoadBalancerId, PoolId};
use crate::store::{self, listeners::Listener, load_balancers::LoadBalancer, pools::Pool};

/// The load balancer `id` or 404; one of a project the request may not see
/// (see [`auth::scope`](super::auth::scope)) is 404 the same way.
pub fn load_balancer(conn: &Connection, id: LoadBalancerId) -> ApiResult<LoadBalancer> {
    store::load_balancers::get(conn, id)?
        .filter(visible)
        .ok_or_else(|| ApiError::not_found("load balancer", id))
}

/// Whether the request may see `lb` (and so everything under it): the one
/// project rule, applied by every lookup and list of v1 and v2.
pub fn visible(lb: &LoadBalancer) -> bool {
    super::auth::scope::sees(lb.tenant_id.as_deref())
}

/// The listener `id` of load balancer `lb`, or 404 for either.
pub fn listener(conn: &Connection, lb: LoadBalancerId, id: ListenerId) -> ApiResult<Listener> {
    load_balancer(conn, lb)?;
    store::listeners::get(conn, lb, id)?.ok_or_else(|| ApiError::not_found("listener", id))
}

/// The pool `id` under the listener, with that listener, or 404 for any of
/// the chain.
pub fn pool(
    conn: &Connection,
    lb: LoadBalancerId,
    l: ListenerId,
    id: PoolId,
) -> ApiResult<(Listener, Pool)> {
    let listener = listener(conn, lb, l)?;
    let pool = store::pools::get(conn, l, id)?.ok_or_else(|| ApiError::not_found("pool", id))?;
    Ok((listener, pool))
}

/// Parse the three ids of a pool URL (400 naming the first bad one).
pub fn pool_ids(lb: &str, l: &str, p: &str) -> ApiResult<(LoadBalancerId, ListenerId, PoolId)> {
    Ok((
        path_id("load balancer", lb)?,
        path_id("listener", l)?,
        path_id("pool", p)?,
    ))
}
