-- Outbound requests (SPEC §5 `createOutbound`, `POST /v1/outbound`) and the
-- schedule: one row per contact number to call, claimed with a lease when due.

CREATE TABLE outbound_requests (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    flow_id      TEXT NOT NULL,
    flow_version BIGINT,                 -- asked for; NULL: the current one at start
    source       TEXT NOT NULL,          -- api, internal
    result_code  BIGINT NOT NULL,        -- 200 or 209
    invalid      TEXT NOT NULL,          -- JSON [{number, reason}]
    checksum     TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX outbound_requests_by_account ON outbound_requests (account_id, created_at);

-- The latest request of each checksum: an identical request within 24 hours
-- is answered CHECKSUM_REPEATED with that request's id.
CREATE TABLE outbound_checksums (
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    checksum    TEXT NOT NULL,
    request_id  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, checksum)
);

CREATE TABLE outbound_calls (
    id            TEXT PRIMARY KEY,
    request_id    TEXT NOT NULL REFERENCES outbound_requests(id) ON DELETE CASCADE,
    account_id    TEXT NOT NULL,
    flow_id       TEXT NOT NULL,
    flow_version  BIGINT,
    contact       TEXT NOT NULL,          -- E.164 digits
    client_id     TEXT,
    keys          TEXT NOT NULL,          -- JSON {name: value} of $flow.key
    execution_id  TEXT NOT NULL UNIQUE,   -- chosen when scheduled: one call, one execution
    status        TEXT NOT NULL,          -- scheduled, started, cancelled, failed
    error         TEXT,                   -- why it failed to start
    due_at        BIGINT NOT NULL,
    started_at    BIGINT,
    lease_owner   TEXT,
    lease_until   BIGINT,
    created_at    BIGINT NOT NULL
);
CREATE INDEX outbound_calls_due ON outbound_calls (status, due_at);
CREATE INDEX outbound_calls_by_request ON outbound_calls (request_id);
