-- The v2 API's needs (issue 15): pools belong to a load balancer (a
-- listener's default pool or standalone), health monitors get their own id,
-- and every object gets tags and an updated_at (NULL until first updated,
-- as Octavia shows it). Runs with foreign keys off (see migrations.rs): the
-- pools and health_monitors rebuilds must not cascade into their children.

CREATE TABLE pools_v2 (
    id                  TEXT PRIMARY KEY,
    load_balancer_id    TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    -- The listener whose default pool this is; NULL for a standalone pool.
    -- Deleting the listener through v1 takes its pool with it; v2 detaches
    -- the pool first.
    listener_id         TEXT UNIQUE REFERENCES listeners (id) ON DELETE CASCADE,
    protocol            TEXT NOT NULL CHECK (protocol IN ('TCP', 'HTTP', 'HTTPS')),
    lb_algorithm        TEXT NOT NULL CHECK (lb_algorithm IN ('ROUND_ROBIN', 'LEAST_CONNECTIONS', 'SOURCE_IP')),
    persistence_type    TEXT CHECK (persistence_type IN ('HTTP_COOKIE', 'SOURCE_IP')),
    cookie_name         TEXT,
    name                TEXT,
    description         TEXT,
    enabled             INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    provisioning_status TEXT NOT NULL CHECK (provisioning_status IN
        ('PENDING_CREATE', 'ACTIVE', 'PENDING_UPDATE', 'PENDING_DELETE', 'DELETED', 'ERROR')),
    operating_status    TEXT NOT NULL CHECK (operating_status IN ('ONLINE', 'OFFLINE', 'DEGRADED', 'ERROR')),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER,
    tags                TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO pools_v2 (id, load_balancer_id, listener_id, protocol, lb_algorithm,
    persistence_type, cookie_name, name, description, enabled, provisioning_status,
    operating_status, created_at)
SELECT p.id, l.load_balancer_id, p.listener_id, p.protocol, p.lb_algorithm,
    p.persistence_type, p.cookie_name, p.name, p.description, p.enabled,
    p.provisioning_status, p.operating_status, p.created_at
FROM pools p JOIN listeners l ON l.id = p.listener_id;
DROP TABLE pools;
ALTER TABLE pools_v2 RENAME TO pools;
CREATE INDEX pools_by_load_balancer ON pools (load_balancer_id);

CREATE TABLE health_monitors_v2 (
    pool_id             TEXT PRIMARY KEY REFERENCES pools (id) ON DELETE CASCADE,
    id                  TEXT NOT NULL UNIQUE,
    name                TEXT,
    type                TEXT NOT NULL CHECK (type IN ('PING', 'TCP', 'HTTP', 'HTTPS')),
    delay               INTEGER NOT NULL CHECK (delay >= 1),
    timeout             INTEGER NOT NULL CHECK (timeout >= 1 AND timeout <= delay),
    fall_threshold      INTEGER NOT NULL CHECK (fall_threshold BETWEEN 1 AND 10),
    rise_threshold      INTEGER NOT NULL CHECK (rise_threshold BETWEEN 1 AND 10),
    http_method         TEXT NOT NULL CHECK (http_method IN
        ('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'CONNECT', 'TRACE')),
    url_path            TEXT NOT NULL,
    expected_codes      TEXT NOT NULL,
    enabled             INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    provisioning_status TEXT NOT NULL CHECK (provisioning_status IN
        ('PENDING_CREATE', 'ACTIVE', 'PENDING_UPDATE', 'PENDING_DELETE', 'DELETED', 'ERROR')),
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER,
    tags                TEXT NOT NULL DEFAULT '[]'
);
-- Existing monitors get a random (version 4) UUID each.
INSERT INTO health_monitors_v2 (pool_id, id, type, delay, timeout, fall_threshold,
    rise_threshold, http_method, url_path, expected_codes, enabled, provisioning_status,
    created_at)
SELECT pool_id,
    lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
        substr(hex(randomblob(2)), 2) || '-' ||
        substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' ||
        hex(randomblob(6))),
    type, delay, timeout, fall_threshold, rise_threshold, http_method, url_path,
    expected_codes, enabled, provisioning_status, created_at
FROM health_monitors;
DROP TABLE health_monitors;
ALTER TABLE health_monitors_v2 RENAME TO health_monitors;

ALTER TABLE load_balancers ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

ALTER TABLE listeners ADD COLUMN updated_at INTEGER;
ALTER TABLE listeners ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

ALTER TABLE members ADD COLUMN name TEXT;
ALTER TABLE members ADD COLUMN updated_at INTEGER;
ALTER TABLE members ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
