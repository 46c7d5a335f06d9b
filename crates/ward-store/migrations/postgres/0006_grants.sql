-- People signing in: grants (what a user sees as one session and can revoke), their refresh
-- tokens, authorization codes, pushed authorization requests, browser sessions, remembered
-- consent. Every secret is stored only as the hex SHA-256 of its value.

-- What a browser-based client may do with the user's sign-in.
ALTER TABLE clients ADD COLUMN post_logout_redirect_uris TEXT NOT NULL DEFAULT '[]';  -- JSON array
ALTER TABLE clients ADD COLUMN require_pkce BIGINT NOT NULL DEFAULT 1;
ALTER TABLE clients ADD COLUMN require_par BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN rotate_refresh_tokens BIGINT NOT NULL DEFAULT 1;

CREATE TABLE grants (
    grant_id       TEXT PRIMARY KEY,         -- the sid claim of its tokens
    client_id      TEXT NOT NULL,
    subject_kind   TEXT NOT NULL,            -- 'user', or 'client' for client credentials
    subject        TEXT NOT NULL,            -- a username or a client_id
    scopes         TEXT NOT NULL,            -- space-separated
    auth_time      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT
);
CREATE INDEX grants_subject ON grants (subject, subject_kind);
CREATE INDEX grants_client ON grants (client_id);
-- Nodes poll for grants revoked since their last look.
CREATE INDEX grants_revoked ON grants (revoked_at);

CREATE TABLE refresh_tokens (
    token_hash     TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL REFERENCES grants (grant_id) ON DELETE CASCADE,
    scopes         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    -- The token this one replaced. Unique: a token has one successor, whichever node rotates
    -- it; the successor's created_at is when its parent was spent.
    parent_hash    TEXT UNIQUE
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

CREATE TABLE authorization_codes (
    code_hash      TEXT PRIMARY KEY,
    grant_id       TEXT NOT NULL,            -- the grant the code creates when redeemed
    client_id      TEXT NOT NULL,
    username       TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT,
    nonce          TEXT,
    scopes         TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    redeemed_at    BIGINT
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

CREATE TABLE pushed_requests (
    uri_hash       TEXT PRIMARY KEY,
    client_id      TEXT NOT NULL,
    parameters     TEXT NOT NULL,            -- the form body the client pushed
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);

CREATE TABLE browser_sessions (
    session_hash   TEXT PRIMARY KEY,
    username       TEXT NOT NULL,
    auth_time      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX browser_sessions_user ON browser_sessions (username);
CREATE INDEX browser_sessions_expiry ON browser_sessions (expires_at);

CREATE TABLE consents (
    username       TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    scopes         TEXT NOT NULL,            -- space-separated, everything consented so far
    updated_at     BIGINT NOT NULL,
    PRIMARY KEY (username, client_id)
);

-- The OpenID Connect scopes (Core §5.4, §11) every deployment has.
INSERT INTO scopes (name, description, created_at) VALUES
    ('openid', 'Sign you in and know who you are', 0),
    ('profile', 'Your name and username', 0),
    ('email', 'Your email address', 0),
    ('offline_access', 'Stay signed in on this app', 0)
ON CONFLICT (name) DO NOTHING;
