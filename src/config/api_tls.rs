//! `[api] tls_cert` and `tls_key`: reading the two PEM files and building the
//! API's HTTPS configuration from them, with every failure named by the key
//! at fault and its file. Runs in validation (so `ballast check` and a
//! failed start say the same) and once more when `serve` builds the front.
//!
//! Never echoes file contents: a key file is a secret.

use std::path::Path;

use super::{ApiConfig, ConfigError};
use crate::tls::PemError;

impl ApiConfig {
    /// The HTTPS configuration of `tls_cert` and `tls_key`, both read now;
    /// `None` when neither is set. Set alone, a missing or unreadable file,
    /// PEM that does not parse, or a key that is not the certificate's is an
    /// error naming the key and the file.
    pub fn tls_server_config(&self) -> Result<Option<rustls::ServerConfig>, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: format!("api.{key}"),
            reason,
        };
        let (cert, key) = match (&self.tls_cert, &self.tls_key) {
            (None, None) => return Ok(None),
            (Some(cert), Some(key)) => (cert, key),
            (Some(_), None) => {
                return Err(invalid(
                    "tls_cert",
                    "needs `tls_key` too (set both or neither)".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "tls_key",
                    "needs `tls_cert` too (set both or neither)".into(),
                ));
            }
        };
        let read = |name: &str, path: &Path| {
            std::fs::read(path)
                .map_err(|e| invalid(name, format!("cannot read {}: {e}", path.display())))
        };
        let cert_pem = read("tls_cert", cert)?;
        let key_pem = read("tls_key", key)?;
        crate::tls::server_config(&cert_pem, &key_pem)
            .map(Some)
            .map_err(|e| match e {
                PemError::Chain(reason) => invalid(
                    "tls_cert",
                    format!("{}: not a PEM certificate chain: {reason}", cert.display()),
                ),
                PemError::Key(reason) => invalid(
                    "tls_key",
                    format!("{}: not a PEM private key: {reason}", key.display()),
                ),
                PemError::Pair(reason) => invalid(
                    "tls_key",
                    format!(
                        "{} is not the key of the certificate in {}: {reason}",
                        key.display(),
                        cert.display()
                    ),
                ),
            })
    }
}

#[cfg(test)]
// figment's Jail closure returns figment::Error by value; its size is theirs.
#[allow(clippy::result_large_err)]
mod tests {
    use std::path::Path;

    use figment::Jail;

    use crate::config::Config;

    /// A self-signed certificate and its key, PEM.
    fn self_signed() -> (String, String) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        (ck.cert.pem(), ck.signing_key.serialize_pem())
    }

    /// Load `toml` from `etc/b.toml` in a jail holding `files` (name,
    /// contents) under `etc/`.
    fn load(toml: &str, files: &[(&str, &str)]) -> Result<Config, String> {
        let mut out = Err(String::new());
        Jail::expect_with(|jail| {
            let etc = jail.directory().join("etc");
            std::fs::create_dir(&etc).unwrap();
            for (name, contents) in files {
                std::fs::write(etc.join(name), contents).unwrap();
            }
            std::fs::write(etc.join("b.toml"), toml).unwrap();
            out = Config::load(Some(Path::new("etc/b.toml"))).map_err(|e| e.to_string());
            Ok(())
        });
        out
    }

    #[test]
    fn a_matching_pair_relative_to_the_file_gives_a_server_config() {
        let (cert, key) = self_signed();
        Jail::expect_with(|jail| {
            let etc = jail.directory().join("etc");
            std::fs::create_dir(&etc).unwrap();
            std::fs::write(etc.join("cert.pem"), &cert).unwrap();
            std::fs::write(etc.join("key.pem"), &key).unwrap();
            let toml = "[api]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n";
            std::fs::write(etc.join("b.toml"), toml).unwrap();
            let config = Config::load(Some(Path::new("etc/b.toml"))).unwrap();
            assert_eq!(config.api.tls_cert, Some(etc.join("cert.pem")));
            assert!(config.api.tls_server_config().unwrap().is_some());
            Ok(())
        });
        assert!(Config::default().api.tls_server_config().unwrap().is_none());
    }

    #[test]
    fn one_of_the_pair_alone_is_refused_naming_it() {
        let err = load("[api]\ntls_cert = \"cert.pem\"\n", &[]).unwrap_err();
        assert!(
            err.ends_with("b.toml: `[api] tls_cert`: needs `tls_key` too (set both or neither)"),
            "{err}"
        );
        let err = load("[api]\ntls_key = \"key.pem\"\n", &[]).unwrap_err();
        assert!(
            err.contains("`[api] tls_key`: needs `tls_cert` too"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_names_the_key_and_the_path() {
        let (cert, _) = self_signed();
        let err = load(
            "[api]\ntls_cert = \"cert.pem\"\ntls_key = \"nokey.pem\"\n",
            &[("cert.pem", &cert)],
        )
        .unwrap_err();
        assert!(err.contains("`[api] tls_key`: cannot read /"), "{err}");
        assert!(err.contains("/etc/nokey.pem: No such file"), "{err}");
    }

    #[test]
    fn a_key_of_another_certificate_is_refused_without_echoing_either() {
        let (cert, _) = self_signed();
        let (_, other_key) = self_signed();
        let err = load(
            "[api]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n",
            &[("cert.pem", &cert), ("key.pem", &other_key)],
        )
        .unwrap_err();
        assert!(err.contains("`[api] tls_key`: /"), "{err}");
        assert!(
            err.contains("/etc/key.pem is not the key of the certificate in /"),
            "{err}"
        );
        assert!(!err.contains("BEGIN"), "{err}");
    }

    #[test]
    fn swapped_files_name_the_certificate_first() {
        let (cert, key) = self_signed();
        let err = load(
            "[api]\ntls_cert = \"key.pem\"\ntls_key = \"cert.pem\"\n",
            &[("cert.pem", &cert), ("key.pem", &key)],
        )
        .unwrap_err();
        assert!(
            err.contains("`[api] tls_cert`: /") && err.contains("not a PEM certificate chain"),
            "{err}"
        );
    }
}
