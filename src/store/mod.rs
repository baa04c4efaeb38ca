//! The SQLite store: an r2d2 pool of connections that all run in WAL mode with
//! foreign keys on, the migrations, and one repository module per resource.
//!
//! Repository functions take a `&Connection` (a `Transaction` derefs to one)
//! so callers compose a write and its job into one transaction. Async callers
//! go through [`Store::run`], which moves the work onto the blocking pool.

pub mod certificates;
pub mod health_monitors;
pub mod jobs;
pub mod listeners;
pub mod load_balancers;
pub mod members;
pub mod migrations;
pub mod pools;
pub mod ports;
pub mod stats;
pub mod tree;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use r2d2::{Pool, PooledConnection};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

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
    /// Serialises this process's write transactions. Without it, writers
    /// that find SQLite's write lock taken sleep in its busy handler
    /// (1, 2, 5, 10 … 100 ms steps) instead of queueing, which put
    /// hundreds of milliseconds into the tail latency of concurrent writes.
    write_lock: Arc<Mutex<()>>,
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
        Ok(Store {
            pool,
            path,
            write_lock: Arc::new(Mutex::new(())),
        })
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

    /// Run blocking write work on tokio's blocking pool, holding the
    /// process's write lock: `f` should open one IMMEDIATE transaction.
    /// Every writer goes through here (or [`Store::write`]) so writers queue
    /// in-process instead of in SQLite's sleeping busy handler.
    pub async fn run_write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let pool = self.pool.clone();
        let write_lock = Arc::clone(&self.write_lock);
        tokio::task::spawn_blocking(move || {
            // The lock is taken before the connection, so waiting writers do
            // not hold pool connections that readers need. A poisoned lock
            // only means another writer panicked; the guarded data is ().
            let _serial = write_lock.lock().unwrap_or_else(|e| e.into_inner());
            let mut conn = pool.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError::Task(e.to_string()))?
    }

    /// Run `f` inside one IMMEDIATE transaction (the write lock is taken up
    /// front, so checks and writes see the same state); commits on Ok.
    pub async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.run_write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Like [`Store::write`], but the commit does not wait for the disk
    /// (`synchronous = NORMAL` for this one transaction; WAL mode keeps the
    /// file consistent and a `kill -9` loses nothing). For the controller's
    /// own bookkeeping only, never for an API write: if power fails before
    /// the next fsync, the job it belongs to is still open and is simply
    /// run again on start-up, and every flow is idempotent. The next FULL
    /// commit syncs the WAL file, these frames included, so order is kept.
    pub async fn write_relaxed<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T> + Send + 'static,
    {
        self.run_write(move |conn| {
            conn.pragma_update(None, "synchronous", "NORMAL")?;
            let result = (|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let out = f(&tx)?;
                tx.commit()?;
                Ok(out)
            })();
            // The connection goes back to the pool: restore the default.
            conn.pragma_update(None, "synchronous", "FULL")?;
            result
        })
        .await
    }
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
