//! This installation's own facts, written once by migration step 4: the
//! secret network ids are derived with (see
//! [`NetworkNaming`](crate::model::NetworkNaming)) and the network ids the
//! database already held when it reached that step.
//!
//! Why the old ids are kept rather than rewritten: before step 4 a network's
//! id was a v5 UUID of its name alone. Those ids sit in
//! `load_balancers.vip_network_id` and `ports.network_id`, and clients stored
//! them too (Octavia's `vip_network_id`, scripts, Terraform state). Rewriting
//! the rows would need the configuration's network names inside the migration
//! and would still break every client that kept an id. So step 4 records the
//! ids in use as legacy ones: a network whose name-only id is among them keeps
//! it for good (also once its last load balancer is gone, so nothing flips
//! under a client later), while every network that had no object yet, and
//! every network of a new installation, gets an unguessable keyed id. Nothing
//! here depends on the configuration, so a backup holds everything an id
//! needs.

use rusqlite::{Connection, Transaction};

use super::{Result, StoreError};
use crate::model::{NetworkId, NetworkNaming};

/// Bytes of the network id secret.
const SECRET_LEN: usize = 32;

/// Step 4's schema; [`record_installation`] fills it in the same transaction.
pub(super) const STEP_SQL: &str = "
CREATE TABLE installation (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    network_id_secret BLOB NOT NULL CHECK (length(network_id_secret) = 32)
);
CREATE TABLE legacy_network_ids (
    network_id TEXT PRIMARY KEY
) WITHOUT ROWID;
INSERT INTO legacy_network_ids (network_id)
    SELECT vip_network_id FROM load_balancers
    UNION SELECT network_id FROM ports;
";

/// Step 4's hook: a fresh secret from the operating system's generator.
pub(super) fn record_installation(tx: &Transaction<'_>) -> rusqlite_migration::HookResult {
    use aws_lc_rs::rand::SecureRandom;
    let mut secret = [0u8; SECRET_LEN];
    aws_lc_rs::rand::SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| rusqlite_migration::HookError::Hook("no system randomness".into()))?;
    tx.execute(
        "INSERT INTO installation (id, network_id_secret) VALUES (1, ?1)",
        [&secret[..]],
    )?;
    Ok(())
}

/// How this installation names its networks.
pub fn network_naming(conn: &Connection) -> Result<NetworkNaming> {
    let secret: Vec<u8> = conn.query_row(
        "SELECT network_id_secret FROM installation WHERE id = 1",
        [],
        |r| r.get(0),
    )?;
    if secret.len() != SECRET_LEN {
        return Err(StoreError::Corrupt {
            table: "installation",
            reason: format!("network_id_secret has {} bytes", secret.len()),
        });
    }
    let mut stmt = conn.prepare("SELECT network_id FROM legacy_network_ids")?;
    let legacy = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .map(|text| {
            let text = text?;
            text.parse::<NetworkId>().map_err(|e| StoreError::Corrupt {
                table: "legacy_network_ids",
                reason: format!("{text}: {e}"),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(NetworkNaming::new(&secret, legacy))
}
