//! The controller's long-running work beside the job loop: rolling operating
//! statuses up when health or connection limits change (and writing each
//! member status change to the events feed), persisting the data plane's
//! counters, sampling them into the traffic history, and purging rows past
//! their age.
//!
//! Each loop runs until its shutdown token is cancelled; `app` only spawns
//! them. SQL stays in the store; the roll-up itself is in [`super::status`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::Controller;
use super::history::TrafficHistory;
use crate::health::MemberStatusChange;
use crate::model::{ListenerId, StatsBase};
use crate::store;
use crate::store::events::EventKind;

/// Listener totals as last written, so unchanged counters cost no write.
type Saved = HashMap<ListenerId, StatsBase>;

impl Controller {
    /// Write member status changes from the health checker: batch what
    /// arrives together, add each to its load balancer's events feed, then
    /// recompute the roll-up once per affected load balancer (only changed
    /// statuses are written). Returns when `changes` closes or on
    /// `shutdown`.
    pub async fn watch_statuses(
        self: Arc<Self>,
        mut changes: UnboundedReceiver<MemberStatusChange>,
        shutdown: CancellationToken,
    ) {
        // Being at connection_limit is not an event anyone sends: look every
        // couple of seconds at the load balancers that have a limited listener.
        let mut limits = tokio::time::interval(Duration::from_secs(2));
        limits.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let mut affected = HashSet::new();
            let mut batch = Vec::new();
            tokio::select! {
                change = changes.recv() => match change {
                    Some(c) => batch.push(c),
                    None => return,
                },
                _ = limits.tick() => {
                    match self.store.run(|c| store::listeners::limited_load_balancers(c)).await {
                        Ok(ids) => affected.extend(ids),
                        Err(e) => warn!(error = %e, "cannot list limited listeners"),
                    }
                }
                _ = shutdown.cancelled() => return,
            }
            while let Ok(more) = changes.try_recv() {
                batch.push(more);
            }
            affected.extend(batch.iter().map(|c| c.load_balancer_id));
            self.record_status_events(batch).await;
            for lb in affected {
                if let Err(e) = self.refresh_status(lb).await {
                    warn!(lb_id = %lb, error = %e, "cannot write operating statuses");
                }
            }
        }
    }

    /// Add status changes to their load balancers' events feeds, in one
    /// write. A change whose load balancer is gone (purged meanwhile) is
    /// skipped, not an error for the others.
    async fn record_status_events(&self, batch: Vec<MemberStatusChange>) {
        if batch.is_empty() {
            return;
        }
        let result = self
            .store
            .write(move |tx| {
                for c in &batch {
                    if !store::load_balancers::exists(tx, c.load_balancer_id)? {
                        continue;
                    }
                    store::events::insert(
                        tx,
                        c.load_balancer_id,
                        EventKind::Status,
                        &format!("member {}", c.address),
                        &format!("{}: {}", c.status, c.cause),
                    )?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = result {
            warn!(error = %e, "cannot record status events");
        }
    }

    /// Persist the data plane's counters that moved, every `every`, until
    /// `shutdown`.
    pub async fn persist_stats_every(
        self: Arc<Self>,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let mut saved = Saved::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => self.persist_stats(&mut saved).await,
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// Sample every served listener's counters into `history` at its
    /// interval, until `shutdown`. Memory only: no store access.
    pub async fn sample_traffic(
        self: Arc<Self>,
        history: Arc<TrafficHistory>,
        shutdown: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(history.interval());
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            let at_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0);
            history.record(at_ms, &self.dataplane.all_listener_stats());
        }
    }

    /// Persist every listener's counters once (the last word at shutdown).
    pub async fn persist_all_stats(&self) {
        self.persist_stats(&mut Saved::new()).await;
    }

    /// Write the data plane's counters that moved forward since `saved`.
    async fn persist_stats(&self, saved: &mut Saved) {
        let moved: Vec<_> = self
            .dataplane
            .all_listener_stats()
            .into_iter()
            .filter(|(id, s)| {
                // A listener not written yet counts as zeros: a new, idle one
                // costs no write either.
                let old = saved.get(id).copied().unwrap_or_default();
                s.totals().at_least(old) != old
            })
            .collect();
        if moved.is_empty() {
            return;
        }
        let to_write = moved.clone();
        let result = self
            .store
            .write(move |tx| store::stats::save_all(tx, &to_write))
            .await;
        match result {
            Ok(()) => saved.extend(moved.into_iter().map(|(id, s)| (id, s.totals()))),
            Err(e) => warn!(error = %e, "cannot persist listener stats"),
        }
    }

    /// Purge DELETED load balancers and closed jobs older than
    /// `purge_after_secs`, until `shutdown`.
    pub async fn purge_every(self: Arc<Self>, purge_after_secs: u64, shutdown: CancellationToken) {
        // Look often enough that nothing outlives its age by much more than a
        // quarter of it, and at most once a minute.
        let every = Duration::from_secs((purge_after_secs / 4).clamp(1, 60));
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.cancelled() => return,
            }
            let before = store::now() - purge_after_secs as i64;
            match self
                .store
                .write(move |tx| store::purge_closed_before(tx, before))
                .await
            {
                Ok(store::Purged {
                    load_balancers: 0,
                    jobs: 0,
                }) => {}
                Ok(store::Purged {
                    load_balancers,
                    jobs,
                }) => info!(load_balancers, jobs, "housekeeping purged"),
                Err(e) => warn!(error = %e, "housekeeping failed"),
            }
        }
    }
}
