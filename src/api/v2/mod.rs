//! The Octavia LBaaS v2 API, beside `/v1`, over the same store.

pub mod catalog;
pub mod neutron;
pub mod quotas;
