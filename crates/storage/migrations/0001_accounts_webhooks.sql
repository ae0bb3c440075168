-- Accounts (tenants) and their webhook registry.
-- Portable DDL: the same file runs on SQLite and PostgreSQL. Times are unix
-- milliseconds (BIGINT), ids are text, JSON documents are text.

CREATE TABLE accounts (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    client_id        BIGINT NOT NULL UNIQUE,
    security_hash    TEXT NOT NULL UNIQUE,
    allow_http       BOOLEAN NOT NULL DEFAULT FALSE,
    timezone         TEXT NOT NULL,
    whitelist        TEXT NOT NULL DEFAULT '[]',
    calendar         TEXT NOT NULL DEFAULT '{}',
    providers        TEXT NOT NULL DEFAULT '{}',
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);

CREATE TABLE webhooks (
    id               TEXT PRIMARY KEY,
    account_id       TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    method           TEXT NOT NULL,
    url              TEXT NOT NULL,
    auth_type        TEXT NOT NULL,
    auth_username    TEXT,
    auth_password    TEXT,              -- sealed with the master key
    body_type        TEXT NOT NULL,
    headers          TEXT NOT NULL DEFAULT '[]',
    is_default       BOOLEAN NOT NULL DEFAULT FALSE,
    signing_secret   TEXT NOT NULL,     -- sealed
    previous_secret  TEXT,              -- sealed; still signs during a rotation
    previous_until   BIGINT,            -- end of the rotation overlap
    last_check       TEXT,              -- JSON of the last check-button result
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

-- At most one default webhook per account, whatever the race.
CREATE UNIQUE INDEX webhooks_one_default ON webhooks (account_id) WHERE is_default;
