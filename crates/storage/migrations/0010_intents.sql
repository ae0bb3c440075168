-- Built-in intent rules of `speechprocessing` (SPEC §5), managed at
-- /v1/intents. Phrases and keywords are JSON arrays of strings.
CREATE TABLE intents (
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    phrases     TEXT NOT NULL,
    keywords    TEXT NOT NULL,
    regex       TEXT,
    priority    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, name)
);
