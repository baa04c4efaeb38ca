//! The TLS handshake of an API connection (`[api] tls_cert`/`tls_key`).
//!
//! A handshake is bounded by the request timeout, like the request head that
//! follows it, so a client that connects and stalls mid-handshake holds its
//! descriptor no longer than one that sends half a request. A failed or
//! stalled handshake just closes the connection (logged at debug: it is the
//! client's problem, and scanners make plenty).
//!
//! A client that speaks plain HTTP to the TLS port gets one plain-text answer,
//! the API's JSON fault saying to use `https://`, instead of bytes it cannot
//! read: the first byte of a TLS connection is a handshake record (0x16), the
//! first of an HTTP/1 request a letter of its method.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tracing::debug;

/// Complete the handshake on `stream` within `timeout`; `None` (connection
/// closed) when it fails, stalls, or the client spoke plain HTTP (answered
/// first).
pub async fn accept(
    acceptor: &TlsAcceptor,
    stream: TcpStream,
    peer: SocketAddr,
    timeout: Duration,
) -> Option<TlsStream<TcpStream>> {
    let handshake = async {
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await? == 1 && speaks_plain_http(first[0]) {
            refuse_plain_http(stream).await?;
            return Ok(None);
        }
        acceptor.accept(stream).await.map(Some)
    };
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(Some(tls))) => Some(tls),
        Ok(Ok(None)) => {
            debug!(%peer, "API connection spoke plain HTTP to the TLS port; answered 400");
            None
        }
        Ok(Err(error)) => {
            debug!(%peer, %error, "API TLS handshake failed");
            None
        }
        Err(_) => {
            debug!(%peer, "API TLS handshake not completed within the request timeout");
            None
        }
    }
}

/// Answer a plain HTTP request with a closing 400 fault, then close once the
/// client has (a lingering close: closing with its request unread would
/// reset the connection, and a reset can destroy the answer before the
/// client reads it). The caller's timeout bounds the wait.
async fn refuse_plain_http(mut stream: TcpStream) -> std::io::Result<()> {
    let answer = super::canned::fault_response(
        400,
        "this port speaks HTTPS: use https:// (plain HTTP is not served here)",
    );
    stream.write_all(&answer).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    while stream.read(&mut sink).await? > 0 {}
    Ok(())
}

/// Whether a connection whose first byte is `first` speaks plain HTTP/1: a
/// request opens with its method's first letter, never with TLS's record
/// types (0x14..=0x18). Anything else goes to the handshake, which refuses it.
fn speaks_plain_http(first: u8) -> bool {
    first.is_ascii_alphabetic()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_method_is_plain_http_and_a_tls_record_is_not() {
        for method in ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"] {
            assert!(speaks_plain_http(method.as_bytes()[0]), "{method}");
        }
        for record in 0x14..=0x18 {
            assert!(!speaks_plain_http(record), "{record:#x}");
        }
    }
}
