//! Application credentials and tokens.
//!
//! A token is 256 random bits handed to the client once; the store keeps its
//! SHA-256, the user, the project it is scoped to and its expiry. Its roles
//! are not stored: they are the user's roles on the project when the token
//! is checked (limited to an application credential's roles when it came
//! from one), so taking a role away takes effect at once.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Role, hex, new_id, random, roles_from_sql};
use crate::store::{Result, StoreError, now};

/// An application credential: a secret bound to one user and one project.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppCredential {
    pub id: String,
    pub user_id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    /// The roles it carries, at most the user's on the project.
    pub roles: Vec<Role>,
    /// Unix seconds; None: never.
    pub expires_at: Option<i64>,
    pub created_at: i64,
}

const CRED_COLS: &str = "id, user_id, project_id, name, description, roles, expires_at, created_at";

fn cred_row(r: &Row<'_>) -> rusqlite::Result<AppCredential> {
    Ok(AppCredential {
        id: r.get(0)?,
        user_id: r.get(1)?,
        project_id: r.get(2)?,
        name: r.get(3)?,
        description: r.get(4)?,
        roles: roles_from_sql("application_credentials", &r.get::<_, String>(5)?)?,
        expires_at: r.get(6)?,
        created_at: r.get(7)?,
    })
}

/// What a new application credential is.
pub struct NewAppCredential<'a> {
    pub user_id: &'a str,
    pub project_id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    /// From [`hash_secret`](super::hash_secret).
    pub secret_hash: &'a str,
    pub roles: &'a [Role],
    pub expires_at: Option<i64>,
}

/// Insert an application credential; 409 when the user has one of that name.
pub fn insert_app_credential(
    conn: &Connection,
    new: &NewAppCredential<'_>,
) -> Result<AppCredential> {
    if new.name.trim().is_empty() || new.name.chars().count() > 255 {
        return Err(StoreError::invalid("name", "must be 1 to 255 characters"));
    }
    if app_credential_by_name(conn, new.user_id, new.name)?.is_some() {
        return Err(StoreError::conflict(
            "application credential",
            format!(
                "an application credential named {:?} already exists",
                new.name
            ),
        ));
    }
    let c = AppCredential {
        id: new_id(),
        user_id: new.user_id.to_string(),
        project_id: new.project_id.to_string(),
        name: new.name.to_string(),
        description: new.description.to_string(),
        roles: new.roles.to_vec(),
        expires_at: new.expires_at,
        created_at: now(),
    };
    let roles = serde_json::to_string(&c.roles).map_err(|e| StoreError::Task(e.to_string()))?;
    conn.execute(
        &format!(
            "INSERT INTO application_credentials ({CRED_COLS}, secret_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ),
        params![
            c.id,
            c.user_id,
            c.project_id,
            c.name,
            c.description,
            roles,
            c.expires_at,
            c.created_at,
            new.secret_hash
        ],
    )?;
    Ok(c)
}

/// The application credential `id`.
pub fn get_app_credential(conn: &Connection, id: &str) -> Result<Option<AppCredential>> {
    Ok(conn
        .query_row(
            &format!("SELECT {CRED_COLS} FROM application_credentials WHERE id = ?1"),
            [id],
            cred_row,
        )
        .optional()?)
}

/// The user's application credential named `name`.
pub fn app_credential_by_name(
    conn: &Connection,
    user_id: &str,
    name: &str,
) -> Result<Option<AppCredential>> {
    Ok(conn
        .query_row(
            &format!(
                "SELECT {CRED_COLS} FROM application_credentials WHERE user_id = ?1 AND name = ?2"
            ),
            [user_id, name],
            cred_row,
        )
        .optional()?)
}

/// The secret hash of application credential `id`, for a login.
pub fn app_credential_secret_hash(conn: &Connection, id: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT secret_hash FROM application_credentials WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?)
}

/// A user's application credentials, by name.
pub fn list_app_credentials(conn: &Connection, user_id: &str) -> Result<Vec<AppCredential>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {CRED_COLS} FROM application_credentials WHERE user_id = ?1 ORDER BY name"
    ))?;
    let rows = stmt.query_map([user_id], cred_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Delete a user's application credential (its tokens go with it); whether
/// it existed.
pub fn delete_app_credential(conn: &Connection, user_id: &str, id: &str) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM application_credentials WHERE user_id = ?1 AND id = ?2",
        [user_id, id],
    )? > 0)
}

/// A valid token's facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub user_id: String,
    /// None: unscoped.
    pub project_id: Option<String>,
    pub application_credential_id: Option<String>,
    /// `password`, `application_credential`, `token`.
    pub methods: Vec<String>,
    /// Keystone's audit id: names the token in logs without revealing it.
    pub audit_id: String,
    /// Unix seconds.
    pub issued_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

/// The stored form of a token: hex SHA-256.
pub fn token_hash(token: &str) -> String {
    hex(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref())
}

/// How long an expired token row is kept (seconds) before it is forgotten;
/// until then a check of it still says "expired" in the log.
const KEEP_EXPIRED_SECS: i64 = 24 * 3600;

/// What a new token is.
pub struct NewToken<'a> {
    pub user_id: &'a str,
    pub project_id: Option<&'a str>,
    pub application_credential_id: Option<&'a str>,
    pub methods: &'a [String],
    pub ttl_secs: i64,
    /// A token made from another expires no later than it (Keystone's rule
    /// for rescoping): the other's expiry.
    pub not_after: Option<i64>,
}

/// Issue a token: 256 random bits as 64 hex digits, returned once with
/// its facts; only its hash is stored. Long-expired rows are purged here.
pub fn issue(conn: &Connection, new: &NewToken<'_>) -> Result<(String, Token)> {
    let mut raw = [0u8; 32];
    random(&mut raw)?;
    let token = hex(&raw);
    let mut audit = [0u8; 16];
    random(&mut audit)?;
    let issued_at = now();
    let mut expires_at = issued_at + new.ttl_secs;
    if let Some(limit) = new.not_after {
        expires_at = expires_at.min(limit);
    }
    let t = Token {
        user_id: new.user_id.to_string(),
        project_id: new.project_id.map(str::to_string),
        application_credential_id: new.application_credential_id.map(str::to_string),
        methods: new.methods.to_vec(),
        audit_id: hex(&audit),
        issued_at,
        expires_at,
    };
    let methods = serde_json::to_string(&t.methods).map_err(|e| StoreError::Task(e.to_string()))?;
    conn.execute(
        "DELETE FROM tokens WHERE expires_at < ?1",
        [issued_at - KEEP_EXPIRED_SECS],
    )?;
    conn.execute(
        "INSERT INTO tokens (hash, user_id, project_id, application_credential_id, methods,
                             audit_id, issued_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            token_hash(&token),
            t.user_id,
            t.project_id,
            t.application_credential_id,
            methods,
            t.audit_id,
            t.issued_at,
            t.expires_at
        ],
    )?;
    Ok((token, t))
}

/// Why a token is not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejected {
    Unknown,
    Expired,
    Revoked,
    /// Its user, project or application credential is disabled or gone.
    Disabled,
}

/// The facts of `token` if it is valid now, else why not.
pub fn check(conn: &Connection, token: &str) -> Result<std::result::Result<Token, Rejected>> {
    let row = conn
        .query_row(
            "SELECT t.user_id, t.project_id, t.application_credential_id, t.methods, t.audit_id,
                    t.issued_at, t.expires_at, t.revoked, u.enabled,
                    coalesce(p.enabled, 1), c.expires_at
             FROM tokens t
             JOIN users u ON u.id = t.user_id
             LEFT JOIN projects p ON p.id = t.project_id
             LEFT JOIN application_credentials c ON c.id = t.application_credential_id
             WHERE t.hash = ?1",
            [token_hash(token)],
            |r| {
                let methods: String = r.get(3)?;
                Ok((
                    Token {
                        user_id: r.get(0)?,
                        project_id: r.get(1)?,
                        application_credential_id: r.get(2)?,
                        methods: serde_json::from_str(&methods).unwrap_or_default(),
                        audit_id: r.get(4)?,
                        issued_at: r.get(5)?,
                        expires_at: r.get(6)?,
                    },
                    r.get::<_, bool>(7)?,
                    r.get::<_, bool>(8)? && r.get::<_, bool>(9)?,
                    r.get::<_, Option<i64>>(10)?,
                ))
            },
        )
        .optional()?;
    let Some((t, revoked, enabled, cred_expiry)) = row else {
        return Ok(Err(Rejected::Unknown));
    };
    let now = now();
    Ok(if revoked {
        Err(Rejected::Revoked)
    } else if t.expires_at <= now {
        Err(Rejected::Expired)
    } else if !enabled || cred_expiry.is_some_and(|e| e <= now) {
        Err(Rejected::Disabled)
    } else {
        Ok(t)
    })
}

/// Revoke `token`; whether it was valid until now.
pub fn revoke(conn: &Connection, token: &str) -> Result<bool> {
    Ok(conn.execute(
        "UPDATE tokens SET revoked = 1 WHERE hash = ?1 AND revoked = 0 AND expires_at > ?2",
        params![token_hash(token), now()],
    )? > 0)
}

/// The roles a token carries now: the user's on its project (with the
/// implied ones), limited to its application credential's when it has one.
pub fn roles(conn: &Connection, t: &Token) -> Result<Vec<Role>> {
    let Some(project) = &t.project_id else {
        return Ok(Vec::new());
    };
    let mut roles: Vec<Role> = super::directory::roles_on(conn, &t.user_id, project)?
        .into_iter()
        .flat_map(Role::implied)
        .collect();
    if let Some(cred) = &t.application_credential_id {
        let allowed: Vec<Role> = get_app_credential(conn, cred)?
            .map(|c| c.roles.into_iter().flat_map(Role::implied).collect())
            .unwrap_or_default();
        roles.retain(|r| allowed.contains(r));
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}
