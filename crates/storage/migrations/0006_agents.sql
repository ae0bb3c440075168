-- Direct-dial agents of an account and every break they took, and the
-- account's default country code (how a cli written without one is read).

ALTER TABLE accounts ADD COLUMN default_country_code TEXT NOT NULL DEFAULT '91';

CREATE TABLE agents (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    country_code  TEXT NOT NULL,              -- 1-3 digits, like 91
    national      TEXT NOT NULL,              -- digits, without country code or trunk 0
    number        TEXT NOT NULL,              -- country_code || national: what a cli matches
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (account_id, number)
);

-- One row per break; the agent is on break while its row has no end.
CREATE TABLE agent_breaks (
    id          TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL,                -- the agent's, for the reports' index
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT                        -- NULL while the break goes on
);
-- At most one open break per agent, whichever server pauses it.
CREATE UNIQUE INDEX agent_breaks_one_open ON agent_breaks (agent_id) WHERE ended_at IS NULL;
-- A report's window finds the breaks that started in it by their start, and
-- those that started before it by their end (or its absence).
CREATE INDEX agent_breaks_by_start ON agent_breaks (account_id, started_at);
CREATE INDEX agent_breaks_by_end ON agent_breaks (account_id, ended_at);
