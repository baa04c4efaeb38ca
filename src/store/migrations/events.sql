-- The events feed of each load balancer (issue 17): status changes with
-- their cause and provisioning results, newest last, at most
-- events::KEEP_PER_LOAD_BALANCER rows each (the store trims on insert).
-- Purging a load balancer takes its events with it.
CREATE TABLE events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    load_balancer_id TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    at               INTEGER NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('status', 'provisioning')),
    -- What the event is about, as people read it: `member 127.0.0.1:8081`,
    -- `CreateListener`.
    subject          TEXT NOT NULL,
    message          TEXT NOT NULL
);
CREATE INDEX events_by_load_balancer ON events (load_balancer_id, id);
