-- Executions reports (SPEC §5 `pullreport`, `POST /v1/reports`): one row per
-- report, its file kept as ordered chunks written while it is built.
-- (0008 is another change's number: the migrator applies whatever is missing,
-- in list order, so a database may get 0009 before 0008.)

CREATE TABLE reports (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    flow_id       TEXT NOT NULL,
    from_ms       BIGINT NOT NULL,           -- executions started at or after
    to_ms         BIGINT NOT NULL,           -- … and before
    time_zone     TEXT NOT NULL,             -- the account's, when asked: times are shown in it
    format        TEXT NOT NULL,             -- csv, json
    deliver_to    TEXT,                      -- a webhook id of the account
    status        TEXT NOT NULL,             -- queued, building, ready, failed
    rows_done     BIGINT NOT NULL DEFAULT 0,
    rows_total    BIGINT,                    -- known after the first pass
    size_bytes    BIGINT NOT NULL DEFAULT 0,
    error         TEXT,
    delivery_id   TEXT,                      -- the delivery of the file to deliver_to
    lease_owner   TEXT,                      -- the server building it …
    lease_until   BIGINT,                    -- … while this is in the future
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    finished_at   BIGINT
);
CREATE INDEX reports_by_account ON reports (account_id, created_at);
CREATE INDEX reports_to_build ON reports (created_at) WHERE status IN ('queued', 'building');

CREATE TABLE report_chunks (
    report_id  TEXT NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    seq        BIGINT NOT NULL,
    data       TEXT NOT NULL,                -- UTF-8 text of the file, in order
    PRIMARY KEY (report_id, seq)
);

-- A report reads a flow's executions in pages ordered by (started_at, id):
-- with the id in the index the pages come in index order, so each costs its
-- own rows, not a sort of every row after it. (It serves what the index it
-- replaces did: account, flow, started_at.)
DROP INDEX executions_by_flow_time;
CREATE INDEX executions_by_flow_time ON executions (account_id, flow_id, started_at, id);
