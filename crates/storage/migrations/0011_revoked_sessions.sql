-- Admin UI sessions ended by signing out before their cookie expired: the
-- cookie is signed, not stored, so a signed-out session is remembered here
-- (by its random nonce) until it would have expired anyway.
CREATE TABLE revoked_sessions (
    nonce       TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL   -- unix seconds; the row may go after it
);
