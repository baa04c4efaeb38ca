//! Octavia's LBaaS v2 API (`/v2` and `/v2.0`), beside `/v1` and over the same
//! rows, write path (lock, job, controller) and data plane.
//!
//! One file per resource; [`list`] is the generic list machinery, [`shape`]
//! the pieces every body shares (timestamps, tags, ids, projects, the
//! "unsupported option" refusal). Nothing here touches `/v1`'s shapes.
//! [`neutron`] answers the Neutron look-ups the tools make on the same
//! endpoint; [`catalog`] and [`quotas`] the lists Ballast has little or
//! nothing in.

pub mod catalog;
pub mod health_monitors;
pub mod list;
pub mod listeners;
pub mod load_balancers;
pub mod members;
pub mod neutron;
pub mod pools;
pub mod quotas;
pub mod shape;
pub mod versions;

/// Every v2 resource route, to mount under both `/v2` and `/v2.0` (the
/// Neutron look-ups of [`neutron`] go under `/v2.0` only).
pub fn routes() -> Vec<rocket::Route> {
    let mut all = load_balancers::routes();
    all.extend(listeners::routes());
    all.extend(pools::routes());
    all.extend(members::routes());
    all.extend(health_monitors::routes());
    all.extend(catalog::routes());
    all.extend(quotas::routes());
    all
}
