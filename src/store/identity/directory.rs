//! Projects, users and their role assignments.

use rusqlite::{Connection, OptionalExtension, Row, params};
use serde::Serialize;

use super::{Role, new_id};
use crate::store::{Result, StoreError, now};

/// A project (Keystone's; Octavia's `project_id` of the objects in it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Project {
    /// 32 hex digits.
    pub id: String,
    /// Unique.
    pub name: String,
    pub description: String,
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// A user. The password hash stays in the store: it is never read into this.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// 32 hex digits.
    pub id: String,
    /// Unique.
    pub name: String,
    pub default_project_id: Option<String>,
    pub enabled: bool,
    /// Unix seconds.
    pub created_at: i64,
}

fn project_row(r: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        enabled: r.get(3)?,
        created_at: r.get(4)?,
    })
}

const PROJECT_COLS: &str = "id, name, description, enabled, created_at";

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        name: r.get(1)?,
        default_project_id: r.get(2)?,
        enabled: r.get(3)?,
        created_at: r.get(4)?,
    })
}

const USER_COLS: &str = "id, name, default_project_id, enabled, created_at";

/// Check a project or user name: 1..=255 characters, no control characters.
fn check_name(field: &'static str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(StoreError::invalid(
            field,
            "must be 1 to 255 characters, without control characters",
        ));
    }
    Ok(())
}

/// Insert a project named `name`; 409 when the name is taken.
pub fn insert_project(conn: &Connection, name: &str, description: &str) -> Result<Project> {
    check_name("name", name)?;
    if project_by_name(conn, name)?.is_some() {
        return Err(StoreError::conflict(
            "project",
            format!("a project named {name:?} already exists"),
        ));
    }
    let p = Project {
        id: new_id(),
        name: name.to_string(),
        description: description.to_string(),
        enabled: true,
        created_at: now(),
    };
    conn.execute(
        "INSERT INTO projects (id, name, description, enabled, created_at) VALUES (?1, ?2, ?3, 1, ?4)",
        params![p.id, p.name, p.description, p.created_at],
    )?;
    Ok(p)
}

/// The project `id`.
pub fn get_project(conn: &Connection, id: &str) -> Result<Option<Project>> {
    Ok(conn
        .query_row(
            &format!("SELECT {PROJECT_COLS} FROM projects WHERE id = ?1"),
            [id],
            project_row,
        )
        .optional()?)
}

/// The project named `name`.
pub fn project_by_name(conn: &Connection, name: &str) -> Result<Option<Project>> {
    Ok(conn
        .query_row(
            &format!("SELECT {PROJECT_COLS} FROM projects WHERE name = ?1"),
            [name],
            project_row,
        )
        .optional()?)
}

/// Every project, by name.
pub fn list_projects(conn: &Connection) -> Result<Vec<Project>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {PROJECT_COLS} FROM projects ORDER BY name"
    ))?;
    let rows = stmt.query_map([], project_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Insert a user. `password_hash` comes from
/// [`hash_secret`](super::hash_secret), never a clear password.
pub fn insert_user(
    conn: &Connection,
    name: &str,
    password_hash: Option<&str>,
    default_project_id: Option<&str>,
) -> Result<User> {
    check_name("name", name)?;
    if user_by_name(conn, name)?.is_some() {
        return Err(StoreError::conflict(
            "user",
            format!("a user named {name:?} already exists"),
        ));
    }
    if let Some(p) = default_project_id
        && get_project(conn, p)?.is_none()
    {
        return Err(StoreError::invalid(
            "default_project_id",
            format!("project {p} not found"),
        ));
    }
    let u = User {
        id: new_id(),
        name: name.to_string(),
        default_project_id: default_project_id.map(str::to_string),
        enabled: true,
        created_at: now(),
    };
    conn.execute(
        "INSERT INTO users (id, name, password_hash, default_project_id, enabled, created_at)
         VALUES (?1, ?2, ?3, ?4, 1, ?5)",
        params![
            u.id,
            u.name,
            password_hash,
            u.default_project_id,
            u.created_at
        ],
    )?;
    Ok(u)
}

/// Replace a user's password hash.
pub fn set_password_hash(conn: &Connection, user_id: &str, password_hash: &str) -> Result<()> {
    conn.execute(
        "UPDATE users SET password_hash = ?2 WHERE id = ?1",
        params![user_id, password_hash],
    )?;
    Ok(())
}

/// The user `id`.
pub fn get_user(conn: &Connection, id: &str) -> Result<Option<User>> {
    Ok(conn
        .query_row(
            &format!("SELECT {USER_COLS} FROM users WHERE id = ?1"),
            [id],
            user_row,
        )
        .optional()?)
}

/// The user named `name`.
pub fn user_by_name(conn: &Connection, name: &str) -> Result<Option<User>> {
    Ok(conn
        .query_row(
            &format!("SELECT {USER_COLS} FROM users WHERE name = ?1"),
            [name],
            user_row,
        )
        .optional()?)
}

/// A user's password hash, for verifying a login (None: no password set).
pub fn password_hash(conn: &Connection, user_id: &str) -> Result<Option<String>> {
    Ok(conn
        .query_row(
            "SELECT password_hash FROM users WHERE id = ?1",
            [user_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten())
}

/// Every user, by name.
pub fn list_users(conn: &Connection) -> Result<Vec<User>> {
    let mut stmt = conn.prepare(&format!("SELECT {USER_COLS} FROM users ORDER BY name"))?;
    let rows = stmt.query_map([], user_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Give `user` the `role` on `project` (doing it twice changes nothing).
pub fn grant(conn: &Connection, user_id: &str, project_id: &str, role: Role) -> Result<()> {
    conn.execute(
        "INSERT OR IGNORE INTO role_assignments (user_id, project_id, role) VALUES (?1, ?2, ?3)",
        params![user_id, project_id, role.as_str()],
    )?;
    Ok(())
}

/// Take `role` on `project` from `user`; whether it was held.
pub fn revoke(conn: &Connection, user_id: &str, project_id: &str, role: Role) -> Result<bool> {
    Ok(conn.execute(
        "DELETE FROM role_assignments WHERE user_id = ?1 AND project_id = ?2 AND role = ?3",
        params![user_id, project_id, role.as_str()],
    )? > 0)
}

/// The roles `user` was given on `project` (not the implied ones).
pub fn roles_on(conn: &Connection, user_id: &str, project_id: &str) -> Result<Vec<Role>> {
    let mut stmt = conn.prepare(
        "SELECT role FROM role_assignments WHERE user_id = ?1 AND project_id = ?2 ORDER BY role",
    )?;
    let rows = stmt.query_map([user_id, project_id], |r| r.get::<_, String>(0))?;
    let mut roles = Vec::new();
    for name in rows {
        let name = name?;
        roles.push(Role::from_name(&name).ok_or_else(|| StoreError::Corrupt {
            table: "role_assignments",
            reason: format!("unknown role {name:?}"),
        })?);
    }
    roles.sort();
    Ok(roles)
}

/// Every `(project_id, role)` of a user.
pub fn assignments_of(conn: &Connection, user_id: &str) -> Result<Vec<(String, Role)>> {
    let mut stmt = conn.prepare(
        "SELECT project_id, role FROM role_assignments WHERE user_id = ?1 ORDER BY project_id, role",
    )?;
    let rows = stmt.query_map([user_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (project, name) = row?;
        if let Some(role) = Role::from_name(&name) {
            out.push((project, role));
        }
    }
    Ok(out)
}

/// What [`bootstrap`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bootstrapped {
    pub project: Project,
    pub user: User,
    pub created_project: bool,
    pub created_user: bool,
}

/// Make sure the project and the user exist, that the user has the given
/// password (its hash) and is `admin` on the project. Running it again with
/// the same arguments changes nothing but the password's salt.
pub fn bootstrap(
    conn: &Connection,
    username: &str,
    project: &str,
    password_hash: &str,
) -> Result<Bootstrapped> {
    let (project, created_project) = match project_by_name(conn, project)? {
        Some(p) => (p, false),
        None => (insert_project(conn, project, "Bootstrap project")?, true),
    };
    let (user, created_user) = match user_by_name(conn, username)? {
        Some(u) => {
            set_password_hash(conn, &u.id, password_hash)?;
            (u, false)
        }
        None => (
            insert_user(conn, username, Some(password_hash), Some(&project.id))?,
            true,
        ),
    };
    grant(conn, &user.id, &project.id, Role::Admin)?;
    Ok(Bootstrapped {
        project,
        user,
        created_project,
        created_user,
    })
}
