//! Identity in the store: projects, users, role assignments
//! ([`directory`]), application credentials and tokens ([`tokens`]), and the
//! secret handling they share (this file).
//!
//! Secrets never reach the database or the log in clear: passwords and
//! application credential secrets are stored as argon2id PHC strings, tokens
//! as their SHA-256. Hashing with argon2 is slow on purpose, so callers hash
//! *before* entering a write transaction (the one writer thread must not
//! wait on it) and verify outside it. This module never decides who may do
//! what: that is `api::auth`'s.

pub mod directory;
pub mod tokens;

use std::fmt;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::{Result, StoreError};

/// The one domain Ballast has: Keystone's `default`.
pub const DOMAIN_ID: &str = "default";
/// Its name as clients send it (`--os-user-domain-name Default`).
pub const DOMAIN_NAME: &str = "Default";

/// A role on a project. Each includes the ones below it: an `admin` may do
/// what a `member` may, a `member` what a `reader` may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read the project's objects.
    Reader,
    /// Read and write the project's objects.
    Member,
    /// Every project's objects, and identity management.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Reader, Role::Member, Role::Admin];

    /// The role's name, which is also its Keystone id.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    /// The role named `name` (its name is its id).
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// The roles a holder of this one has, itself included, lowest first
    /// (what a token lists, as Keystone lists implied roles).
    pub fn implied(self) -> Vec<Role> {
        Role::ALL.into_iter().filter(|r| *r <= self).collect()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret's argon2id PHC string, salted with 128 random bits. Slow on
/// purpose (tens of milliseconds): call it off the async runtime and outside
/// any write transaction.
pub fn hash_secret(secret: &str) -> Result<String> {
    let mut salt = [0u8; 16];
    random(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| StoreError::Task(e.to_string()))?;
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Task(format!("hashing a secret: {e}")))
}

/// Whether `secret` matches the PHC string `hash` (the comparison inside is
/// constant-time). A hash that does not parse matches nothing.
pub fn verify_secret(hash: &str, secret: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(secret.as_bytes(), &h)
            .is_ok()
    })
}

/// A PHC string that matches no secret, for verifying against when the user
/// does not exist: a login for an unknown name then costs as much as one for
/// a known name, so timing does not tell which names exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_secret("ballast: no such user; this hash matches nothing")
            .unwrap_or_else(|_| "$argon2id$v=19$m=19456,t=2,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into())
    })
}

/// Fill `buf` from the system's CSPRNG.
pub fn random(buf: &mut [u8]) -> Result<()> {
    SystemRandom::new()
        .fill(buf)
        .map_err(|_| StoreError::Task("the system random source failed".into()))
}

/// `n` random bytes as lower-case hex.
pub fn random_hex(n: usize) -> Result<String> {
    let mut buf = vec![0u8; n];
    random(&mut buf)?;
    Ok(hex(&buf))
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new Keystone-style id: 32 lower-case hex digits.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Read a JSON list of role names (a column written by this module).
fn roles_from_sql(table: &'static str, text: &str) -> rusqlite::Result<Vec<Role>> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("{table}: roles {text:?}: {e}").into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_secret_verifies_only_itself_and_is_not_the_secret() {
        let h = hash_secret("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_secret(&h, "correct horse"));
        assert!(!verify_secret(&h, "correct horsf"));
        assert!(!verify_secret("not a hash", "correct horse"));
        assert!(!verify_secret(dummy_hash(), ""));
        assert_ne!(h, hash_secret("correct horse").unwrap(), "salted");
    }

    #[test]
    fn each_role_implies_the_ones_below_it() {
        assert_eq!(Role::Admin.implied(), Role::ALL.to_vec());
        assert_eq!(Role::Reader.implied(), vec![Role::Reader]);
        assert_eq!(Role::from_name("member"), Some(Role::Member));
        assert_eq!(Role::from_name("Member"), None);
    }
}
