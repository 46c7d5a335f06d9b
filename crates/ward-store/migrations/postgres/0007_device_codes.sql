-- Device authorization (RFC 8628): a device's code, stored as the hex SHA-256 of its value,
-- and the short code a person types, normalised (upper case, no dash).
CREATE TABLE device_codes (
    device_code_hash TEXT PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    grant_id         TEXT NOT NULL,        -- the grant the code creates when redeemed
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    interval_secs    BIGINT NOT NULL,          -- raised by slow_down
    last_polled_at   BIGINT,
    status           TEXT NOT NULL,        -- pending, approved, denied, redeemed
    username         TEXT,                 -- who approved or denied
    auth_time        BIGINT
);
CREATE INDEX device_codes_expiry ON device_codes (expires_at);
CREATE INDEX device_codes_user ON device_codes (username);
