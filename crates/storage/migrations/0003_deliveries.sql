-- The flow-end webhook outbox: one row per message, written in the same
-- transaction that finishes its execution, and one row per attempt.

CREATE TABLE deliveries (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    webhook_id      TEXT NOT NULL,           -- no foreign key: history outlives webhooks
    execution_id    TEXT NOT NULL,
    msg_id          TEXT NOT NULL UNIQUE,    -- the webhook-id header, the same on every attempt
    payload         TEXT NOT NULL,           -- the exact bytes sent
    status          TEXT NOT NULL,           -- pending, delivered, failed
    attempts        BIGINT NOT NULL DEFAULT 0,
    round_attempts  BIGINT NOT NULL DEFAULT 0, -- attempts since it was (re)queued
    next_attempt_at BIGINT NOT NULL,
    lease_owner     TEXT,
    lease_until     BIGINT,
    last_status     BIGINT,
    last_error      TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_by_account ON deliveries (account_id, created_at);

CREATE TABLE delivery_attempts (
    delivery_id     TEXT NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempt         BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    status          BIGINT,                  -- HTTP status, NULL when no response came
    duration_us     BIGINT NOT NULL,
    response        TEXT,                    -- excerpt, at most 4 KiB
    error           TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
