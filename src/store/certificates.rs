//! Certificate rows: the local stand-in for Barbican TLS containers.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Result, now};
use crate::model::CertificateId;

/// A stored TLS container. The private key never leaves through the API.
#[derive(Clone)]
pub struct Certificate {
    pub id: CertificateId,
    pub name: Option<String>,
    pub certificate: String,
    pub private_key: String,
    pub intermediates: Option<String>,
    /// The project that owns it (None: made without identity, seen only
    /// by those who see every project).
    pub project_id: Option<String>,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never let the key reach a log line.
        f.debug_struct("Certificate")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Certificate> {
    Ok(Certificate {
        id: super::parse_col("certificates", &r.get::<_, String>(0)?)?,
        name: r.get(1)?,
        certificate: r.get(2)?,
        private_key: r.get(3)?,
        intermediates: r.get(4)?,
        project_id: r.get(5)?,
    })
}

/// The certificate `id`.
pub fn get(conn: &Connection, id: CertificateId) -> Result<Option<Certificate>> {
    Ok(conn
        .query_row(
            "SELECT id, name, certificate, private_key, intermediates, project_id \
             FROM certificates WHERE id = ?1",
            [id.to_string()],
            from_row,
        )
        .optional()?)
}

/// Every certificate, oldest first.
pub fn list(conn: &Connection) -> Result<Vec<Certificate>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, name, certificate, private_key, intermediates, project_id FROM certificates \
         ORDER BY created_at, rowid",
    )?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Insert a certificate.
pub fn insert(conn: &Connection, c: &Certificate) -> Result<()> {
    conn.execute(
        "INSERT INTO certificates \
         (id, name, certificate, private_key, intermediates, created_at, project_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            c.id.to_string(),
            c.name,
            c.certificate,
            c.private_key,
            c.intermediates,
            now(),
            c.project_id
        ],
    )?;
    Ok(())
}

/// Delete a certificate.
pub fn delete(conn: &Connection, id: CertificateId) -> Result<()> {
    conn.execute("DELETE FROM certificates WHERE id = ?1", [id.to_string()])?;
    Ok(())
}
