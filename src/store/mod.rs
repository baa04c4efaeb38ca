//! The SQLite store: an r2d2 pool of connections that all run in WAL mode with
//! foreign keys on, the migrations, and one repository module per resource.
//!
//! Repository functions take a `&Connection` (a `Transaction` derefs to one)
//! so callers compose a write and its job into one transaction. Async callers
//! go through [`Store::run`], which moves the work onto the blocking pool.

pub mod certificates;
pub mod events;
pub mod health_monitors;
pub mod identity;
pub mod installation;
pub mod jobs;
pub mod listeners;
pub mod load_balancers;
pub mod members;
pub mod migrations;
pub mod pools;
pub mod ports;
pub mod stats;
pub mod tree;
mod writer;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags};

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{reason}")]
    Conflict { kind: &'static str, reason: String },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("migration: {0}")]
    Migration(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("store task failed: {0}")]
    Task(String),
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
}

impl StoreError {
    pub(crate) fn conflict(kind: &'static str, reason: impl Into<String>) -> Self {
        Self::Conflict {
            kind,
            reason: reason.into(),
        }
    }
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    pool: Pool<SqliteConnectionManager>,
    path: PathBuf,
    /// Queue of the one writer thread (see [`writer`]).
    writer: std::sync::mpsc::Sender<writer::Op>,
}

/// The SQLite file inside a data directory.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ballast.sqlite3")
}

fn set_owner_only(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        StoreError::Io {
            path: path.to_path_buf(),
            source,
        }
    })
}

fn configure(conn: &mut Connection) -> rusqlite::Result<()> {
    // WAL lets readers run beside the writer; FULL makes an acknowledged
    // write survive power loss, which the 202 promises.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 10000;
         PRAGMA synchronous = FULL;",
    )
}

impl Store {
    /// Open (creating with owner-only permissions) the database in
    /// `data_dir` and bring it to the current schema. A file written by a
    /// newer Ballast is refused.
    pub fn open(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::Io {
            path: data_dir.to_path_buf(),
            source,
        })?;
        set_owner_only(data_dir, 0o700)?;
        let path = database_path(data_dir);
        {
            // Create the file ourselves so it never exists with wider modes.
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .map_err(|source| StoreError::Io {
                    path: path.clone(),
                    source,
                })?;
            set_owner_only(&path, 0o600)?;
        }
        let mut conn = Connection::open(&path)?;
        configure(&mut conn)?;
        migrations::migrate(&mut conn)?;
        drop(conn);
        let manager = SqliteConnectionManager::file(&path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(configure);
        let pool = Pool::builder().max_size(16).build(manager)?;
        let mut writer_conn = Connection::open(&path)?;
        configure(&mut writer_conn)?;
        let writer = writer::spawn(writer_conn)?;
        Ok(Store { pool, path, writer })
    }

    /// Path of the database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A pooled connection (blocking).
    pub fn conn(&self) -> Result<PooledConnection<SqliteConnectionManager>> {
        Ok(self.pool.get()?)
    }

    /// Run blocking store work on tokio's blocking pool.
    pub async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Run `f` in the store's write transaction and wait for the commit.
    /// `f` runs on the one writer thread inside its own savepoint: an `Err`
    /// rolls back exactly what `f` did and nothing else. Writes queued
    /// together share one commit (group commit), so concurrent writers
    /// share one fsync instead of queueing for one each. The result is
    /// handed back only after the commit is durable (`synchronous=FULL`).
    pub async fn write_with<T, E, F>(&self, f: F) -> std::result::Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(&Connection) -> std::result::Result<T, E> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let op: writer::Op = Box::new(PendingWrite { f, reply });
        self.writer
            .send(op)
            .map_err(|_| E::from(StoreError::Task("the writer thread is gone".into())))?;
        answer.await.map_err(|_| {
            E::from(StoreError::Task(
                "a write was abandoned by the writer".into(),
            ))
        })?
    }

    /// [`Store::write_with`] for store errors.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.write_with(f).await
    }
}

/// A write waiting for the writer thread, and where its answer goes.
struct PendingWrite<T, E, F> {
    f: F,
    reply: tokio::sync::oneshot::Sender<std::result::Result<T, E>>,
}

impl<T, E, F> writer::Write for PendingWrite<T, E, F>
where
    T: Send + 'static,
    E: From<StoreError> + Send + 'static,
    F: FnOnce(&Connection) -> std::result::Result<T, E> + Send + 'static,
{
    fn run(self: Box<Self>, conn: &Connection) -> (bool, writer::Deliver) {
        let PendingWrite { f, reply } = *self;
        let result = f(conn);
        let keep = result.is_ok();
        let deliver: writer::Deliver = Box::new(move |commit| {
            let out = match commit {
                Ok(()) => result,
                Err(e) => Err(E::from(e)),
            };
            // The caller may be gone (request cancelled); the outcome
            // stands either way.
            let _ = reply.send(out);
        });
        (keep, deliver)
    }

    fn abort(self: Box<Self>, error: StoreError) {
        // As above: nobody may be listening any more.
        let _ = self.reply.send(Err(E::from(error)));
    }
}

/// Set `operating_status` of row `id` in `table` (one of the resource tables,
/// never user input); returns whether it changed.
pub(crate) fn set_operating_status_of(
    conn: &Connection,
    table: &'static str,
    id: &str,
    status: crate::model::OperatingStatus,
) -> Result<bool> {
    let sql = format!(
        "UPDATE {table} SET operating_status = ?2 WHERE id = ?1 AND operating_status != ?2"
    );
    Ok(conn.execute(&sql, [id, status.as_str()])? > 0)
}

/// Set the (internal) `provisioning_status` of row `id` in `table`.
pub(crate) fn set_provisioning_status_of(
    conn: &Connection,
    table: &'static str,
    id: &str,
    status: crate::model::ProvisioningStatus,
) -> Result<()> {
    let sql = format!("UPDATE {table} SET provisioning_status = ?2 WHERE id = ?1");
    conn.execute(&sql, [id, status.as_str()])?;
    Ok(())
}

/// What one housekeeping purge removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// DELETED load balancers forgotten.
    pub load_balancers: usize,
    /// Closed (done or failed) jobs forgotten.
    pub jobs: usize,
}

/// Forget DELETED load balancers and closed jobs that ended before `before`
/// (Unix seconds), in the caller's transaction.
pub fn purge_closed_before(conn: &Connection, before: i64) -> Result<Purged> {
    Ok(Purged {
        load_balancers: load_balancers::purge_deleted_before(conn, before)?,
        jobs: jobs::purge_closed_before(conn, before)?,
    })
}

/// The SQL text of a tag list (a JSON array of strings).
pub(crate) fn tags_to_sql(tags: &[String]) -> String {
    serde_json::Value::from(tags.to_vec()).to_string()
}

/// Parse a `tags` column, reporting the table on failure.
pub(crate) fn tags_from_sql(table: &'static str, text: &str) -> rusqlite::Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("{table}: tags {text:?}: {e}").into(),
        )
    })
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Parse a text column into a typed value, reporting the table on failure.
pub(crate) fn parse_col<T: std::str::FromStr>(
    table: &'static str,
    text: &str,
) -> rusqlite::Result<T>
where
    T::Err: std::fmt::Display,
{
    text.parse::<T>().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("{table}: {text:?}: {e}").into(),
        )
    })
}
