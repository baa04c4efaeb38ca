//! rustls server configurations from PEM: a certificate chain and a private
//! key become a [`ServerConfig`] on the aws-lc-rs provider with the safe default
//! protocol versions and ALPN `http/1.1` (both servers that use it speak
//! HTTP/1.1 behind TLS). Shared by the data plane's terminating listeners and
//! the API's HTTPS front, so neither imports the other.
//!
//! Pure: bytes in, a configuration out. Never reads a file, never logs, and
//! no error echoes key material.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// What is wrong with PEM material, by the part at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// The certificate chain does not parse or holds no certificate.
    #[error("certificate chain: {0}")]
    Chain(String),
    /// The private key does not parse (or there is none).
    #[error("private key: {0}")]
    Key(String),
    /// Both parse but do not belong together (the key is not the
    /// certificate's) or rustls refuses the pair.
    #[error("certificate and key: {0}")]
    Pair(String),
}

/// The one crypto provider Ballast uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A server configuration serving `chain_pem` (leaf first) with `key_pem`,
/// offering ALPN `http/1.1`.
pub fn server_config(chain_pem: &[u8], key_pem: &[u8]) -> Result<ServerConfig, PemError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| PemError::Chain(e.to_string()))?;
    if certs.is_empty() {
        return Err(PemError::Chain("no CERTIFICATE block".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| PemError::Key(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("aws-lc-rs supports the default protocol versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| PemError::Pair(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn self_signed() -> (String, String) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (ck.cert.pem(), ck.signing_key.serialize_pem())
    }

    #[test]
    fn a_matching_pair_serves_http_1_1() {
        let (cert, key) = self_signed();
        let config = server_config(cert.as_bytes(), key.as_bytes()).unwrap();
        assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    }

    #[test]
    fn each_part_at_fault_is_named_without_echoing_the_key() {
        let (cert, key) = self_signed();
        let (_, other_key) = self_signed();
        assert!(matches!(
            server_config(b"", key.as_bytes()),
            Err(PemError::Chain(_))
        ));
        assert!(matches!(
            server_config(key.as_bytes(), key.as_bytes()),
            Err(PemError::Chain(_))
        ));
        assert!(matches!(
            server_config(cert.as_bytes(), cert.as_bytes()),
            Err(PemError::Key(_))
        ));
        let err = server_config(cert.as_bytes(), other_key.as_bytes()).unwrap_err();
        assert!(matches!(err, PemError::Pair(_)), "{err}");
        assert!(!err.to_string().contains("PRIVATE KEY"), "{err}");
    }
}
