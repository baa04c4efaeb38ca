//! Configuration: built-in defaults, then the TOML file (`--config`, else
//! `/etc/ballast/ballast.toml` when it exists), then `BALLAST_<SECTION>__<KEY>`
//! environment variables. Unknown keys and bad values stop start-up with one
//! line naming the key as it was written (`[api] prot`, `BALLAST_API__PROT`)
//! and the known key it was probably meant to be.
//!
//! A relative `data_dir` is resolved once, here, so every subcommand run
//! with the same configuration finds the same directory (see
//! [`Config::load`]).

mod api_tls;
mod keys;

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{NetworkId, NetworkMode, NetworkNaming};

pub use keys::{KeyProblem, Origin, Problem};

/// Where the packaged service keeps its configuration.
pub const SYSTEM_CONFIG_PATH: &str = "/etc/ballast/ballast.toml";

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Keys or values the file or the environment got wrong, each named as
    /// written there; one line each.
    #[error("configuration: {}", lines(.0))]
    Rejected(Vec<KeyProblem>),
    /// A value that cannot be used, at the dotted `key` (`networks.0.cidr`);
    /// [`Config::load`] turns it into [`ConfigError::Rejected`].
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

fn lines(problems: &[KeyProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\nconfiguration: ")
}

/// The whole configuration. Every field has a default, so running with no
/// file at all works.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// SQLite file and other state. After [`Config::load`] always absolute:
    /// a relative path set in a file is relative to that file's directory,
    /// one set in the environment to the working directory, and the default
    /// `ballast-data` to the config file's directory when a file is read,
    /// else the working directory.
    pub data_dir: PathBuf,
    pub api: ApiConfig,
    /// Host networks VIPs come from.
    pub networks: Vec<NetworkConfig>,
    /// `local` (host addresses) or `noop` (records calls, touches nothing).
    pub network_driver: NetworkDriverKind,
    pub log: LogConfig,
    pub housekeeping: HousekeepingConfig,
    pub dataplane: DataPlaneSection,
    pub auth: AuthConfig,
}

/// `[api]`: where the REST API and web UI listen.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub address: IpAddr,
    /// 0 picks a free port (logged at start-up).
    pub port: u16,
    /// The v2 API's `project_id` of objects created without one in the body
    /// or an `X-Project-Id` header (default `ballast`).
    pub default_project_id: String,
    /// Host names (and addresses) clients use to reach the API, besides
    /// `localhost`, the loopback addresses and the bound address (any IP
    /// literal when bound to 0.0.0.0 or ::). A request whose `Host` is none of
    /// these is refused: DNS rebinding uses names. Default: none.
    pub public_names: Vec<String>,
    /// Origins (`https://ui.example:8443`) whose pages may call the API
    /// across sites (CORS). Default: none, so no CORS headers are sent.
    pub cors_origins: Vec<String>,
    /// Addresses a member may never have (Octavia's `reserved_ips`); default
    /// the cloud metadata address 169.254.169.254.
    pub reserved_ips: Vec<IpAddr>,
    /// A connection that sends no complete request head for this long
    /// (seconds), first or between keep-alive requests, is closed; the same
    /// bound applies to receiving a request body. Default 30.
    pub request_timeout_secs: u64,
    /// PEM certificate chain (leaf first) the API and web UI serve HTTPS
    /// with; set together with `tls_key`. A relative path is relative to
    /// the file that set it (the working directory for the environment).
    /// Default: none, plain HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
}

/// `[auth]`: who may call the API.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// `none` (anyone who reaches the API may do anything; allowed only
    /// while the API listens on loopback) or `local` (the built-in identity:
    /// every request but the open ones carries a token). Default `none`.
    pub mode: AuthMode,
    /// Let `mode = "none"` listen beyond loopback anyway (logged loudly at
    /// start). Default false.
    pub allow_none_beyond_loopback: bool,
    /// Lifetime of a token (seconds). Default 3600.
    pub token_ttl_secs: u64,
    /// Failed logins of one user or from one address before it is locked
    /// out. Default 5.
    pub lockout_failure_attempts: u32,
    /// How long a lockout lasts (seconds); failures older than this are
    /// forgotten. Default 300.
    pub lockout_duration_secs: u64,
    /// Base URL of Ballast's API as clients reach it, named in the token
    /// catalog (`load-balancer` and `network` endpoints). Default: the
    /// address and port the API listens on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
}

/// `[auth] mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    None,
    Local,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            mode: AuthMode::None,
            allow_none_beyond_loopback: false,
            token_ttl_secs: 3600,
            lockout_failure_attempts: 5,
            lockout_duration_secs: 300,
            public_url: None,
        }
    }
}

/// `[[networks]]`: one host network.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Stable id; when absent, derived from `name` and the installation's
    /// secret (see [`NetworkNaming`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    pub name: String,
    pub mode: NetworkMode,
    pub cidr: IpNet,
    /// `interface` mode only: where VIP addresses are added.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
}

impl NetworkConfig {
    /// The network's id: the configured one, else the installation's
    /// derivation from its name.
    pub fn network_id(&self, naming: &NetworkNaming) -> NetworkId {
        naming.network_id(self.id, &self.name)
    }
}

/// Which network driver runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkDriverKind {
    Local,
    Noop,
}

/// `[log]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A tracing filter (`info`, `debug,rocket=warn`); `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
}

/// Log line format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `[housekeeping]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HousekeepingConfig {
    /// DELETED load balancers are purged after this many seconds.
    pub purge_deleted_after_secs: u64,
    /// Listener counters are persisted at least this often (seconds).
    pub stats_persist_interval_secs: u64,
    /// The web UI's traffic graphs sample every listener this often
    /// (seconds, at least 1); an hour of samples is kept in memory.
    pub traffic_sample_interval_secs: u64,
}

/// `[dataplane]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataPlaneSection {
    /// On SIGTERM, in-flight connections get at most this long (seconds).
    pub drain_timeout_secs: u64,
    /// Connect timeout towards a member (milliseconds).
    pub member_connect_timeout_ms: u64,
    /// Threads carrying proxied traffic; 0 is one per CPU.
    pub workers: usize,
    /// Client connections over all listeners (HAProxy's global `maxconn`);
    /// at the cap listeners stop accepting and clients wait in the backlog.
    /// 0 derives it from the descriptor limit: half of what is left after
    /// a reserve for the API, probes and the store (each client needs a
    /// member connection too).
    pub max_connections: u64,
    /// A connection moving data whose client side makes no progress this
    /// long is closed (Octavia's `timeout_client_data`; seconds).
    pub client_data_timeout_secs: u64,
    /// The same for the member side (Octavia's `timeout_member_data`;
    /// seconds).
    pub member_data_timeout_secs: u64,
}

/// More data plane workers than this is a typo, not a machine.
const MAX_WORKERS: usize = 256;

impl DataPlaneSection {
    /// The worker count to start: `workers`, or one per CPU when 0.
    pub fn workers(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The connection cap to apply; `None` (0 configured) derives it.
    pub fn max_connections(&self) -> Option<usize> {
        match self.max_connections {
            0 => None,
            n => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }
}

/// Longer data timeouts than a day are a typo.
const MAX_DATA_TIMEOUT_SECS: u64 = 24 * 3600;

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("ballast-data"),
            api: ApiConfig::default(),
            networks: vec![NetworkConfig {
                id: None,
                name: "loopback".into(),
                mode: NetworkMode::Loopback,
                cidr: "127.77.0.0/16".parse().expect("default CIDR is valid"),
                interface: None,
            }],
            network_driver: NetworkDriverKind::Local,
            log: LogConfig::default(),
            housekeeping: HousekeepingConfig::default(),
            dataplane: DataPlaneSection::default(),
            auth: AuthConfig::default(),
        }
    }
}

/// The default of `[api] default_project_id`.
pub const DEFAULT_PROJECT_ID: &str = "ballast";

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            address: IpAddr::from([127, 0, 0, 1]),
            port: 9876,
            default_project_id: DEFAULT_PROJECT_ID.into(),
            public_names: Vec::new(),
            cors_origins: Vec::new(),
            reserved_ips: vec![IpAddr::from([169, 254, 169, 254])],
            request_timeout_secs: 30,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl Default for HousekeepingConfig {
    fn default() -> Self {
        Self {
            purge_deleted_after_secs: 24 * 3600,
            stats_persist_interval_secs: 5,
            traffic_sample_interval_secs: 5,
        }
    }
}

impl Default for DataPlaneSection {
    fn default() -> Self {
        Self {
            drain_timeout_secs: 5,
            member_connect_timeout_ms: 3000,
            workers: 0,
            max_connections: 0,
            client_data_timeout_secs: 50,
            member_data_timeout_secs: 50,
        }
    }
}

impl Config {
    /// The configuration file read: `file` (the `--config` path), else the
    /// system path when it exists, else none.
    pub fn file_in_use(file: Option<&Path>) -> Option<PathBuf> {
        match file {
            Some(path) => Some(path.to_owned()),
            None if Path::new(SYSTEM_CONFIG_PATH).exists() => Some(SYSTEM_CONFIG_PATH.into()),
            None => None,
        }
    }

    /// The figment of defaults, file and environment. `file` is the
    /// `--config` path; without it the system path is read when it exists.
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = Self::file_in_use(file) {
            figment = figment.merge(Toml::file_exact(path));
        }
        figment.merge(keys::environment())
    }

    /// Load and validate the configuration; `data_dir` comes back absolute.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        if let Some(path) = file
            && !path.exists()
        {
            return Err(ConfigError::Invalid {
                key: "--config".into(),
                reason: format!("{} does not exist", path.display()),
            });
        }
        let figment = Self::figment(file);
        let mut config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Rejected(keys::from_figment(e)))?;
        config.data_dir = resolve_path(&figment, file, "data_dir", &config.data_dir)?;
        for (key, path) in [
            ("api.tls_cert", &mut config.api.tls_cert),
            ("api.tls_key", &mut config.api.tls_key),
        ] {
            if let Some(path) = path {
                *path = resolve_path(&figment, file, key, path)?;
            }
        }
        config.validate().map_err(|e| match e {
            ConfigError::Invalid { key, reason } => {
                ConfigError::Rejected(vec![keys::locate(&figment, &key, reason)])
            }
            other => other,
        })?;
        Ok(config)
    }

    /// Check what serde cannot: CIDRs fit their mode, names and ids unique.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, reason: &str| ConfigError::Invalid {
            key,
            reason: reason.to_string(),
        };
        if self.networks.is_empty() {
            return Err(invalid("networks".into(), "at least one network is needed"));
        }
        let project = self.api.default_project_id.trim();
        if project.is_empty() || project.chars().count() > 36 {
            // Octavia's project_id column holds 36 characters.
            return Err(invalid(
                "api.default_project_id".into(),
                "must be 1 to 36 characters",
            ));
        }
        // Derived ids need the database's secret; distinct names give
        // distinct ids, so names and explicit ids are what can clash here.
        let mut names = std::collections::HashSet::new();
        let mut ids = std::collections::HashSet::new();
        for (i, net) in self.networks.iter().enumerate() {
            let key = |field: &str| format!("networks.{i}.{field}");
            if net.name.trim().is_empty() {
                return Err(invalid(key("name"), "must not be empty"));
            }
            if !names.insert(net.name.as_str()) {
                return Err(invalid(key("name"), "duplicate network name"));
            }
            if net.id.is_some_and(|id| !ids.insert(id)) {
                return Err(invalid(key("id"), "duplicate network id"));
            }
            if net.cidr.hosts().next().is_none() {
                return Err(invalid(key("cidr"), "has no host addresses"));
            }
            match net.mode {
                NetworkMode::Loopback => {
                    let loopback: IpNet = "127.0.0.0/8".parse().expect("valid CIDR");
                    if !loopback.contains(&net.cidr) {
                        return Err(invalid(
                            key("cidr"),
                            "a loopback-mode network must lie inside 127.0.0.0/8",
                        ));
                    }
                }
                NetworkMode::Interface => match &net.interface {
                    None => {
                        return Err(invalid(
                            key("interface"),
                            "an interface-mode network needs an interface",
                        ));
                    }
                    Some(name) if name.is_empty() || name.len() > 15 => {
                        return Err(invalid(
                            key("interface"),
                            "must be an interface name (1-15 characters)",
                        ));
                    }
                    Some(_) => {}
                },
            }
        }
        if self.housekeeping.stats_persist_interval_secs == 0 {
            return Err(invalid(
                "housekeeping.stats_persist_interval_secs".into(),
                "must be at least 1",
            ));
        }
        if self.housekeeping.traffic_sample_interval_secs == 0 {
            return Err(invalid(
                "housekeeping.traffic_sample_interval_secs".into(),
                "must be at least 1",
            ));
        }
        if self.api.request_timeout_secs == 0 {
            return Err(invalid(
                "api.request_timeout_secs".into(),
                "must be at least 1",
            ));
        }
        for (i, origin) in self.api.cors_origins.iter().enumerate() {
            let rest = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            if !rest.is_some_and(|r| !r.is_empty() && !r.contains('/')) {
                return Err(invalid(
                    format!("api.cors_origins.{i}"),
                    "must be an origin: http(s)://host[:port], no path",
                ));
            }
        }
        for (i, name) in self.api.public_names.iter().enumerate() {
            if name.is_empty() || name.contains(['/', ' ', ':']) && name.parse::<IpAddr>().is_err()
            {
                return Err(invalid(
                    format!("api.public_names.{i}"),
                    "must be a host name or an IP address, without port",
                ));
            }
        }
        if self.auth.mode == AuthMode::None
            && !self.api.address.is_loopback()
            && !self.auth.allow_none_beyond_loopback
        {
            return Err(invalid(
                "auth.mode".into(),
                &format!(
                    "\"none\" lets anyone who reaches {} change every load balancer; set \
                     [auth] mode = \"local\" (and run `ballast bootstrap`), listen on loopback, \
                     or set [auth] allow_none_beyond_loopback = true",
                    self.api.address
                ),
            ));
        }
        if self.auth.token_ttl_secs == 0 || self.auth.token_ttl_secs > 7 * 24 * 3600 {
            return Err(invalid(
                "auth.token_ttl_secs".into(),
                "must be 1 to 604800 (a week)",
            ));
        }
        if self.auth.lockout_failure_attempts == 0 {
            return Err(invalid(
                "auth.lockout_failure_attempts".into(),
                "must be at least 1",
            ));
        }
        if let Some(url) = &self.auth.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(invalid(
                "auth.public_url".into(),
                "must be an http:// or https:// URL",
            ));
        }
        self.api.tls_server_config()?;
        if self.dataplane.workers > MAX_WORKERS {
            return Err(invalid(
                "dataplane.workers".into(),
                &format!("must be at most {MAX_WORKERS} (0 is one per CPU)"),
            ));
        }
        for (key, secs) in [
            (
                "dataplane.client_data_timeout_secs",
                self.dataplane.client_data_timeout_secs,
            ),
            (
                "dataplane.member_data_timeout_secs",
                self.dataplane.member_data_timeout_secs,
            ),
        ] {
            if !(1..=MAX_DATA_TIMEOUT_SECS).contains(&secs) {
                return Err(invalid(
                    key.into(),
                    &format!("must be 1..{MAX_DATA_TIMEOUT_SECS} seconds"),
                ));
            }
        }
        Ok(())
    }
}

/// The path at `key` (`data_dir`, `api.tls_cert`) made absolute against the
/// directory it is relative to: the file that set it, the working directory
/// for the environment, and for the default the file in use, if any (so
/// `serve` and `backup` given the same `--config` agree wherever they run).
fn resolve_path(
    figment: &Figment,
    file: Option<&Path>,
    key: &str,
    path: &Path,
) -> Result<PathBuf, ConfigError> {
    if path.is_absolute() {
        return Ok(path.to_owned());
    }
    let unusable = |reason: String| ConfigError::Invalid {
        key: key.into(),
        reason,
    };
    let origin = figment
        .find_metadata(key)
        .map_or(Origin::Default, keys::origin_of);
    let base_file = match origin {
        Origin::File(path) => Some(path),
        Origin::Environment => None,
        Origin::Default => Config::file_in_use(file),
    };
    let base = match base_file {
        Some(config_file) => std::path::absolute(&config_file)
            .map_err(|e| unusable(format!("cannot resolve {}: {e}", config_file.display())))?
            .parent()
            .map(Path::to_owned)
            .unwrap_or_default(),
        None => std::env::current_dir().map_err(|e| {
            unusable(format!(
                "relative, and the working directory is unknown: {e}"
            ))
        })?,
    };
    Ok(base.join(path))
}

#[cfg(test)]
// figment's Jail closure returns figment::Error by value; its size is theirs.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use figment::Jail;

    fn load_in_jail(toml: &str) -> Result<Config, String> {
        let mut out = Err(String::new());
        Jail::expect_with(|jail| {
            jail.create_file("b.toml", toml)?;
            out = Config::load(Some(Path::new("b.toml"))).map_err(|e| e.to_string());
            Ok(())
        });
        out
    }

    #[test]
    fn no_file_gives_the_embedded_defaults() {
        let config: Config = Config::figment(None).extract().unwrap();
        config.validate().unwrap();
        assert_eq!(config.api.port, 9876);
        assert_eq!(config.networks[0].cidr.to_string(), "127.77.0.0/16");
        assert_eq!(config.networks[0].name, Config::default().networks[0].name);
    }

    #[test]
    fn an_unknown_file_key_is_named_by_table_and_the_closest_key_suggested() {
        let err = load_in_jail("[api]\nprot = 1\n").unwrap_err();
        assert!(
            err.ends_with("b.toml: unknown key `[api] prot`; did you mean `port`?"),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_environment_key_is_named_as_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("BALLAST_API__PROT", "1");
            let err = Config::load(None).unwrap_err().to_string();
            assert_eq!(
                err,
                "configuration: unknown environment variable BALLAST_API__PROT; \
                 did you mean BALLAST_API__PORT?"
            );
            Ok(())
        });
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        Jail::expect_with(|jail| {
            jail.set_env("BALLAST_API__REQUEST_TIMEOUT_SECS", "0");
            let err = Config::load(None).unwrap_err().to_string();
            assert_eq!(
                err,
                "configuration: BALLAST_API__REQUEST_TIMEOUT_SECS: must be at least 1"
            );
            Ok(())
        });
    }

    #[test]
    fn a_relative_data_dir_in_a_file_is_relative_to_that_file() {
        Jail::expect_with(|jail| {
            let etc = jail.directory().join("etc");
            std::fs::create_dir(&etc).unwrap();
            std::fs::write(etc.join("b.toml"), "data_dir = \"state\"\n").unwrap();
            let config = Config::load(Some(Path::new("etc/b.toml"))).unwrap();
            assert_eq!(config.data_dir, etc.join("state"));

            // Without data_dir in the file, the default sits beside the file too.
            std::fs::write(etc.join("b.toml"), "").unwrap();
            let config = Config::load(Some(Path::new("etc/b.toml"))).unwrap();
            assert_eq!(config.data_dir, etc.join("ballast-data"));
            Ok(())
        });
    }

    #[test]
    fn a_relative_data_dir_from_the_environment_or_no_file_is_relative_to_the_working_directory() {
        Jail::expect_with(|jail| {
            let cwd = std::env::current_dir().unwrap();
            assert_eq!(
                Config::load(None).unwrap().data_dir,
                cwd.join("ballast-data")
            );
            jail.create_file("b.toml", "data_dir = \"from-file\"\n")?;
            jail.set_env("BALLAST_DATA_DIR", "from-env");
            let config = Config::load(Some(Path::new("b.toml"))).unwrap();
            assert_eq!(config.data_dir, cwd.join("from-env"));
            jail.set_env("BALLAST_DATA_DIR", "/srv/ballast");
            let config = Config::load(Some(Path::new("b.toml"))).unwrap();
            assert_eq!(config.data_dir, Path::new("/srv/ballast"));
            Ok(())
        });
    }

    #[test]
    fn bad_cidr_is_named() {
        let err = load_in_jail(
            "[[networks]]\nname = \"x\"\nmode = \"loopback\"\ncidr = \"127.77.0.0/99\"\n",
        )
        .unwrap_err();
        assert!(
            err.contains("`[[networks]] #1 cidr`: invalid IP address"),
            "{err}"
        );
    }

    #[test]
    fn loopback_cidr_outside_127_is_refused() {
        let err = load_in_jail(
            "[[networks]]\nname = \"x\"\nmode = \"loopback\"\ncidr = \"10.0.0.0/24\"\n",
        )
        .unwrap_err();
        assert!(
            err.contains("`[[networks]] #1 cidr`: a loopback-mode"),
            "{err}"
        );
    }

    #[test]
    fn interface_mode_without_interface_is_refused() {
        let err = load_in_jail(
            "[[networks]]\nname = \"x\"\nmode = \"interface\"\ncidr = \"10.0.0.0/24\"\n",
        )
        .unwrap_err();
        assert!(err.contains("`[[networks]] #1 interface`"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file() {
        Jail::expect_with(|jail| {
            jail.create_file("b.toml", "[api]\nport = 1111\n")?;
            jail.set_env("BALLAST_API__PORT", "2222");
            let config = Config::load(Some(Path::new("b.toml"))).unwrap();
            assert_eq!(config.api.port, 2222);
            Ok(())
        });
    }

    #[test]
    fn auth_none_beyond_loopback_is_refused_unless_overridden() {
        let err = load_in_jail("[api]\naddress = \"0.0.0.0\"\n").unwrap_err();
        assert!(err.contains("auth.mode"), "{err}");
        load_in_jail("[api]\naddress = \"0.0.0.0\"\n[auth]\nallow_none_beyond_loopback = true\n")
            .unwrap();
        let local =
            load_in_jail("[api]\naddress = \"0.0.0.0\"\n[auth]\nmode = \"local\"\n").unwrap();
        assert_eq!(local.auth.mode, AuthMode::Local);
        assert_eq!(local.auth.token_ttl_secs, 3600);
        let err = load_in_jail("[auth]\npublic_url = \"ftp://x\"\n").unwrap_err();
        assert!(err.contains("public_url"), "{err}");
    }

    #[test]
    fn dataplane_workers_default_to_one_per_cpu_and_are_bounded() {
        let config = load_in_jail("[dataplane]\nworkers = 3\n").unwrap();
        assert_eq!(config.dataplane.workers(), 3);
        assert_eq!(
            Config::default().dataplane.workers(),
            crate::dataplane::default_workers()
        );
        let err = load_in_jail("[dataplane]\nworkers = 100000\n").unwrap_err();
        assert!(err.contains("`[dataplane] workers`"), "{err}");
    }

    #[test]
    fn data_timeouts_default_to_octavias_and_zero_is_refused() {
        let config = Config::default();
        assert_eq!(config.dataplane.client_data_timeout_secs, 50);
        assert_eq!(config.dataplane.member_data_timeout_secs, 50);
        for key in ["client_data_timeout_secs", "member_data_timeout_secs"] {
            let err = load_in_jail(&format!("[dataplane]\n{key} = 0\n")).unwrap_err();
            assert!(err.contains(&format!("`[dataplane] {key}`")), "{err}");
        }
        let config = load_in_jail("[dataplane]\nclient_data_timeout_secs = 7\n").unwrap();
        assert_eq!(config.dataplane.client_data_timeout_secs, 7);
    }

    #[test]
    fn max_connections_zero_derives_the_cap() {
        assert_eq!(Config::default().dataplane.max_connections(), None);
        let config = load_in_jail("[dataplane]\nmax_connections = 12\n").unwrap();
        assert_eq!(config.dataplane.max_connections(), Some(12));
    }
}
