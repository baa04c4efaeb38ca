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
        'CreateHealthMonitor', 'UpdateHealthMonitor', 'DeleteHealthMonitor',
        'BatchUpdateMembers')),
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
///
/// Step 4 records the installation's network id secret and the network ids
/// already in use (see [`super::installation`]).
///
/// Step 3 (the v2 API's schema) rebuilds tables, so [`migrate`] runs the
/// steps with foreign keys off, as SQLite's own recipe for a rebuild says,
/// and each step ends with a `foreign_key_check` that rolls it back if a row
/// lost its parent.
fn steps() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../schema.sql")),
        M::up(JOB_KIND_CHECK),
        M::up(include_str!("migrations/v2.sql")).foreign_key_check(),
        M::up_with_hook(
            super::installation::STEP_SQL,
            super::installation::record_installation,
        ),
        // Step 5: the events feed (a new table).
        M::up(include_str!("migrations/events.sql")).foreign_key_check(),
        // Step 6: identity (issue 16): new tables, and the project of
        // certificates and ports.
        M::up(include_str!("migrations/identity.sql")),
    ])
}

/// The schema version this build writes.
pub fn latest_version() -> usize {
    6
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
    // Outside any transaction, where the pragma takes effect; it is switched
    // back on whatever the outcome, since every pooled connection relies on it.
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let outcome = steps()
        .to_latest(conn)
        .map_err(|e| StoreError::Migration(e.to_string()));
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    outcome
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

        assert_eq!(current_version(&conn).unwrap(), latest_version() as i64);
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

    /// A database left at step 1 by an older Ballast, with one object of
    /// every kind.
    fn step_one_database() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        Migrations::new(vec![M::up(include_str!("../../schema.sql"))])
            .to_latest(&mut conn)
            .unwrap();
        conn.execute_batch(
            "INSERT INTO load_balancers (id, tenant_id, name, enabled, provisioning_status,
                 operating_status, vip_address, vip_port_id, vip_network_id, created_at, updated_at)
             VALUES ('00000000-0000-4000-8000-0000000000b1', 'proj', 'lb', 1, 'ACTIVE', 'ONLINE',
                 '10.0.0.5', '00000000-0000-4000-8000-0000000000e1',
                 '00000000-0000-4000-8000-0000000000f1', 100, 100);
             INSERT INTO listeners (id, load_balancer_id, protocol, protocol_port, enabled,
                 provisioning_status, operating_status, created_at)
             VALUES ('00000000-0000-4000-8000-0000000000c1', '00000000-0000-4000-8000-0000000000b1',
                 'HTTP', 80, 1, 'ACTIVE', 'ONLINE', 101);
             INSERT INTO pools (id, listener_id, protocol, lb_algorithm, persistence_type,
                 cookie_name, name, enabled, provisioning_status, operating_status, created_at)
             VALUES ('00000000-0000-4000-8000-0000000000d1', '00000000-0000-4000-8000-0000000000c1',
                 'HTTP', 'ROUND_ROBIN', 'HTTP_COOKIE', 'c', 'pool', 1, 'ACTIVE', 'ONLINE', 102);
             INSERT INTO members (id, pool_id, ip_address, protocol_port, weight, enabled,
                 provisioning_status, operating_status, created_at)
             VALUES ('00000000-0000-4000-8000-0000000000a1', '00000000-0000-4000-8000-0000000000d1',
                 '127.0.0.1', 8080, 3, 1, 'ACTIVE', 'ONLINE', 103);
             INSERT INTO health_monitors (pool_id, type, delay, timeout, fall_threshold,
                 rise_threshold, http_method, url_path, expected_codes, enabled,
                 provisioning_status, created_at)
             VALUES ('00000000-0000-4000-8000-0000000000d1', 'HTTP', 5, 2, 3, 2, 'GET', '/h',
                 '200', 1, 'ACTIVE', 104);",
        )
        .unwrap();
        conn
    }

    #[test]
    fn step_six_gives_ports_and_certificates_the_project_of_their_load_balancer() {
        let mut conn = step_one_database();
        conn.execute_batch(
            "INSERT INTO ports (id, network_id, ip_address, load_balancer_id, owned, created_at)
             VALUES ('00000000-0000-4000-8000-0000000000e1', '00000000-0000-4000-8000-0000000000f1',
                 '10.0.0.5', '00000000-0000-4000-8000-0000000000b1', 1, 100),
                ('00000000-0000-4000-8000-0000000000e2', '00000000-0000-4000-8000-0000000000f1',
                 '10.0.0.6', NULL, 0, 100);
             INSERT INTO certificates (id, certificate, private_key, created_at)
             VALUES ('00000000-0000-4000-8000-000000000001', 'c', 'k', 100),
                ('00000000-0000-4000-8000-000000000002', 'c', 'k', 100);
             UPDATE listeners SET default_tls_container_id = '00000000-0000-4000-8000-000000000001';",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let project = |table: &str, id: &str| -> Option<String> {
            conn.query_row(
                &format!("SELECT project_id FROM {table} WHERE id = ?1"),
                [format!("00000000-0000-4000-8000-{id}")],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(project("ports", "0000000000e1").as_deref(), Some("proj"));
        assert_eq!(project("ports", "0000000000e2"), None, "a free port");
        assert_eq!(
            project("certificates", "000000000001").as_deref(),
            Some("proj")
        );
        assert_eq!(project("certificates", "000000000002"), None, "unused");
    }

    #[test]
    fn a_step_one_database_with_every_kind_of_object_migrates_intact() {
        use crate::model::{ListenerId, LoadBalancerId, PoolId};
        use crate::store;
        let mut conn = step_one_database();
        migrate(&mut conn).unwrap();
        assert_eq!(current_version(&conn).unwrap(), latest_version() as i64);
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1, "foreign keys are back on after the migration");

        let lb_id: LoadBalancerId = "00000000-0000-4000-8000-0000000000b1".parse().unwrap();
        let l_id: ListenerId = "00000000-0000-4000-8000-0000000000c1".parse().unwrap();
        let p_id: PoolId = "00000000-0000-4000-8000-0000000000d1".parse().unwrap();
        let lb = store::load_balancers::get(&conn, lb_id).unwrap().unwrap();
        assert_eq!(lb.tenant_id.as_deref(), Some("proj"));
        assert!(lb.tags.is_empty());
        let l = store::listeners::get(&conn, lb_id, l_id).unwrap().unwrap();
        assert_eq!(
            (l.protocol_port, l.created_at, l.updated_at),
            (80, 101, None)
        );
        let pool = store::pools::of_listener(&conn, l_id).unwrap().unwrap();
        assert_eq!(pool.id, p_id);
        assert_eq!(pool.load_balancer_id, lb_id);
        assert_eq!(pool.listener_id, Some(l_id));
        assert_eq!(pool.name.as_deref(), Some("pool"));
        let cookie = pool.session_persistence.unwrap().cookie_name;
        assert_eq!(cookie.as_deref(), Some("c"));
        let members = store::members::list(&conn, p_id).unwrap();
        assert_eq!(members.len(), 1);
        assert_eq!((members[0].weight, members[0].name.clone()), (3, None));
        let hm = store::health_monitors::get(&conn, p_id).unwrap().unwrap();
        assert_eq!(
            (hm.delay, hm.url_path.as_str(), hm.created_at),
            (5, "/h", 104)
        );
        assert_eq!(hm.id.0.get_version_num(), 4, "backfilled id is a v4 UUID");
        assert_eq!(
            store::health_monitors::find(&conn, hm.id)
                .unwrap()
                .unwrap()
                .pool_id,
            p_id
        );

        // The rebuilt tables keep their cascades: deleting the listener
        // (v1's listener delete) takes the pool, its member and monitor.
        store::listeners::delete(&conn, l_id).unwrap();
        assert!(store::pools::find(&conn, p_id).unwrap().is_none());
        assert!(store::members::list(&conn, p_id).unwrap().is_empty());
        assert!(store::health_monitors::get(&conn, p_id).unwrap().is_none());
    }

    #[test]
    fn each_new_database_gets_its_own_network_id_secret() {
        let naming = || {
            let mut conn = Connection::open_in_memory().unwrap();
            migrate(&mut conn).unwrap();
            crate::store::installation::network_naming(&conn).unwrap()
        };
        let (one, two) = (naming(), naming());
        assert_ne!(
            one.network_id(None, "public"),
            two.network_id(None, "public")
        );
        assert_ne!(
            one.network_id(None, "public"),
            crate::model::NetworkNaming::legacy_id("public"),
            "a new installation has no legacy ids"
        );
    }

    #[test]
    fn a_step_3_database_keeps_the_network_ids_its_rows_hold() {
        use crate::model::NetworkNaming;
        let mut conn = Connection::open_in_memory().unwrap();
        steps().to_version(&mut conn, 3).unwrap();
        let used = NetworkNaming::legacy_id("public");
        let port_only = NetworkNaming::legacy_id("ports-only");
        conn.execute_batch(&format!(
            "INSERT INTO load_balancers (id, tenant_id, name, enabled, provisioning_status,
                 operating_status, vip_address, vip_port_id, vip_network_id, created_at, updated_at)
             VALUES ('00000000-0000-4000-8000-0000000000b1', 'proj', 'lb', 1, 'ACTIVE', 'ONLINE',
                 '10.0.0.5', '00000000-0000-4000-8000-0000000000e1', '{used}', 100, 100);
             INSERT INTO ports (id, network_id, ip_address, load_balancer_id, owned, created_at)
             VALUES ('00000000-0000-4000-8000-0000000000e2', '{port_only}', '10.0.1.6', NULL, 0, 100);"
        ))
        .unwrap();

        migrate(&mut conn).unwrap();

        assert_eq!(current_version(&conn).unwrap(), latest_version() as i64);
        let naming = crate::store::installation::network_naming(&conn).unwrap();
        assert_eq!(naming.network_id(None, "public"), used);
        assert_eq!(naming.network_id(None, "ports-only"), port_only);
        assert_ne!(
            naming.network_id(None, "unused"),
            NetworkNaming::legacy_id("unused"),
            "a network without objects gets a keyed id"
        );
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("PRAGMA user_version = 99").unwrap();
        let err = migrate(&mut conn).unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
    }
}
