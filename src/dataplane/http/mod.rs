//! The HTTP/1.1 reverse proxy: one hyper server connection per client,
//! requests forwarded over kept-alive member connections with bodies
//! streamed both ways (never buffered whole).
//!
//! `client.rs` is the client connection's life (first bytes, park, shed,
//! replay, upgrade, drain); `forward.rs` takes one request to a member and
//! classifies failures by side (503, 502, 504); `body.rs` holds the
//! response bodies the client gets.

mod body;
mod client;
mod forward;

pub(crate) use client::{client_spoke, serve};
