-- Short links (SPEC §5 `shortURL`, `GET /{code}`) and chat bots (`linkcreation`).

-- An account's short-link token (`custToken`): its SHA-256, to find the
-- account (unique), and a copy sealed with the master key, to show in the
-- account's settings. NULL only for accounts made before this migration,
-- until the next start issues theirs.
ALTER TABLE accounts ADD COLUMN short_token_hash TEXT;
ALTER TABLE accounts ADD COLUMN short_token TEXT;
-- The account's own short domain; NULL: the server's FLOWHOOK_SHORT_BASE_URL.
ALTER TABLE accounts ADD COLUMN short_base_url TEXT;
CREATE UNIQUE INDEX accounts_short_token ON accounts (short_token_hash);

-- A short link's code and target never change; clicks are added in batches.
CREATE TABLE short_links (
    code           TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    long_url       TEXT NOT NULL,
    short_url      TEXT NOT NULL,     -- as answered, under the base of that time
    clicks         BIGINT NOT NULL DEFAULT 0,
    last_click_at  BIGINT,
    created_at     BIGINT NOT NULL
);
CREATE INDEX short_links_by_account ON short_links (account_id, created_at);

CREATE TABLE bots (
    account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    base_url    TEXT NOT NULL,
    token       TEXT NOT NULL,        -- sealed with the master key
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);

-- `botUniqueID`: one random id per bot and caller, kept so it stays the same.
CREATE TABLE bot_contacts (
    account_id  TEXT NOT NULL,
    bot_id      TEXT NOT NULL,
    cli         TEXT NOT NULL,
    unique_id   TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, bot_id, cli),
    FOREIGN KEY (account_id, bot_id) REFERENCES bots (account_id, id) ON DELETE CASCADE
);
