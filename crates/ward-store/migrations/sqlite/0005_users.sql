-- People who sign in.
CREATE TABLE users (
    username       TEXT PRIMARY KEY,
    password_hash  TEXT,                     -- argon2id PHC string; NULL: cannot sign in with a password
    disabled       INTEGER NOT NULL DEFAULT 0,
    roles          TEXT NOT NULL DEFAULT '[]',   -- JSON array
    groups_        TEXT NOT NULL DEFAULT '[]',   -- JSON array
    tenant         TEXT,
    email          TEXT,
    name           TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
