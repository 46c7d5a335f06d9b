-- Staged key rotation: a key is published from one instant and signs from a later one, on
-- every node alike.
ALTER TABLE signing_keys ADD COLUMN published_from INTEGER;
ALTER TABLE signing_keys ADD COLUMN active_from INTEGER;
UPDATE signing_keys SET published_from = created_at, active_from = created_at;
