//! TLS for the data plane: the rustls acceptor of a terminating HTTPS listener
//! (built from the listener's PEM material) and the connector used to
//! re-encrypt towards HTTPS members, which does not verify the member's
//! certificate (members sit on the operator's own network, as in Octavia).
//!
//! Only the aws-lc-rs provider is used; nothing here logs key material. The
//! acceptor (and its ticket keys) is built once per certificate and reused
//! by every connection and every unchanged configuration push.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::spec::TlsMaterial;

/// An acceptor for `material`; the error says what is wrong with the PEM
/// (never echoing it). The parsing is the crate's shared [`crate::tls`].
pub fn acceptor(material: &TlsMaterial) -> Result<TlsAcceptor, String> {
    let mut config = crate::tls::server_config(
        material.certificate_chain_pem.as_bytes(),
        material.private_key_pem.as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    // Session resumption by stateless tickets (HAProxy's and OpenSSL's
    // default): a returning client skips the signature and key exchange,
    // and no per-session state is held here. Keys rotate every 6 hours.
    config.ticketer =
        rustls::crypto::aws_lc_rs::Ticketer::new().map_err(|e| format!("tickets: {e}"))?;
    // One ticket after a handshake, not rustls' (and OpenSSL's) two: each
    // costs a key derivation and an encryption on every full handshake, and
    // a client that wants more for parallel resumptions asks (RFC 9149's
    // ticket_request, honoured up to `max_tls13_tickets`).
    config.send_tls13_tickets = 1;
    config.max_tls13_tickets = 4;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A connector for HTTPS members that accepts any member certificate.
pub fn member_connector() -> TlsConnector {
    let provider = crate::tls::provider();
    let algorithms = provider.signature_verification_algorithms;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyMemberCert(algorithms)))
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// The server name used towards a member: its IP (no SNI is sent for IPs).
pub fn member_server_name(ip: std::net::IpAddr) -> ServerName<'static> {
    ServerName::IpAddress(ip.into())
}

/// Skips chain and name checks but still checks handshake signatures, so the
/// session keys are bound to the certificate the member sent.
#[derive(Debug)]
struct AcceptAnyMemberCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyMemberCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CertificateId;

    #[test]
    fn a_listener_resumes_by_stateless_tickets_one_per_handshake() {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let material = TlsMaterial {
            certificate_id: CertificateId::new(),
            certificate_chain_pem: ck.cert.pem(),
            private_key_pem: ck.signing_key.serialize_pem(),
        };
        let config = acceptor(&material).unwrap().config().clone();
        assert!(config.ticketer.enabled(), "stateless tickets are on");
        assert_eq!(config.send_tls13_tickets, 1);
        assert_eq!(config.max_tls13_tickets, 4);
    }
}
