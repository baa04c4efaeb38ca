-- Identity (issue 16): projects, users, role assignments, application
-- credentials and tokens of the built-in Keystone subset. Secrets are stored
-- only as hashes: passwords and application credential secrets as argon2id
-- PHC strings, tokens as the hex SHA-256 of the token (a token is 256 random
-- bits, so a fast hash is enough and lets a token be found by its hash).

CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    -- argon2id PHC string; NULL: the user cannot log in with a password.
    password_hash      TEXT,
    default_project_id TEXT REFERENCES projects (id) ON DELETE SET NULL,
    enabled            INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    created_at         INTEGER NOT NULL
);

CREATE TABLE role_assignments (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('admin', 'member', 'reader')),
    PRIMARY KEY (user_id, project_id, role)
);

CREATE TABLE application_credentials (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    project_id  TEXT NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    -- argon2id PHC string of the secret.
    secret_hash TEXT NOT NULL,
    -- JSON list of role names the credential carries (a subset of the
    -- user's roles on the project when it was made).
    roles       TEXT NOT NULL,
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL,
    UNIQUE (user_id, name)
);

CREATE TABLE tokens (
    -- Hex SHA-256 of the token; the token itself is never stored.
    hash                      TEXT PRIMARY KEY,
    user_id                   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NULL: an unscoped token (good only for rescoping).
    project_id                TEXT REFERENCES projects (id) ON DELETE CASCADE,
    application_credential_id TEXT REFERENCES application_credentials (id) ON DELETE CASCADE,
    -- JSON list of the authentication methods (`["password"]`).
    methods                   TEXT NOT NULL,
    audit_id                  TEXT NOT NULL,
    issued_at                 INTEGER NOT NULL,
    expires_at                INTEGER NOT NULL,
    revoked                   INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1))
);
CREATE INDEX tokens_expiry ON tokens (expires_at);

-- Certificates and ports belong to a project like the load balancers that
-- use them. A port of a load balancer takes its project; a certificate takes
-- the project of a load balancer whose listener uses it. Others stay NULL:
-- seen only by those who see every project (admins).
ALTER TABLE certificates ADD COLUMN project_id TEXT;
ALTER TABLE ports ADD COLUMN project_id TEXT;
UPDATE ports SET project_id =
    (SELECT tenant_id FROM load_balancers WHERE id = ports.load_balancer_id)
    WHERE load_balancer_id IS NOT NULL;
UPDATE certificates SET project_id =
    (SELECT lb.tenant_id FROM listeners l JOIN load_balancers lb ON lb.id = l.load_balancer_id
     WHERE l.default_tls_container_id = certificates.id AND lb.tenant_id IS NOT NULL
     ORDER BY l.created_at LIMIT 1);
