-- What a client-credentials token says about its client: roles (a JSON array) and a tenant.
ALTER TABLE clients ADD COLUMN roles TEXT NOT NULL DEFAULT '[]';
ALTER TABLE clients ADD COLUMN tenant TEXT;
