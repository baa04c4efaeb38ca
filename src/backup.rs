//! `ballast backup FILE`: a consistent copy of the live database.
//!
//! Owns: copying the SQLite file with SQLite's online backup API while Ballast keeps writing,
//! and publishing the copy atomically (temporary file in the destination directory, checked,
//! then linked into place) with mode 0600. Never touches: the source database's contents or
//! settings (it only reads pages), or an existing file at the destination.
//!
//! Restore is a file copy: stop Ballast, remove `<data_dir>/ballast.sqlite3` with its `-wal` and
//! `-shm` files (a stale WAL would be replayed onto the restored file), copy the backup to
//! `<data_dir>/ballast.sqlite3`, start Ballast; migrations bring an older file up to date.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

/// Pages copied per backup step; between steps the source is free for other connections.
const PAGES_PER_STEP: i32 = 256;
/// Pause between steps, so a large copy does not starve the running service of I/O.
const PAUSE_BETWEEN_STEPS: Duration = Duration::from_millis(2);
/// SQLite restarts a stepwise backup whenever another connection writes to the source. After
/// this many restarts the rest is copied in one step: under WAL that holds one read snapshot
/// for the copy and blocks no writer, so a busy service cannot starve the backup.
const MAX_RESTARTS: u32 = 3;
/// How long the copy may wait on locks (SQLITE_BUSY) in total before giving up.
const BUSY_DEADLINE: Duration = Duration::from_secs(30);
/// How long one SQLite call waits on a lock before reporting SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What a finished backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// The backup file.
    pub path: PathBuf,
    /// Database pages in the copy.
    pub pages: u64,
    /// Size of the copy in bytes (pages times page size).
    pub bytes: u64,
    /// How many times SQLite restarted the copy because the service wrote meanwhile.
    pub restarts: u32,
}

/// Why a backup failed. No partial file is left at the destination in any case.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The database to copy does not exist.
    #[error("database {path} does not exist")]
    SourceMissing {
        /// The source path.
        path: PathBuf,
    },
    /// The destination exists; backups never overwrite.
    #[error("backup destination {path} already exists; choose a new file name")]
    DestinationExists {
        /// The destination path.
        path: PathBuf,
    },
    /// A file system operation failed.
    #[error("{action} {path}")]
    Io {
        /// What was being done ("cannot create", ...).
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// SQLite failed while opening or copying.
    #[error("{action} {path}")]
    Sqlite {
        /// What was being done.
        action: &'static str,
        /// The database it was done to.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The source stayed locked past the deadline.
    #[error("database {path} stayed locked for {waited:?}")]
    Busy {
        /// The source path.
        path: PathBuf,
        /// How long the copy waited.
        waited: Duration,
    },
    /// The copy failed `PRAGMA integrity_check`; the lines are SQLite's findings.
    #[error("the copy failed its integrity check: {}", problems.join("; "))]
    IntegrityCheck {
        /// What `integrity_check` reported.
        problems: Vec<String>,
    },
}

/// Copies the database at `db_path` to a new file `dest`, consistently even while another
/// process writes to it, and checks the copy.
///
/// The copy holds every transaction committed before the call started. `dest` must not
/// exist; its directory must. The file appears at `dest` only once complete and checked, with
/// mode 0600, in rollback-journal mode so it is one self-contained file.
pub fn backup(db_path: &Path, dest: &Path) -> Result<BackupReport, BackupError> {
    if !db_path.exists() {
        return Err(BackupError::SourceMissing {
            path: db_path.to_owned(),
        });
    }
    if fs::symlink_metadata(dest).is_ok() {
        return Err(BackupError::DestinationExists {
            path: dest.to_owned(),
        });
    }
    let temp = TempFile::create_beside(dest)?;
    let (pages, bytes, restarts) = copy_into(db_path, &temp.path)?;
    temp.publish(dest)?;
    Ok(BackupReport {
        path: dest.to_owned(),
        pages,
        bytes,
        restarts,
    })
}

/// Copies `db_path` into the (empty) file at `copy_path` and checks it; returns pages, bytes
/// and restarts.
fn copy_into(db_path: &Path, copy_path: &Path) -> Result<(u64, u64, u32), BackupError> {
    let sqlite = |action, path: &Path| {
        let path = path.to_owned();
        move |source| BackupError::Sqlite {
            action,
            path,
            source,
        }
    };
    // Read-write without CREATE: a wrong path fails instead of creating an empty database, and
    // a WAL database can be read even when its -shm file does not exist yet.
    let source = Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite("cannot open database", db_path))?;
    source
        .busy_timeout(BUSY_TIMEOUT)
        .map_err(sqlite("cannot configure", db_path))?;
    let mut copy = Connection::open(copy_path).map_err(sqlite("cannot open copy", copy_path))?;

    let restarts = {
        let backup =
            Backup::new(&source, &mut copy).map_err(sqlite("cannot start backup of", db_path))?;
        run_steps(&backup, db_path)?
    };
    drop(source);

    // The copied header keeps the source's WAL flag; a backup is easier to move around as
    // one file, and Ballast switches its database to WAL again when it opens it.
    copy.query_row("PRAGMA journal_mode = DELETE", [], |row| {
        row.get::<_, String>(0)
    })
    .map_err(sqlite("cannot set journal mode of", copy_path))?;
    let problems = integrity_problems(&copy).map_err(sqlite("cannot check", copy_path))?;
    if !problems.is_empty() {
        return Err(BackupError::IntegrityCheck { problems });
    }
    let pages = copy
        .query_row("PRAGMA page_count", [], non_negative)
        .map_err(sqlite("cannot read page count of", copy_path))?;
    let page_size = copy
        .query_row("PRAGMA page_size", [], non_negative)
        .map_err(sqlite("cannot read page size of", copy_path))?;
    copy.close()
        .map_err(|(_, source)| sqlite("cannot close", copy_path)(source))?;
    Ok((pages, pages * page_size, restarts))
}

/// Drives the backup to completion; returns how many times SQLite restarted it.
fn run_steps(backup: &Backup<'_, '_>, db_path: &Path) -> Result<u32, BackupError> {
    let mut restarts = 0;
    let mut last_remaining: Option<i32> = None;
    let mut busy_since: Option<Instant> = None;
    loop {
        let pages = if restarts >= MAX_RESTARTS {
            -1
        } else {
            PAGES_PER_STEP
        };
        let step = backup.step(pages).map_err(|source| BackupError::Sqlite {
            action: "cannot copy",
            path: db_path.to_owned(),
            source,
        })?;
        match step {
            StepResult::Done => return Ok(restarts),
            StepResult::Busy | StepResult::Locked => {
                let since = *busy_since.get_or_insert_with(Instant::now);
                if since.elapsed() > BUSY_DEADLINE {
                    return Err(BackupError::Busy {
                        path: db_path.to_owned(),
                        waited: since.elapsed(),
                    });
                }
            }
            // StepResult is non_exhaustive; anything else means "not done yet".
            _ => {
                busy_since = None;
                let remaining = backup.progress().remaining;
                // A restart starts over at page 1, so the pages left jump back up.
                if last_remaining.is_some_and(|last| remaining > last) {
                    restarts += 1;
                }
                last_remaining = Some(remaining);
            }
        }
        std::thread::sleep(PAUSE_BETWEEN_STEPS);
    }
}

/// Reads column 0 as a count; SQLite stores counts as signed integers that are never negative.
pub(crate) fn non_negative(row: &rusqlite::Row<'_>) -> rusqlite::Result<u64> {
    row.get::<_, i64>(0).map(|n| u64::try_from(n).unwrap_or(0))
}

/// `PRAGMA integrity_check` findings; empty when the database is sound.
///
/// On badly damaged pages SQLite reports some findings and then fails the statement with
/// SQLITE_CORRUPT; that failure is one more finding. Other failures (not a database, I/O) are
/// errors.
pub(crate) fn integrity_problems(connection: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut statement = connection.prepare("PRAGMA integrity_check")?;
    let mut rows = statement.query([])?;
    let mut lines = Vec::new();
    loop {
        match rows.next() {
            Ok(Some(row)) => lines.push(row.get::<_, String>(0)?),
            Ok(None) => break,
            Err(error)
                if error.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseCorrupt) =>
            {
                lines.push(error.to_string());
                break;
            }
            Err(error) => return Err(error),
        }
    }
    Ok(if lines == ["ok"] { Vec::new() } else { lines })
}

/// A file beside the destination that is removed unless it was published.
struct TempFile {
    path: PathBuf,
    published: bool,
}

impl TempFile {
    /// Creates an empty file with mode 0600 in `dest`'s directory.
    fn create_beside(dest: &Path) -> Result<Self, BackupError> {
        let dir = match dest.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = dest
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "backup".to_owned());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let path = dir.join(format!(".{name}.{}-{nanos}.tmp", std::process::id()));
        // create_new: never reuse a file someone else put there; 0600 before SQLite writes a
        // byte, so no other user can read the copy even for a moment (SQLite gives its own
        // journal files the same mode).
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| BackupError::Io {
                action: "cannot create",
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            path,
            published: false,
        })
    }

    /// Makes the file durable and gives it the name `dest`, which must still not exist.
    fn publish(mut self, dest: &Path) -> Result<(), BackupError> {
        let io_error = |action, path: &Path| {
            let path = path.to_owned();
            move |source| BackupError::Io {
                action,
                path,
                source,
            }
        };
        File::open(&self.path)
            .and_then(|file| file.sync_all())
            .map_err(io_error("cannot sync", &self.path))?;
        // A hard link never replaces an existing file, unlike rename: a file created at
        // `dest` while we copied is kept and reported.
        match fs::hard_link(&self.path, dest) {
            Ok(()) => {}
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {
                return Err(BackupError::DestinationExists {
                    path: dest.to_owned(),
                });
            }
            Err(error) => return Err(io_error("cannot create", dest)(error)),
        }
        self.published = true;
        fs::remove_file(&self.path).map_err(io_error("cannot remove", &self.path))?;
        if let Some(dir) = dest.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|dir| dir.sync_all())
                .map_err(io_error("cannot sync", dir))?;
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.published {
            // Best effort: the copy failed and its error is what the caller needs; a leftover
            // hidden temp file is harmless and named for what it is.
            let _ = fs::remove_file(&self.path);
            for suffix in ["-journal", "-wal", "-shm"] {
                let mut side = self.path.clone().into_os_string();
                side.push(suffix);
                let _ = fs::remove_file(side);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    fn wal_database(path: &Path) -> Connection {
        let connection = Connection::open(path).expect("open source");
        connection
            .query_row("PRAGMA journal_mode = WAL", [], |row| {
                row.get::<_, String>(0)
            })
            .expect("WAL");
        connection
            .execute_batch(
                // NORMAL: no fsync per commit, so a loaded test machine still writes fast;
                // the test is about consistency, not power-loss durability.
                "PRAGMA synchronous = NORMAL;
                 CREATE TABLE items (id INTEGER PRIMARY KEY, twice INTEGER NOT NULL, body BLOB NOT NULL);",
            )
            .expect("schema");
        connection
    }

    fn rows_in(path: &Path) -> Vec<(i64, i64)> {
        let connection = Connection::open(path).expect("open copy");
        let mut statement = connection
            .prepare("SELECT id, twice FROM items ORDER BY id")
            .expect("select");
        statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .expect("query")
            .collect::<rusqlite::Result<_>>()
            .expect("rows")
    }

    #[test]
    fn backup_under_write_load_holds_every_row_committed_before_it_started() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("ballast.db");
        let dest = dir.path().join("copy.db");
        let writer_connection = wal_database(&db);

        let committed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let committed = Arc::clone(&committed);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                // Bounded: stops when told, or after 200k rows at the latest.
                for id in 1..=200_000_i64 {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    writer_connection
                        .execute(
                            "INSERT INTO items (id, twice, body) VALUES (?1, ?2, zeroblob(1024))",
                            (id, 2 * id),
                        )
                        .expect("insert");
                    // Only acknowledged (committed) rows are counted.
                    committed.store(id as u64, Ordering::Release);
                }
            })
        };

        // Enough rows for many backup steps (1 KiB each, 256 pages per step).
        let deadline = Instant::now() + Duration::from_secs(60);
        while committed.load(Ordering::Acquire) < 3_000 {
            assert!(Instant::now() < deadline, "writer made no progress");
            std::thread::yield_now();
        }
        let acknowledged = committed.load(Ordering::Acquire);
        let report = backup(&db, &dest).expect("backup succeeds under load");
        let written_during = committed.load(Ordering::Acquire) - acknowledged;
        stop.store(true, Ordering::Release);
        writer.join().expect("writer thread");

        assert!(
            written_during > 0,
            "the writer kept writing during the backup"
        );
        let rows = rows_in(&dest);
        assert!(
            rows.len() as u64 >= acknowledged,
            "copy has {} rows, {acknowledged} were acknowledged",
            rows.len()
        );
        // Consistent: rows 1..=n with no gap and no torn row.
        for (index, (id, twice)) in rows.iter().enumerate() {
            assert_eq!(*id, index as i64 + 1);
            assert_eq!(*twice, 2 * id);
        }
        assert!(report.pages > 256, "several steps were needed");
        assert_eq!(
            report.bytes,
            fs::metadata(&dest).expect("copy exists").len()
        );
        let copy = Connection::open(&dest).expect("open copy");
        assert!(integrity_problems(&copy).expect("check").is_empty());
    }

    #[test]
    fn backup_file_is_private_and_no_temp_file_is_left() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("ballast.db");
        let connection = wal_database(&db);
        connection
            .execute("INSERT INTO items VALUES (1, 2, x'00')", [])
            .expect("insert");
        let dest = dir.path().join("copy.db");
        let report = backup(&db, &dest).expect("backup");
        assert_eq!(report.path, dest);
        let mode = fs::metadata(&dest).expect("copy").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .into_string()
                    .expect("utf-8")
            })
            .filter(|name| !name.starts_with("ballast.db"))
            .collect();
        names.sort();
        assert_eq!(names, ["copy.db"]);
        assert_eq!(rows_in(&dest), [(1, 2)]);
    }

    #[test]
    fn existing_destination_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("ballast.db");
        drop(wal_database(&db));
        let dest = dir.path().join("precious.db");
        fs::write(&dest, b"keep me").expect("write");
        let error = backup(&db, &dest).expect_err("must refuse");
        assert!(
            matches!(error, BackupError::DestinationExists { .. }),
            "{error}"
        );
        assert_eq!(fs::read(&dest).expect("read"), b"keep me");
    }

    #[test]
    fn missing_source_is_reported_and_creates_nothing() {
        let dir = tempfile::tempdir().expect("temp dir");
        let dest = dir.path().join("copy.db");
        let error = backup(&dir.path().join("absent.db"), &dest).expect_err("must fail");
        assert!(
            matches!(error, BackupError::SourceMissing { .. }),
            "{error}"
        );
        assert_eq!(fs::read_dir(dir.path()).expect("list").count(), 0);
    }

    #[test]
    fn a_file_that_is_not_a_database_fails_without_leaving_a_copy() {
        let dir = tempfile::tempdir().expect("temp dir");
        let db = dir.path().join("ballast.db");
        fs::write(&db, vec![b'x'; 8192]).expect("write");
        let dest = dir.path().join("copy.db");
        let error = backup(&db, &dest).expect_err("must fail");
        assert!(matches!(error, BackupError::Sqlite { .. }), "{error}");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["ballast.db"]);
    }
}
