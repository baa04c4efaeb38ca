-- Ballast: the full schema of a new database (migration 1).
-- Later changes are numbered, append-only steps in src/store/migrations.rs.
-- Enum columns carry the API's spelling, backed by CHECK constraints.

CREATE TABLE certificates (
    id            TEXT PRIMARY KEY,
    name          TEXT,
    certificate   TEXT NOT NULL,
    private_key   TEXT NOT NULL,
    intermediates TEXT,
    created_at    INTEGER NOT NULL
);

CREATE TABLE load_balancers (
    id                  TEXT PRIMARY KEY,
    tenant_id           TEXT,
    name                TEXT,
    description         TEXT,
    enabled             INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    provisioning_status TEXT NOT NULL CHECK (provisioning_status IN
        ('PENDING_CREATE', 'ACTIVE', 'PENDING_UPDATE', 'PENDING_DELETE', 'DELETED', 'ERROR')),
    operating_status    TEXT NOT NULL CHECK (operating_status IN ('ONLINE', 'OFFLINE', 'DEGRADED', 'ERROR')),
    vip_address         TEXT NOT NULL,
    vip_port_id         TEXT NOT NULL,
    vip_network_id      TEXT NOT NULL,
    last_error          TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    deleted_at          INTEGER
);

-- An address reservation on a host network. `owned` ports were created for a
-- load balancer's VIP and go with it; a client's own port is only released.
CREATE TABLE ports (
    id               TEXT PRIMARY KEY,
    network_id       TEXT NOT NULL,
    ip_address       TEXT NOT NULL,
    load_balancer_id TEXT REFERENCES load_balancers (id) ON DELETE SET NULL,
    owned            INTEGER NOT NULL DEFAULT 0 CHECK (owned IN (0, 1)),
    created_at       INTEGER NOT NULL,
    UNIQUE (network_id, ip_address)
);
CREATE INDEX ports_by_load_balancer ON ports (load_balancer_id);

CREATE TABLE listeners (
    id                       TEXT PRIMARY KEY,
    load_balancer_id         TEXT NOT NULL REFERENCES load_balancers (id) ON DELETE CASCADE,
    protocol                 TEXT NOT NULL CHECK (protocol IN ('TCP', 'HTTP', 'HTTPS')),
    protocol_port            INTEGER NOT NULL CHECK (protocol_port BETWEEN 1 AND 65535),
    connection_limit         INTEGER CHECK (connection_limit IS NULL OR connection_limit >= 1),
    default_tls_container_id TEXT REFERENCES certificates (id),
    tenant_id                TEXT,
    name                     TEXT,
    description              TEXT,
    enabled                  INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    provisioning_status      TEXT NOT NULL CHECK (provisioning_status IN
        ('PENDING_CREATE', 'ACTIVE', 'PENDING_UPDATE', 'PENDING_DELETE', 'DELETED', 'ERROR')),
    operating_status         TEXT NOT NULL CHECK (operating_status IN ('ONLINE', 'OFFLINE', 'DEGRADED', 'ERROR')),
    created_at               INTEGER NOT NULL,
    UNIQUE (load_balancer_id, protocol_port)
);
CREATE INDEX listeners_by_certificate ON listeners (default_tls_container_id);

CREATE TABLE pools (
    id                  TEXT PRIMARY KEY,
    listener_id         TEXT NOT NULL UNIQUE REFERENCES listeners (id) ON DELETE CASCADE,
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
    created_at          INTEGER NOT NULL
);

CREATE TABLE members (
    id                  TEXT PRIMARY KEY,
    pool_id             TEXT NOT NULL REFERENCES pools (id) ON DELETE CASCADE,
    ip_address          TEXT NOT NULL,
    protocol_port       INTEGER NOT NULL CHECK (protocol_port BETWEEN 1 AND 65535),
    weight              INTEGER NOT NULL CHECK (weight BETWEEN 0 AND 256),
    subnet_id           TEXT,
    enabled             INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    provisioning_status TEXT NOT NULL CHECK (provisioning_status IN
        ('PENDING_CREATE', 'ACTIVE', 'PENDING_UPDATE', 'PENDING_DELETE', 'DELETED', 'ERROR')),
    operating_status    TEXT NOT NULL CHECK (operating_status IN ('ONLINE', 'OFFLINE', 'DEGRADED', 'ERROR')),
    created_at          INTEGER NOT NULL,
    UNIQUE (pool_id, ip_address, protocol_port)
);

CREATE TABLE health_monitors (
    pool_id             TEXT PRIMARY KEY REFERENCES pools (id) ON DELETE CASCADE,
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
    created_at          INTEGER NOT NULL
);

-- Listener counter totals, persisted periodically and on shutdown.
CREATE TABLE listener_stats (
    listener_id       TEXT PRIMARY KEY REFERENCES listeners (id) ON DELETE CASCADE,
    bytes_in          INTEGER NOT NULL DEFAULT 0,
    bytes_out         INTEGER NOT NULL DEFAULT 0,
    total_connections INTEGER NOT NULL DEFAULT 0,
    updated_at        INTEGER NOT NULL
);

-- The controller's durable queue: one open job per load balancer at a time
-- (the load balancer lock guarantees it).
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    load_balancer_id TEXT NOT NULL,
    kind             TEXT NOT NULL,
    object_id        TEXT,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    error            TEXT,
    created_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
CREATE INDEX jobs_open ON jobs (state) WHERE state IN ('pending', 'running');
