//! `ballast check`: what is in a database, without starting anything.
//!
//! Owns: opening the database read-only and reporting its integrity, schema version and the
//! number of rows per resource table. Never writes to it, never migrates it, and never creates
//! a file (a wrong path is an error, not a new empty database).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// The tables counted, in the order they are reported.
const COUNTED_TABLES: [&str; 5] = [
    "load_balancers",
    "listeners",
    "pools",
    "members",
    "health_monitors",
];

/// What `check_database` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseReport {
    /// The database file.
    pub path: PathBuf,
    /// `PRAGMA integrity_check` findings; empty when the database is sound.
    pub integrity_problems: Vec<String>,
    /// `PRAGMA user_version`: the number of migrations applied.
    pub user_version: i64,
    /// Rows per resource table.
    pub counts: Vec<(&'static str, TableRows)>,
    /// Jobs not yet done or failed (the controller finishes them on start).
    pub open_jobs: TableRows,
}

/// A row count, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableRows {
    /// The table holds this many (matching) rows.
    Rows(u64),
    /// The database has no such table (an older or foreign schema).
    NoTable,
    /// Counting failed, e.g. on a damaged page; SQLite's message.
    Unreadable(String),
}

impl TableRows {
    /// The count, when there is one.
    pub fn rows(&self) -> Option<u64> {
        match self {
            Self::Rows(rows) => Some(*rows),
            Self::NoTable | Self::Unreadable(_) => None,
        }
    }
}

impl fmt::Display for TableRows {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rows(rows) => write!(f, "{rows}"),
            Self::NoTable => f.write_str("no table"),
            Self::Unreadable(reason) => write!(f, "unreadable ({reason})"),
        }
    }
}

impl DatabaseReport {
    /// Whether the database passed its integrity check.
    pub fn is_sound(&self) -> bool {
        self.integrity_problems.is_empty()
    }
}

impl fmt::Display for DatabaseReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "database: {}", self.path.display())?;
        if self.is_sound() {
            writeln!(f, "integrity: ok")?;
        } else {
            writeln!(f, "integrity: FAILED")?;
            for problem in &self.integrity_problems {
                writeln!(f, "  {}", problem.replace('\n', "\n  "))?;
            }
        }
        writeln!(f, "schema version: {}", self.user_version)?;
        for (table, rows) in &self.counts {
            writeln!(f, "{table}: {rows}")?;
        }
        writeln!(f, "open jobs: {}", self.open_jobs)
    }
}

/// Why a database could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// There is no file at the path.
    #[error("database {path} does not exist")]
    Missing {
        /// The path checked.
        path: PathBuf,
    },
    /// SQLite could not open or read it (not a database, unreadable, ...).
    #[error("cannot read database {path}")]
    Sqlite {
        /// The path checked.
        path: PathBuf,
        /// The cause.
        #[source]
        source: rusqlite::Error,
    },
}

/// Opens the database at `db_path` read-only and reports what it holds.
///
/// Safe while Ballast runs: it only reads, under WAL, from a consistent snapshot per statement.
/// A damaged database is reported through [`DatabaseReport::integrity_problems`], not an error.
pub fn check_database(db_path: &Path) -> Result<DatabaseReport, CheckError> {
    if !db_path.exists() {
        return Err(CheckError::Missing {
            path: db_path.to_owned(),
        });
    }
    let sqlite = |source| CheckError::Sqlite {
        path: db_path.to_owned(),
        source,
    };
    let connection = Connection::open_with_flags(
        db_path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sqlite)?;
    connection
        .busy_timeout(Duration::from_secs(5))
        .map_err(sqlite)?;
    let integrity_problems = crate::backup::integrity_problems(&connection).map_err(sqlite)?;
    let user_version: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(sqlite)?;
    let mut counts = Vec::with_capacity(COUNTED_TABLES.len());
    for table in COUNTED_TABLES {
        counts.push((table, count_rows(&connection, table, "")));
    }
    let open_jobs = count_rows(
        &connection,
        "jobs",
        " WHERE state NOT IN ('done', 'failed')",
    );
    Ok(DatabaseReport {
        path: db_path.to_owned(),
        integrity_problems,
        user_version,
        counts,
        open_jobs,
    })
}

/// Rows in `table` (matching `filter`). A failure is part of the answer, not an error: on a
/// damaged database the other counts are still worth printing.
fn count_rows(connection: &Connection, table: &'static str, filter: &'static str) -> TableRows {
    let exists = connection
        .query_row(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1",
            [table],
            |_| Ok(()),
        )
        .optional();
    match exists {
        Ok(Some(())) => {}
        Ok(None) => return TableRows::NoTable,
        Err(error) => return TableRows::Unreadable(error.to_string()),
    }
    // `table` and `filter` are constants of this module, never input, so formatting them into
    // the statement cannot inject anything.
    let statement = format!("SELECT count(*) FROM {table}{filter}");
    match connection.query_row(&statement, [], crate::backup::non_negative) {
        Ok(rows) => TableRows::Rows(rows),
        Err(error) => TableRows::Unreadable(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(report: &DatabaseReport, table: &str) -> TableRows {
        report
            .counts
            .iter()
            .find(|(name, _)| *name == table)
            .expect("table is reported")
            .1
            .clone()
    }

    #[test]
    fn counts_rows_and_only_open_jobs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ballast.db");
        let connection = Connection::open(&path).expect("open");
        connection
            .execute_batch(
                "PRAGMA user_version = 3;
                 CREATE TABLE load_balancers (id TEXT PRIMARY KEY);
                 CREATE TABLE listeners (id TEXT PRIMARY KEY);
                 CREATE TABLE jobs (id INTEGER PRIMARY KEY, state TEXT NOT NULL);
                 INSERT INTO load_balancers VALUES ('a'), ('b');
                 INSERT INTO jobs (state) VALUES ('pending'), ('running'), ('done'), ('failed');",
            )
            .expect("fixture");
        drop(connection);

        let report = check_database(&path).expect("check");
        assert!(report.is_sound());
        assert_eq!(report.user_version, 3);
        assert_eq!(count(&report, "load_balancers"), TableRows::Rows(2));
        assert_eq!(count(&report, "listeners"), TableRows::Rows(0));
        assert_eq!(count(&report, "members"), TableRows::NoTable);
        assert_eq!(report.open_jobs, TableRows::Rows(2));
        let text = report.to_string();
        assert!(text.contains("integrity: ok"), "{text}");
        assert!(text.contains("load_balancers: 2"), "{text}");
        assert!(text.contains("members: no table"), "{text}");
    }

    #[test]
    fn missing_file_is_an_error_and_is_not_created() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("absent.db");
        let error = check_database(&path).expect_err("must fail");
        assert!(matches!(error, CheckError::Missing { .. }), "{error}");
        assert!(!path.exists());
    }

    #[test]
    fn a_file_that_is_not_a_database_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ballast.db");
        std::fs::write(&path, vec![b'x'; 4096]).expect("write");
        let error = check_database(&path).expect_err("must fail");
        assert!(matches!(error, CheckError::Sqlite { .. }), "{error}");
    }

    #[test]
    fn a_damaged_index_is_reported_as_integrity_problems() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ballast.db");
        let connection = Connection::open(&path).expect("open");
        connection
            .execute_batch(
                "CREATE TABLE members (id INTEGER PRIMARY KEY, address TEXT NOT NULL);
                 CREATE INDEX members_by_address ON members (address);
                 INSERT INTO members (address) VALUES ('127.0.0.1'), ('127.0.0.2');",
            )
            .expect("fixture");
        let (root_page, page_size): (u64, u64) = connection
            .query_row(
                "SELECT rootpage, (SELECT page_size FROM pragma_page_size) \
                 FROM sqlite_schema WHERE name = 'members_by_address'",
                [],
                |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
            )
            .expect("index root page");
        drop(connection);
        // Overwrite the index's only page with garbage; the table itself stays readable.
        let mut bytes = std::fs::read(&path).expect("read");
        let start = ((root_page - 1) * page_size) as usize;
        bytes[start..start + page_size as usize].fill(0xA5);
        std::fs::write(&path, bytes).expect("write");

        let report = check_database(&path).expect("a damaged index still gives a report");
        assert!(!report.is_sound());
        let text = report.to_string();
        assert!(text.contains("integrity: FAILED"), "{text}");
        // The table's own pages are intact, so its count is still reported.
        assert_eq!(count(&report, "members"), TableRows::Rows(2), "{text}");
    }

    #[test]
    fn check_does_not_change_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ballast.db");
        let connection = Connection::open(&path).expect("open");
        connection
            .execute_batch("CREATE TABLE pools (id TEXT); INSERT INTO pools VALUES ('p');")
            .expect("fixture");
        drop(connection);
        let before = std::fs::read(&path).expect("read");
        let report = check_database(&path).expect("check");
        assert_eq!(count(&report, "pools"), TableRows::Rows(1));
        assert_eq!(std::fs::read(&path).expect("read"), before);
    }
}
