//! Schema migrations: `schema.sql` is step 1 (the full schema of a new
//! database); later changes are appended as numbered steps and a shipped step
//! is never edited. `user_version` records how far a file has come.

use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

use super::{Result, StoreError};

/// Step 2: `jobs.kind` holds only a [`JobKind`](crate::model::JobKind).
/// SQLite cannot add a `CHECK` to a column, so the table is rebuilt (inside
/// the migration's transaction): copy every row with its id, keep the
/// AUTOINCREMENT counter (an id of a purged job is never handed out again)
/// and recreate the `jobs_open` index. A database holding a kind outside the
/// list refuses the step and stays at step 1.
const JOB_KIND_CHECK: &str = "
CREATE TABLE jobs_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    load_balancer_id TEXT NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN (
        'CreateLoadBalancer', 'UpdateLoadBalancer', 'DeleteLoadBalancer',
        'CreateListener', 'UpdateListener', 'DeleteListener',
        'CreatePool', 'UpdatePool', 'DeletePool',
        'CreateMember', 'UpdateMember', 'DeleteMember',
        'CreateHealthMonitor', 'UpdateHealthMonitor', 'DeleteHealthMonitor')),
    object_id        TEXT,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
INSERT INTO jobs_new (id, load_balancer_id, kind, object_id, state, attempts, error,
                      created_at, finished_at)
    SELECT id, load_balancer_id, kind, object_id, state, attempts, error, created_at, finished_at
    FROM jobs;
-- The copy gave jobs_new a counter of max(id); the old one may be higher.
DELETE FROM sqlite_sequence WHERE name = 'jobs_new';
UPDATE sqlite_sequence SET name = 'jobs_new' WHERE name = 'jobs';
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_open ON jobs (state) WHERE state IN ('pending', 'running');
";

/// The ordered steps. Step N leaves the database at `user_version` N.
fn steps() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../schema.sql")),
        M::up(JOB_KIND_CHECK),
    ])
}

/// The schema version this build writes.
pub fn latest_version() -> usize {
    2
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

    /// A database as a build with only step 1 left it.
    fn at_step_1() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        steps().to_version(&mut conn, 1).unwrap();
        assert_eq!(current_version(&conn).unwrap(), 1);
        conn
    }

    fn jobs(conn: &Connection) -> Vec<(i64, String, String, String, u32)> {
        let mut stmt = conn
            .prepare("SELECT id, load_balancer_id, kind, state, attempts FROM jobs ORDER BY id")
            .unwrap();
        stmt.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    #[test]
    fn a_step_1_database_with_jobs_migrates_to_step_2_with_its_rows_intact() {
        let mut conn = at_step_1();
        conn.execute_batch(
            "INSERT INTO jobs (load_balancer_id, kind, state, attempts, created_at) VALUES
                 ('lb-1', 'CreateLoadBalancer', 'done', 1, 10),
                 ('lb-1', 'CreateListener', 'failed', 2, 11),
                 ('lb-2', 'DeleteMember', 'pending', 0, 12),
                 ('lb-3', 'UpdatePool', 'running', 1, 13);
             -- A purged job: its id must never come back.
             INSERT INTO jobs (id, load_balancer_id, kind, state, created_at)
                 VALUES (9, 'lb-4', 'DeletePool', 'done', 14);
             DELETE FROM jobs WHERE id = 9;",
        )
        .unwrap();
        let before = jobs(&conn);

        migrate(&mut conn).unwrap();

        assert_eq!(current_version(&conn).unwrap(), 2);
        assert_eq!(jobs(&conn), before);
        let index: String = conn
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = 'jobs_open'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            index.contains("WHERE state IN ('pending', 'running')"),
            "{index}"
        );
        conn.execute(
            "INSERT INTO jobs (load_balancer_id, kind, state, created_at) \
             VALUES ('lb-5', 'CreatePool', 'pending', 15)",
            [],
        )
        .unwrap();
        assert_eq!(
            conn.last_insert_rowid(),
            10,
            "ids keep counting past purged ones"
        );
    }

    #[test]
    fn step_2_refuses_a_kind_that_is_not_a_job_kind_and_accepts_every_one_that_is() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let insert = |kind: &str| {
            conn.execute(
                "INSERT INTO jobs (load_balancer_id, kind, state, created_at) \
                 VALUES ('lb', ?1, 'pending', 0)",
                [kind],
            )
        };
        let err = insert("Reboot").unwrap_err().to_string();
        assert!(err.contains("CHECK constraint failed"), "{err}");
        for kind in crate::model::JobKind::ALL {
            insert(kind.as_str()).unwrap();
        }
        let count: i64 = conn
            .query_row("SELECT count(*) FROM jobs WHERE kind = 'Reboot'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(count, 0, "the refused row is not there");
    }

    #[test]
    fn a_step_1_database_with_an_unknown_job_kind_stays_at_step_1() {
        let mut conn = at_step_1();
        conn.execute_batch(
            "INSERT INTO jobs (load_balancer_id, kind, state, created_at) \
             VALUES ('lb-1', 'Reboot', 'done', 10);",
        )
        .unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("CHECK constraint failed"), "{err}");
        assert_eq!(current_version(&conn).unwrap(), 1);
        assert_eq!(jobs(&conn).len(), 1);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
