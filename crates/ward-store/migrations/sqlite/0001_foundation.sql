-- Clients, scopes, signing keys, revoked access tokens, seen client-assertion ids.
-- Times are Unix seconds; flags are 0/1 integers so that one SQL text runs on both backends.

CREATE TABLE clients (
    client_id      TEXT PRIMARY KEY,
    name           TEXT NOT NULL,
    client_type    TEXT NOT NULL,
    grant_types    TEXT NOT NULL,            -- space-separated
    redirect_uris  TEXT NOT NULL,            -- JSON array
    scopes         TEXT NOT NULL,            -- space-separated
    auth_method    TEXT NOT NULL,
    secret_hash    TEXT,                     -- hex SHA-256 of the secret
    jwks           TEXT,                     -- JSON JWK set, for private_key_jwt
    jwks_uri       TEXT,
    skip_consent   INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

CREATE TABLE scopes (
    name           TEXT PRIMARY KEY,
    description    TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,
    alg            TEXT NOT NULL,
    private_key    TEXT NOT NULL,            -- base64 of the KEK-sealed PKCS#8 document
    active         INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    retired_at     INTEGER,
    publish_until  INTEGER                   -- retired keys stay in the JWKS until then
);
-- At most one key signs at a time, whichever node inserted it.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (active) WHERE active = 1;

CREATE TABLE revoked_tokens (
    jti            TEXT PRIMARY KEY,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER NOT NULL
);
CREATE INDEX revoked_tokens_expiry ON revoked_tokens (expires_at);
-- Nodes poll for revocations made since their last look.
CREATE INDEX revoked_tokens_recent ON revoked_tokens (revoked_at);

CREATE TABLE assertion_jtis (
    client_id      TEXT NOT NULL,
    jti            TEXT NOT NULL,
    expires_at     INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX assertion_jtis_expiry ON assertion_jtis (expires_at);
