//! Configuration: built-in defaults, then the TOML file (`--config`, else
//! `/etc/ballast/ballast.toml` when it exists), then `BALLAST_<SECTION>__<KEY>`
//! environment variables. Unknown keys and bad values stop start-up with one
//! line naming the key.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{NetworkId, NetworkMode};

/// Where the packaged service keeps its configuration.
pub const SYSTEM_CONFIG_PATH: &str = "/etc/ballast/ballast.toml";

/// Namespace for network ids derived from a network's name, so an id stays
/// the same across restarts without being written down.
const NETWORK_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_5a0e_8c1d_4d7e_9a51_0f3c_2b7d_4e19);

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Parse(#[from] Box<figment::Error>),
    #[error("configuration key `{key}`: {reason}")]
    Invalid { key: String, reason: String },
}

/// The whole configuration. Every field has a default, so running with no
/// file at all works.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// SQLite file and other state; relative to the working directory.
    pub data_dir: PathBuf,
    pub api: ApiConfig,
    /// Host networks VIPs come from.
    pub networks: Vec<NetworkConfig>,
    /// `local` (host addresses) or `noop` (records calls, touches nothing).
    pub network_driver: NetworkDriverKind,
    pub log: LogConfig,
    pub housekeeping: HousekeepingConfig,
    pub dataplane: DataPlaneSection,
}

/// `[api]`: where the REST API and web UI listen.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub address: IpAddr,
    /// 0 picks a free port (logged at start-up).
    pub port: u16,
}

/// `[[networks]]`: one host network.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// Stable id; derived from `name` when absent.
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
    /// The network's id: the configured one, else derived from its name.
    pub fn network_id(&self) -> NetworkId {
        NetworkId(
            self.id
                .unwrap_or_else(|| Uuid::new_v5(&NETWORK_ID_NAMESPACE, self.name.as_bytes())),
        )
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
        }
    }
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            address: IpAddr::from([127, 0, 0, 1]),
            port: 9876,
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
    /// The figment of defaults, file and environment. `file` is the
    /// `--config` path; without it the system path is read when it exists.
    pub fn figment(file: Option<&Path>) -> Figment {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new(SYSTEM_CONFIG_PATH).exists() => {
                figment = figment.merge(Toml::file_exact(SYSTEM_CONFIG_PATH))
            }
            None => {}
        }
        figment.merge(Env::prefixed("BALLAST_").split("__"))
    }

    /// Load and validate the configuration.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        if let Some(path) = file
            && !path.exists()
        {
            return Err(ConfigError::Invalid {
                key: "--config".into(),
                reason: format!("{} does not exist", path.display()),
            });
        }
        let config: Config = Self::figment(file)
            .extract()
            .map_err(|e| ConfigError::Parse(Box::new(e)))?;
        config.validate()?;
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
        let mut ids = std::collections::HashSet::new();
        for (i, net) in self.networks.iter().enumerate() {
            let key = |field: &str| format!("networks[{i}].{field}");
            if net.name.trim().is_empty() {
                return Err(invalid(key("name"), "must not be empty"));
            }
            if !ids.insert(net.network_id()) {
                return Err(invalid(key("name"), "duplicate network name or id"));
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
        assert_eq!(
            config.networks[0].network_id(),
            Config::default().networks[0].network_id()
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = load_in_jail("[api]\nprot = 1\n").unwrap_err();
        assert!(err.contains("prot"), "{err}");
    }

    #[test]
    fn bad_cidr_is_named() {
        let err = load_in_jail(
            "[[networks]]\nname = \"x\"\nmode = \"loopback\"\ncidr = \"127.77.0.0/99\"\n",
        )
        .unwrap_err();
        assert!(err.contains("cidr"), "{err}");
    }

    #[test]
    fn loopback_cidr_outside_127_is_refused() {
        let err = load_in_jail(
            "[[networks]]\nname = \"x\"\nmode = \"loopback\"\ncidr = \"10.0.0.0/24\"\n",
        )
        .unwrap_err();
        assert!(err.contains("networks[0].cidr"), "{err}");
    }

    #[test]
    fn interface_mode_without_interface_is_refused() {
        let err = load_in_jail(
            "[[networks]]\nname = \"x\"\nmode = \"interface\"\ncidr = \"10.0.0.0/24\"\n",
        )
        .unwrap_err();
        assert!(err.contains("networks[0].interface"), "{err}");
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
    fn dataplane_workers_default_to_one_per_cpu_and_are_bounded() {
        let config = load_in_jail("[dataplane]\nworkers = 3\n").unwrap();
        assert_eq!(config.dataplane.workers(), 3);
        assert_eq!(
            Config::default().dataplane.workers(),
            crate::dataplane::default_workers()
        );
        let err = load_in_jail("[dataplane]\nworkers = 100000\n").unwrap_err();
        assert!(err.contains("dataplane.workers"), "{err}");
    }

    #[test]
    fn data_timeouts_default_to_octavias_and_zero_is_refused() {
        let config = Config::default();
        assert_eq!(config.dataplane.client_data_timeout_secs, 50);
        assert_eq!(config.dataplane.member_data_timeout_secs, 50);
        for key in ["client_data_timeout_secs", "member_data_timeout_secs"] {
            let err = load_in_jail(&format!("[dataplane]\n{key} = 0\n")).unwrap_err();
            assert!(err.contains(&format!("dataplane.{key}")), "{err}");
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
