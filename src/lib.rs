//! Ballast: a single-host load balancer with the OpenStack Octavia v1 API.
//!
//! # Layout
//! - `model` — typed ids, statuses, protocols; no I/O.
//! - `config` — figment: defaults, TOML, `BALLAST_` environment.
//! - `store` — SQLite (r2d2 pool, migrations) and one repository per resource.
//! - `api` — the Rocket routes of `/v1`, catchers and the JSON fault body.
//! - `controller` — the durable job queue, provisioning flows, start-up reconcile.
//! - `network` — the `NetworkDriver` trait, `local` and `noop` drivers.
//! - `dataplane` — the in-process proxy: specs in, counters out.
//! - `health` — probes, rise/fall, operating status roll-up.
//! - `app` — wires every part and owns shutdown.
//! - `ui` — serves the web UI in `static/` (rust-embed).
//! - `metrics` — the Prometheus registry behind `/metrics`.
//! - `limits` — the open-descriptor limit, raised to the hard limit at start.
//! - `logfmt` — JSON log lines without source paths.
//! - `sync` — the lock-poisoning policy (every `std` lock recovers).
//! - `systemd` — sd_notify (READY, STOPPING, watchdog).
//! - `backup`, `check` — the `ballast backup` and `ballast check` commands.
#![deny(unsafe_code)]

pub mod api;
pub mod app;
pub mod backup;
pub mod check;
pub mod config;
pub mod controller;
pub mod dataplane;
pub mod health;
pub mod limits;
pub mod logfmt;
pub mod metrics;
pub mod model;
pub mod network;
pub mod store;
pub mod sync;
pub mod systemd;
pub mod ui;
