-- Flows (with every saved version), executions with their traces, and the
-- per-contact $user.key variables.

CREATE TABLE flows (
    id          TEXT PRIMARY KEY,             -- 8 characters [A-Za-z0-9]
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    version     BIGINT NOT NULL,              -- the current version
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

CREATE TABLE flow_versions (
    flow_id     TEXT NOT NULL REFERENCES flows(id) ON DELETE CASCADE,
    version     BIGINT NOT NULL,
    document    TEXT NOT NULL,                -- the flow JSON as validated
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (flow_id, version)
);

CREATE TABLE executions (
    id           TEXT PRIMARY KEY,            -- the phonon-uuid
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    flow_id      TEXT NOT NULL,               -- no foreign key: history outlives flows
    flow_version BIGINT NOT NULL,
    contact      TEXT NOT NULL,
    status       TEXT NOT NULL,               -- running, completed, failed
    reason       TEXT,
    call         TEXT NOT NULL,               -- JSON object of $call fields
    recordings   TEXT NOT NULL DEFAULT '[]',
    variables    TEXT NOT NULL DEFAULT '{}',
    persisted    TEXT NOT NULL DEFAULT '{}',  -- mapped values of persist_response widgets
    trace        TEXT NOT NULL DEFAULT '[]',
    started_at   BIGINT NOT NULL,
    finished_at  BIGINT
);
CREATE INDEX executions_by_account_time ON executions (account_id, started_at);
CREATE INDEX executions_by_flow_time ON executions (account_id, flow_id, started_at);
CREATE INDEX executions_by_status ON executions (status);

CREATE TABLE user_keys (
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    contact     TEXT NOT NULL,
    name        TEXT NOT NULL,                -- the NAME of $user.key.NAME
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, contact, name)
);
