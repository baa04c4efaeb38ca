//! The events feed of each load balancer: status changes with their cause
//! and provisioning results, bounded to the newest
//! [`KEEP_PER_LOAD_BALANCER`] rows each.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::{Result, now, parse_col};
use crate::model::LoadBalancerId;

/// How many events each load balancer keeps; older ones are dropped as new
/// ones arrive.
pub const KEEP_PER_LOAD_BALANCER: usize = 200;

/// What kind of thing happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// An operating status changed (a member's probe verdict).
    Status,
    /// A job finished or failed.
    Provisioning,
}

impl EventKind {
    fn as_sql(self) -> &'static str {
        match self {
            EventKind::Status => "status",
            EventKind::Provisioning => "provisioning",
        }
    }
}

impl std::str::FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "status" => Ok(EventKind::Status),
            "provisioning" => Ok(EventKind::Provisioning),
            other => Err(format!("unknown event kind {other:?}")),
        }
    }
}

/// One event, as the feed shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Increases with every event (across load balancers).
    pub id: i64,
    /// When it happened, in Unix seconds.
    pub at: i64,
    pub kind: EventKind,
    /// What it is about: `member 127.0.0.1:8081`, `CreateListener`.
    pub subject: String,
    /// What happened: `OFFLINE: connect failed: ..., 2 consecutive failures`.
    pub message: String,
}

/// Append an event to `lb`'s feed and drop what falls beyond the bound.
pub fn insert(
    conn: &Connection,
    lb: LoadBalancerId,
    kind: EventKind,
    subject: &str,
    message: &str,
) -> Result<()> {
    let lb = lb.to_string();
    conn.execute(
        "INSERT INTO events (load_balancer_id, at, kind, subject, message) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![lb, now(), kind.as_sql(), subject, message],
    )?;
    conn.execute(
        "DELETE FROM events WHERE load_balancer_id = ?1 AND id <= \
         (SELECT id FROM events WHERE load_balancer_id = ?1 \
          ORDER BY id DESC LIMIT 1 OFFSET ?2)",
        params![lb, KEEP_PER_LOAD_BALANCER as i64],
    )?;
    Ok(())
}

/// `lb`'s events, newest first.
pub fn list(conn: &Connection, lb: LoadBalancerId) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, kind, subject, message FROM events \
         WHERE load_balancer_id = ?1 ORDER BY id DESC",
    )?;
    let rows = stmt.query_map([lb.to_string()], |r| {
        Ok(Event {
            id: r.get(0)?,
            at: r.get(1)?,
            kind: parse_col("events", &r.get::<_, String>(2)?)?,
            subject: r.get(3)?,
            message: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_two_load_balancers() -> (Connection, LoadBalancerId, LoadBalancerId) {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrations::migrate(&mut conn).unwrap();
        let (a, b) = (LoadBalancerId::new(), LoadBalancerId::new());
        for id in [a, b] {
            conn.execute(
                "INSERT INTO load_balancers (id, enabled, provisioning_status, operating_status,
                     vip_address, vip_port_id, vip_network_id, created_at, updated_at)
                 VALUES (?1, 1, 'ACTIVE', 'ONLINE', '10.0.0.5', 'p', 'n', 1, 1)",
                [id.to_string()],
            )
            .unwrap();
        }
        (conn, a, b)
    }

    #[test]
    fn each_load_balancer_keeps_only_its_newest_events_newest_first() {
        let (conn, a, b) = with_two_load_balancers();
        insert(
            &conn,
            b,
            EventKind::Provisioning,
            "CreateLoadBalancer",
            "done",
        )
        .unwrap();
        for n in 0..KEEP_PER_LOAD_BALANCER + 5 {
            insert(
                &conn,
                a,
                EventKind::Status,
                "member x",
                &format!("event {n}"),
            )
            .unwrap();
        }
        let events = list(&conn, a).unwrap();
        assert_eq!(events.len(), KEEP_PER_LOAD_BALANCER);
        assert_eq!(
            events[0].message,
            format!("event {}", KEEP_PER_LOAD_BALANCER + 4)
        );
        assert_eq!(events.last().unwrap().message, "event 5");
        assert!(events.windows(2).all(|w| w[0].id > w[1].id));
        assert_eq!(
            list(&conn, b).unwrap().len(),
            1,
            "another feed is untouched"
        );
    }

    #[test]
    fn purging_a_load_balancer_takes_its_events() {
        let (conn, a, _) = with_two_load_balancers();
        insert(&conn, a, EventKind::Status, "member x", "OFFLINE").unwrap();
        conn.execute("DELETE FROM load_balancers WHERE id = ?1", [a.to_string()])
            .unwrap();
        assert!(list(&conn, a).unwrap().is_empty());
    }
}
