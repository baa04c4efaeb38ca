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
pub mod members;
pub mod neutron;
pub mod quotas;
pub mod shape;
