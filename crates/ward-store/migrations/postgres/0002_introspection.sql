-- Resource servers allowed to introspect tokens issued to other clients (RFC 7662 §4).
ALTER TABLE clients ADD COLUMN may_introspect BIGINT NOT NULL DEFAULT 0;
