//! Schema migrations: `schema.sql` is step 1 (the full schema of a new
//! database); later changes are appended as numbered steps and a shipped step
//! is never edited. `user_version` records how far a file has come.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use super::{Result, StoreError};

/// The ordered steps. Step N leaves the database at `user_version` N.
fn steps() -> Migrations<'static> {
    Migrations::new(vec![M::up(include_str!("../../schema.sql"))])
}

/// The schema version this build writes.
pub fn latest_version() -> usize {
    1
}

/// The `user_version` of an open database.
pub fn current_version(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Bring the database up to [`latest_version`]; refuse a newer file.
pub fn migrate(conn: &mut Connection) -> Result<()> {
    let version = current_version(conn)?;
    if version > latest_version() as i64 {
        return Err(StoreError::Migration(format!(
            "database schema version {version} is newer than this Ballast understands \
             ({}); upgrade Ballast or restore a matching backup",
            latest_version()
        )));
    }
    steps()
        .to_latest(conn)
        .map_err(|e| StoreError::Migration(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_valid_and_reach_the_latest_version() {
        steps().validate().unwrap();
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(current_version(&conn).unwrap(), latest_version() as i64);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
