//! Plain shared types: typed ids, statuses, protocols, algorithms, job
//! kinds, listener counters and the small pure rules every part agrees on
//! (protocol compatibility, "counters never go backwards").
//!
//! No I/O lives here, and nothing here imports another part of the crate. The text form of every enum (serde and SQL alike) is the
//! API's spelling, so one string travels unchanged from JSON to the schema's
//! `CHECK` constraints and back.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub mod expected_codes;

pub use expected_codes::{ExpectedCodes, parse_expected_codes};

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A fresh random (v4) id.
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                // Lowercase and hyphenated: the only form the API shows.
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(/// Id of a load balancer.
    LoadBalancerId);
typed_id!(/// Id of a listener.
    ListenerId);
typed_id!(/// Id of a pool.
    PoolId);
typed_id!(/// Id of a pool member.
    MemberId);
typed_id!(/// Id of a host network VIPs are allocated from.
    NetworkId);
typed_id!(/// Id of a port: an address reservation on a host network.
    PortId);
typed_id!(/// Id of a TLS certificate container.
    CertificateId);
typed_id!(/// Id of a health monitor (one per pool; v2 names it, v1 never shows it).
    HealthMonitorId);
typed_id!(/// Id of the one Neutron-style subnet of a host network (see [`NetworkId::subnet_id`]).
    SubnetId);

/// Namespace of the v5 UUIDs that derive a subnet id from a network id. Fixed
/// forever: a changed namespace would change every subnet id clients stored.
const SUBNET_NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_0a52_3c8e_4b7a_9f0e_5a1d_b3c4_e2f1);

impl NetworkId {
    /// The id of this network's one subnet (its CIDR), as the v2 API and the
    /// Neutron look-ups show it: a v5 UUID of the network id, so it is stable
    /// across restarts and needs no storage.
    pub fn subnet_id(self) -> SubnetId {
        SubnetId(Uuid::new_v5(&SUBNET_NAMESPACE, self.0.as_bytes()))
    }
}

/// Namespace of the v5 UUIDs older Ballast builds derived a network's id
/// from, with its name alone. Fixed forever: databases written then hold
/// these ids (see [`NetworkNaming`]).
const LEGACY_NETWORK_NAMESPACE: Uuid = Uuid::from_u128(0x6b1f_5a0e_8c1d_4d7e_9a51_0f3c_2b7d_4e19);

/// How a host network configured without an explicit `id` gets one: a keyed
/// hash (HMAC-SHA256) of its name under this installation's secret, shaped as
/// a v4 UUID. The secret lives in the database, so an id is the same across
/// restarts and in a restored backup, yet differs between installations: a
/// web page cannot guess it to create objects on it. A network whose
/// name-only id (the derivation of older builds) is among the `legacy` ids
/// the database already held keeps that id, so its load balancers and ports
/// still resolve.
#[derive(Clone)]
pub struct NetworkNaming {
    key: aws_lc_rs::hmac::Key,
    legacy: std::collections::BTreeSet<NetworkId>,
}

impl fmt::Debug for NetworkNaming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret is what makes ids unguessable: never print it.
        f.debug_struct("NetworkNaming")
            .field("key", &"<redacted>")
            .field("legacy", &self.legacy)
            .finish()
    }
}

impl NetworkNaming {
    /// The naming of an installation with this `secret` whose database held
    /// the `legacy` network ids before network ids were keyed.
    pub fn new(secret: &[u8], legacy: impl IntoIterator<Item = NetworkId>) -> Self {
        Self {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
            legacy: legacy.into_iter().collect(),
        }
    }

    /// The id of network `name`: `explicit` (the configuration's `id`) when
    /// given, else its legacy id when the database already used it, else the
    /// keyed derivation.
    pub fn network_id(&self, explicit: Option<Uuid>, name: &str) -> NetworkId {
        if let Some(id) = explicit {
            return NetworkId(id);
        }
        let legacy = Self::legacy_id(name);
        if self.legacy.contains(&legacy) {
            return legacy;
        }
        // A prefix keeps this use of the key apart from any later one.
        let tag = aws_lc_rs::hmac::sign(&self.key, format!("network:{name}").as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&tag.as_ref()[..16]);
        NetworkId(uuid::Builder::from_random_bytes(bytes).into_uuid())
    }

    /// The id older builds gave network `name`: a v5 UUID of the name alone,
    /// which anyone can compute.
    pub fn legacy_id(name: &str) -> NetworkId {
        NetworkId(Uuid::new_v5(&LEGACY_NETWORK_NAMESPACE, name.as_bytes()))
    }
}

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The API and SQL spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue {
                        allowed: &[$($text),+],
                    }),
                }
            }
        }
    };
}

/// A string that is not one of an enum's values; `allowed` lists the values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    pub allowed: &'static [&'static str],
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "must be one of {}", self.allowed.join(", "))
    }
}

text_enum!(/// Where an object is in its provisioning lifecycle.
    ProvisioningStatus {
    PendingCreate => "PENDING_CREATE",
    Active => "ACTIVE",
    PendingUpdate => "PENDING_UPDATE",
    PendingDelete => "PENDING_DELETE",
    Deleted => "DELETED",
    Error => "ERROR",
});

impl ProvisioningStatus {
    /// True for the PENDING_* states, which lock the load balancer.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            Self::PendingCreate | Self::PendingUpdate | Self::PendingDelete
        )
    }
}

text_enum!(/// Whether an object is serving, as observed.
    OperatingStatus {
    Online => "ONLINE",
    Offline => "OFFLINE",
    Degraded => "DEGRADED",
    Error => "ERROR",
});

text_enum!(/// Listener and pool protocol.
    Protocol {
    Tcp => "TCP",
    Http => "HTTP",
    Https => "HTTPS",
});

/// Whether a pool speaking `pool` may serve a listener speaking `listener`:
/// the protocols must be equal, except that an HTTPS listener terminating
/// TLS (`terminates_tls`) may speak HTTP to its members.
pub fn protocols_compatible(listener: Protocol, terminates_tls: bool, pool: Protocol) -> bool {
    listener == pool || (listener == Protocol::Https && terminates_tls && pool == Protocol::Http)
}

text_enum!(/// How a pool picks a member for a new connection or request.
    LbAlgorithm {
    RoundRobin => "ROUND_ROBIN",
    LeastConnections => "LEAST_CONNECTIONS",
    SourceIp => "SOURCE_IP",
});

text_enum!(/// Session persistence kinds.
    SessionPersistenceType {
    HttpCookie => "HTTP_COOKIE",
    SourceIp => "SOURCE_IP",
});

text_enum!(/// Health monitor probe kinds.
    HealthMonitorType {
    Ping => "PING",
    Tcp => "TCP",
    Http => "HTTP",
    Https => "HTTPS",
});

text_enum!(/// HTTP methods a health monitor may use.
    HttpMethod {
    Get => "GET",
    Head => "HEAD",
    Post => "POST",
    Put => "PUT",
    Delete => "DELETE",
    Options => "OPTIONS",
    Patch => "PATCH",
    Connect => "CONNECT",
    Trace => "TRACE",
});

text_enum!(/// What a provisioning job does: one per API write that changes a load
    /// balancer. Stored in `jobs.kind` (backed by a `CHECK` since schema
    /// step 2), shown in job logs and the `kind` label of job metrics.
    JobKind {
    CreateLoadBalancer => "CreateLoadBalancer",
    UpdateLoadBalancer => "UpdateLoadBalancer",
    DeleteLoadBalancer => "DeleteLoadBalancer",
    CreateListener => "CreateListener",
    UpdateListener => "UpdateListener",
    DeleteListener => "DeleteListener",
    CreatePool => "CreatePool",
    UpdatePool => "UpdatePool",
    DeletePool => "DeletePool",
    CreateMember => "CreateMember",
    UpdateMember => "UpdateMember",
    DeleteMember => "DeleteMember",
    CreateHealthMonitor => "CreateHealthMonitor",
    UpdateHealthMonitor => "UpdateHealthMonitor",
    DeleteHealthMonitor => "DeleteHealthMonitor",
    BatchUpdateMembers => "BatchUpdateMembers",
});

text_enum!(/// How the local network driver makes a VIP reachable.
    NetworkMode {
    Loopback => "loopback",
    Interface => "interface",
});

/// Session persistence of a pool, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPersistence {
    #[serde(rename = "type")]
    pub kind: SessionPersistenceType,
    pub cookie_name: Option<String>,
}

/// Cookie name used by HTTP_COOKIE persistence when the client gives none.
pub const DEFAULT_COOKIE_NAME: &str = "BALLAST_SERVERID";

/// Listener counters as the API shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerStats {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub active_connections: u64,
    pub total_connections: u64,
}

impl ListenerStats {
    /// The totals part of these counters: what is persisted and survives a
    /// restart (`active_connections` does not).
    pub fn totals(&self) -> StatsBase {
        StatsBase {
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            total_connections: self.total_connections,
        }
    }

    /// These counters with their totals raised to at least `base` (see
    /// [`StatsBase::at_least`]); `active_connections` is kept as it is.
    pub fn at_least(self, base: StatsBase) -> Self {
        let totals = self.totals().at_least(base);
        Self {
            bytes_in: totals.bytes_in,
            bytes_out: totals.bytes_out,
            active_connections: self.active_connections,
            total_connections: totals.total_connections,
        }
    }
}

/// Persisted counter totals of a listener: what the store keeps and the data
/// plane resumes from after a restart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsBase {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub total_connections: u64,
}

impl StatsBase {
    /// The one rule for "counters never go backwards": each total is the
    /// larger of this one and `other`'s. The live counters may be behind the
    /// persisted ones (a listener disabled or not yet re-applied), and a late
    /// write may carry older values than the stored ones; neither may show
    /// or store a smaller total.
    pub fn at_least(self, other: StatsBase) -> Self {
        Self {
            bytes_in: self.bytes_in.max(other.bytes_in),
            bytes_out: self.bytes_out.max(other.bytes_out),
            total_connections: self.total_connections.max(other.total_connections),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_text_round_trips_and_lists_allowed_values() {
        for s in ProvisioningStatus::ALL {
            assert_eq!(s.as_str().parse::<ProvisioningStatus>().unwrap(), *s);
        }
        let err = "BOGUS".parse::<LbAlgorithm>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "must be one of ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP"
        );
    }

    #[test]
    fn totals_never_go_backwards_and_active_connections_stay_live() {
        let live = ListenerStats {
            bytes_in: 5,
            bytes_out: 50,
            active_connections: 2,
            total_connections: 1,
        };
        let base = StatsBase {
            bytes_in: 10,
            bytes_out: 20,
            total_connections: 3,
        };
        assert_eq!(
            live.at_least(base),
            ListenerStats {
                bytes_in: 10,
                bytes_out: 50,
                active_connections: 2,
                total_connections: 3,
            }
        );
        assert_eq!(base.at_least(live.totals()), live.at_least(base).totals());
    }

    #[test]
    fn an_https_listener_terminating_tls_may_speak_http_to_members() {
        use Protocol::*;
        assert!(protocols_compatible(Https, true, Http));
        assert!(!protocols_compatible(Https, false, Http));
        assert!(protocols_compatible(Tcp, false, Tcp));
        assert!(!protocols_compatible(Http, false, Tcp));
    }

    #[test]
    fn a_keyed_network_id_depends_on_the_secret_and_is_stable_for_one() {
        let one = NetworkNaming::new(&[1; 32], []);
        let other = NetworkNaming::new(&[2; 32], []);
        let id = one.network_id(None, "public");
        assert_eq!(
            id,
            NetworkNaming::new(&[1; 32], []).network_id(None, "public")
        );
        assert_ne!(id, other.network_id(None, "public"));
        assert_ne!(id, one.network_id(None, "private"));
        assert_ne!(id, NetworkNaming::legacy_id("public"));
        assert_eq!(id.0.get_version_num(), 4);
    }

    #[test]
    fn an_explicit_id_wins_and_a_used_legacy_id_is_kept() {
        let explicit: Uuid = "0a0b0c0d-0000-4000-8000-000000000001".parse().unwrap();
        let legacy = NetworkNaming::legacy_id("public");
        let naming = NetworkNaming::new(&[1; 32], [legacy]);
        assert_eq!(naming.network_id(Some(explicit), "public").0, explicit);
        assert_eq!(naming.network_id(None, "public"), legacy);
        assert_ne!(
            naming.network_id(None, "private"),
            NetworkNaming::legacy_id("private"),
            "only the ids the database held stay legacy"
        );
        assert!(
            !format!("{naming:?}").contains("[1"),
            "the secret is not printed"
        );
    }

    #[test]
    fn a_subnet_id_is_stable_and_differs_from_its_network_id() {
        let net: NetworkId = "0a0b0c0d-0000-4000-8000-000000000001".parse().unwrap();
        assert_eq!(net.subnet_id(), net.subnet_id());
        assert_ne!(net.subnet_id().0, net.0);
        assert_ne!(net.subnet_id(), NetworkId::new().subnet_id());
    }

    #[test]
    fn ids_display_lowercase_hyphenated() {
        let id: MemberId = "0A0B0C0D-0000-4000-8000-000000000001".parse().unwrap();
        assert_eq!(id.to_string(), "0a0b0c0d-0000-4000-8000-000000000001");
    }
}
