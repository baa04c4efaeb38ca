//! TLS for the data plane: the rustls acceptor of a terminating HTTPS listener
//! (built from the listener's PEM material) and the connector used to
//! re-encrypt towards HTTPS members, which does not verify the member's
//! certificate (members sit on the operator's own network, as in Octavia).
//!
//! Only the ring provider is used; nothing here logs key material. The
//! acceptor (and its ticket keys) is built once per certificate and reused
//! by every connection and every unchanged configuration push.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, ServerConfig, SignatureScheme};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::spec::TlsMaterial;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An acceptor for `material`; the error says what is wrong with the PEM
/// (never echoing it).
pub fn acceptor(material: &TlsMaterial) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(material.certificate_chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("certificate chain: {e}"))?;
    if certs.is_empty() {
        return Err("certificate chain: no CERTIFICATE block".into());
    }
    let key = PrivateKeyDer::from_pem_slice(material.private_key_pem.as_bytes())
        .map_err(|e| format!("private key: {e}"))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("certificate and key: {e}"))?;
    // Session resumption by stateless tickets (HAProxy's and OpenSSL's
    // default): a returning client skips the signature and key exchange,
    // and no per-session state is held here. Keys rotate every 6 hours.
    config.ticketer = rustls::crypto::ring::Ticketer::new().map_err(|e| format!("tickets: {e}"))?;
    // Terminated connections are served by the HTTP/1.1 proxy.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A connector for HTTPS members that accepts any member certificate.
pub fn member_connector() -> TlsConnector {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
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
