-- Staged key rotation: a key is published from one instant and signs from a later one, on
-- every node alike.
ALTER TABLE signing_keys ADD COLUMN published_from BIGINT;
ALTER TABLE signing_keys ADD COLUMN active_from BIGINT;
UPDATE signing_keys SET published_from = created_at, active_from = created_at;
