//! The identity commands of the `ballast` binary: `bootstrap` (the first
//! admin, like `keystone-manage bootstrap`), `user add|list`, `project
//! add|list` and `app-credential create`. They work on the database
//! directly (safe beside a running `ballast serve`: SQLite's WAL), hash
//! secrets before they reach it, and never print a secret except a new
//! application credential's, once.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use crate::store::identity::directory::{self, Bootstrapped};
use crate::store::identity::tokens::{self, NewAppCredential};
use crate::store::identity::{Role, hash_secret, random_hex};
use crate::store::{Store, StoreError};

/// Why an identity command failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

type Result<T> = std::result::Result<T, AccountsError>;

/// Where a password comes from: a file (`-` is standard input), else a
/// prompt without echo when standard input is a terminal.
pub fn read_password(file: Option<&Path>, prompt: &str) -> Result<String> {
    let raw = match file {
        Some(p) if p == Path::new("-") => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|source| AccountsError::Io {
                    what: "standard input".into(),
                    source,
                })?;
            line
        }
        Some(p) => std::fs::read_to_string(p).map_err(|source| AccountsError::Io {
            what: p.display().to_string(),
            source,
        })?,
        None if std::io::stdin().is_terminal() => prompt_without_echo(prompt)?,
        None => {
            return Err(AccountsError::Invalid(
                "no --password-file and standard input is not a terminal to prompt on".into(),
            ));
        }
    };
    // A file's trailing newline is not part of the password.
    let password = raw.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        return Err(AccountsError::Invalid("the password is empty".into()));
    }
    Ok(password)
}

fn prompt_without_echo(prompt: &str) -> Result<String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let io = |source| AccountsError::Io {
        what: "terminal".into(),
        source,
    };
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).map_err(|e| io(e.into()))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    eprint!("{prompt}");
    std::io::stderr().flush().map_err(io)?;
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet).map_err(|e| io(e.into()))?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    // Echo comes back whatever the read did.
    let restored = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read.map_err(io)?;
    restored.map_err(|e| io(e.into()))?;
    Ok(line)
}

/// Run `f` in one write transaction of the store in `data_dir`.
fn write<T: Send + 'static>(
    data_dir: &Path,
    f: impl FnOnce(&rusqlite::Connection) -> crate::store::Result<T> + Send + 'static,
) -> Result<T> {
    let store = Store::open(data_dir)?;
    let mut conn = store.conn()?;
    let tx = conn.transaction().map_err(StoreError::from)?;
    let out = f(&tx)?;
    tx.commit().map_err(StoreError::from)?;
    Ok(out)
}

fn read<T>(
    data_dir: &Path,
    f: impl FnOnce(&rusqlite::Connection) -> crate::store::Result<T>,
) -> Result<T> {
    let store = Store::open(data_dir)?;
    let conn = store.conn()?;
    Ok(f(&conn)?)
}

/// `ballast bootstrap`: the project, the user with this password, and the
/// admin role between them; idempotent.
pub fn bootstrap(
    data_dir: &Path,
    username: &str,
    project: &str,
    password: &str,
) -> Result<Bootstrapped> {
    let hash = hash_secret(password)?;
    let (username, project) = (username.to_string(), project.to_string());
    write(data_dir, move |tx| {
        directory::bootstrap(tx, &username, &project, &hash)
    })
}

/// `ballast project add`.
pub fn add_project(data_dir: &Path, name: &str, description: &str) -> Result<directory::Project> {
    let (name, description) = (name.to_string(), description.to_string());
    write(data_dir, move |tx| {
        directory::insert_project(tx, &name, &description)
    })
}

/// `ballast project list`.
pub fn list_projects(data_dir: &Path) -> Result<Vec<directory::Project>> {
    read(data_dir, directory::list_projects)
}

/// `ballast user add`: the user, with `role` on `project` when both are
/// given (the project becomes the user's default).
pub fn add_user(
    data_dir: &Path,
    name: &str,
    password: Option<&str>,
    project: Option<&str>,
    role: Option<Role>,
) -> Result<directory::User> {
    if role.is_some() && project.is_none() {
        return Err(AccountsError::Invalid("--role needs --project".into()));
    }
    let hash = password.map(hash_secret).transpose()?;
    let (name, project) = (name.to_string(), project.map(str::to_string));
    write(data_dir, move |tx| {
        let project = match project {
            Some(p) => Some(directory::project_by_name(tx, &p)?.ok_or_else(|| {
                StoreError::invalid("project", format!("no project named {p:?}"))
            })?),
            None => None,
        };
        let user = directory::insert_user(
            tx,
            &name,
            hash.as_deref(),
            project.as_ref().map(|p| p.id.as_str()),
        )?;
        if let (Some(p), Some(role)) = (&project, role) {
            directory::grant(tx, &user.id, &p.id, role)?;
        }
        Ok(user)
    })
}

/// One line per user of `ballast user list`: the user and its assignments
/// as `project:role`.
pub fn list_users(data_dir: &Path) -> Result<Vec<(directory::User, Vec<String>)>> {
    read(data_dir, |conn| {
        let projects = directory::list_projects(conn)?;
        let name_of = |id: &str| {
            projects
                .iter()
                .find(|p| p.id == id)
                .map_or_else(|| id.to_string(), |p| p.name.clone())
        };
        let mut out = Vec::new();
        for u in directory::list_users(conn)? {
            let roles = directory::assignments_of(conn, &u.id)?
                .into_iter()
                .map(|(p, r)| format!("{}:{r}", name_of(&p)))
                .collect();
            out.push((u, roles));
        }
        Ok(out)
    })
}

/// `ballast app-credential create`: a credential of `user` on `project`
/// with `roles` (default: all the user's there); returns it and its secret.
pub fn create_app_credential(
    data_dir: &Path,
    user: &str,
    project: &str,
    name: &str,
    roles: &[Role],
) -> Result<(tokens::AppCredential, String)> {
    let secret = random_hex(32)?;
    let hash = hash_secret(&secret)?;
    let (user, project, name, roles) = (
        user.to_string(),
        project.to_string(),
        name.to_string(),
        roles.to_vec(),
    );
    let cred = write(data_dir, move |tx| {
        let u = directory::user_by_name(tx, &user)?
            .ok_or_else(|| StoreError::invalid("user", format!("no user named {user:?}")))?;
        let p = directory::project_by_name(tx, &project)?.ok_or_else(|| {
            StoreError::invalid("project", format!("no project named {project:?}"))
        })?;
        let held: Vec<Role> = directory::roles_on(tx, &u.id, &p.id)?
            .into_iter()
            .flat_map(Role::implied)
            .collect();
        if held.is_empty() {
            return Err(StoreError::invalid(
                "project",
                format!("{user} has no role on {project}"),
            ));
        }
        let roles = if roles.is_empty() {
            held.clone()
        } else {
            roles
        };
        if let Some(r) = roles.iter().find(|r| !held.contains(r)) {
            return Err(StoreError::invalid(
                "role",
                format!("{user} does not hold {r} on {project}"),
            ));
        }
        tokens::insert_app_credential(
            tx,
            &NewAppCredential {
                user_id: &u.id,
                project_id: &p.id,
                name: &name,
                description: "",
                secret_hash: &hash,
                roles: &roles,
                expires_at: None,
            },
        )
    })?;
    Ok((cred, secret))
}
