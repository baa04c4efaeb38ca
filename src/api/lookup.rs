//! Parent-chain lookups shared by the resource handlers: a child is looked up
//! under its parent, so an id under another parent (or under a missing one)
//! is a 404 naming the first missing link.
//!
//! Resource modules take these from here (with `guards`, `validate` and
//! `error`), so they never import each other.

use rusqlite::Connection;

use super::error::{ApiError, ApiResult};
use super::guards::path_id;
use crate::model::{CertificateId, ListenerId, LoadBalancerId, PoolId, PortId};
use crate::store::certificates::Certificate;
use crate::store::ports::Port;
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

/// The port `id` if the request may see it: a port is its project's (a VIP
/// port takes its load balancer's when attached).
pub fn port(conn: &Connection, id: PortId) -> ApiResult<Option<Port>> {
    Ok(store::ports::get(conn, id)?.filter(port_visible))
}

/// Whether the request may see port `p`.
pub fn port_visible(p: &Port) -> bool {
    super::auth::scope::sees(p.project_id.as_deref())
}

/// Whether the request may see certificate `c` (its own project's rule).
pub fn certificate_visible(c: &Certificate) -> bool {
    super::auth::scope::sees(c.project_id.as_deref())
}

/// The certificate `id` if the request may see it.
pub fn certificate(conn: &Connection, id: CertificateId) -> ApiResult<Option<Certificate>> {
    Ok(store::certificates::get(conn, id)?.filter(certificate_visible))
}

/// Check that a listener of `lb` may use certificate `id` (the body's
/// `field`): one the request cannot see is "not found", and one of another
/// project than the load balancer's is refused even for an admin (a
/// certificate made without identity has no project and fits any).
pub fn listener_certificate(
    conn: &Connection,
    lb: &LoadBalancer,
    id: CertificateId,
    field: &str,
) -> ApiResult<()> {
    let cert = certificate(conn, id)?
        .ok_or_else(|| ApiError::field(field, format!("certificate {id} not found")))?;
    match cert.project_id {
        Some(p) if lb.tenant_id.as_deref() != Some(p.as_str()) => Err(ApiError::field(
            field,
            format!("certificate {id} belongs to another project than the load balancer"),
        )),
        _ => Ok(()),
    }
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
