//! Ballast: a single-host load balancer with the OpenStack Octavia v1 and v2
//! APIs and a built-in Keystone v3 subset.
//!
//! # Layout
//! - `model` — typed ids, statuses, protocols, job kinds, listener counters and
//!   the pure rules every part shares (protocol compatibility, "counters never
//!   go backwards"); `model::expected_codes` parses `expected_codes`. No I/O;
//!   imports no other part.
//! - `config` — figment: defaults, TOML, `BALLAST_` environment; `keys` names a
//!   rejected key as written (`[api] prot`, `BALLAST_API__PROT`) with the closest
//!   known one.
//! - `store` — SQLite (r2d2 pool, migrations) and one repository per resource.
//! - `api` — the Rocket routes of `/v1`, catchers and the JSON fault body;
//!   `api::lookup` holds the parent-chain lookups (load balancer, listener,
//!   pool under its parent), so resource modules never import each other;
//!   `api::insight` holds Ballast's extension routes beside `/v1` (traffic
//!   history, events feed, members' health), never inside Octavia bodies.
//! - `controller` — the durable job queue and start-up reconcile;
//!   `controller::desired` builds a load balancer's desired state (data plane
//!   spec, health pools) from its stored tree; `controller::status` rolls up
//!   operating status; `controller::background` runs the loops beside the
//!   queue (roll-up on health changes and the events feed, counter
//!   persistence, traffic sampling, purging old rows);
//!   `controller::history` keeps the last hour of traffic in memory.
//! - `network` — the `NetworkDriver` trait, `local` and `noop` drivers.
//! - `dataplane` — the in-process proxy: specs in, counters out.
//!   - `spec` (what the controller hands in), `runtime` (what listeners serve
//!     with: context, per-listener config, pool and member runtimes, the
//!     config builder), `listener` (bind, accept, limit, hand off),
//!     `workers` (one single-threaded runtime per worker), `drain` (stop
//!     signals, live-connection tracking);
//!   - `tcp` (the L4 relay), `http/` (`client`: a client connection's life —
//!     first bytes, park, shed, replay, upgrade; `forward`: one request to a
//!     member; `body`: body types), `tls`;
//!   - `sweep` (per-worker connection sweep: header timeout, shedding, member
//!     504), `member_conns` (kept-alive connections to each member),
//!     `coalesce` (write coalescing), `balance/` (algorithms),
//!     `persistence` (cookie and stick table), `member_state` (health and
//!     load shared with the health checker), `stats` (counters), `loops`
//!     (hop token, our own member connections coming back), `memory`
//!     (allocator trim after bursts).
//! - `health` — probes, rise/fall, operating status roll-up.
//! - `app` — wiring only: builds, connects, spawns and stops every part, and
//!   owns shutdown.
//! - `ui` — serves the web UI in `static/` (rust-embed).
//! - `metrics` — the Prometheus registry behind `/metrics`.
//! - `limits` — the open-descriptor limit, raised to the hard limit at start.
//! - `logfmt` — JSON log lines without source paths.
//! - `tls` — rustls server configurations from PEM (aws-lc-rs, ALPN `http/1.1`),
//!   shared by the data plane's HTTPS listeners and the API's HTTPS front.
//! - `sync` — the lock-poisoning policy (every `std` lock recovers).
//! - `systemd` — sd_notify (READY, STOPPING, watchdog).
//! - `backup`, `check` — the `ballast backup` and `ballast check` commands.
//! - `accounts` — the identity commands: `ballast bootstrap`, `user`,
//!   `project`, `app-credential` (the store's `identity`; the API's Keystone
//!   subset is `api::identity`, its enforcement `api::auth`).
//!
//! Dependencies point one way: `app` builds every part; `api -> store, model`
//! (plus handles it only reads: the data plane's live counters, the network
//! driver's networks, metrics, the health checker's last probes, the traffic
//! history, and the controller's wake-up); `controller ->
//! store, network, dataplane, health, model`; `health -> dataplane, model`;
//! `store, network, dataplane -> model`; `config, api, dataplane -> tls`.
//! Nothing imports `api`; `model` imports nothing. Lints the team agrees on live in `Cargo.toml`'s
//! `[lints]`; `unsafe_code` is denied here, for the library (a test that
//! needs a syscall may use `unsafe` with a `// SAFETY:` note).
#![deny(unsafe_code)]

pub mod accounts;
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
pub mod tls;
pub mod ui;
