//! An identity SQL cannot forge. Plain settings such as `app.user_id` are session state any
//! statement can change, so the gate also sets `ward.identity`: a JSON payload (the caller,
//! tenant, roles, chosen claims, the token's expiry and the backend's process id) with an
//! HMAC-SHA-256 under a key that lives in the database's `ward.identity_keys` table, which
//! service accounts cannot read. `ward.identity()`, a SECURITY DEFINER function, returns the
//! payload only when the MAC verifies, the token has not expired and the payload names this
//! backend; `ward.user_id()`, `ward.tenant_id()`, `ward.roles()` and `ward.claim(name)` read
//! from it. A forged `SET ward.identity` (or a replayed one on another backend, or after
//! `exp`) yields NULL — no rows under a policy, not someone else's.
//!
//! The database computes HMAC with PostgreSQL's built-in `sha256()` (no extension): the key
//! is stored as its two padded halves, `K ⊕ ipad` and `K ⊕ opad` (RFC 2104).

use aws_lc_rs::{digest, hmac};
use serde_json::{Map, Value};
use ward_config::gate::SecretSourceError;
use ward_config::gate::SignedIdentityConfig;
use ward_gate::GateError;
use ward_token::remote::Identity;

/// HMAC-SHA-256's block size.
const BLOCK: usize = 64;

/// Signs identities with the first configured key.
pub struct IdentitySigner {
    kid: String,
    key: hmac::Key,
    user_claim: String,
    tenant_claim: String,
    claims: Vec<String>,
}

/// The part of a payload that depends on the token only: the JSON object without its
/// opening brace, so that the backend's process id can go in front without re-encoding.
#[derive(Clone, Debug)]
pub struct SignedPayload(String);

impl SignedPayload {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Every configured key, resolved: `(id, secret)`.
pub fn resolve_keys(
    config: &SignedIdentityConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, Vec<u8>)>, SecretSourceError> {
    config.keys.iter().map(|k| Ok((k.id.clone(), k.resolve(&env)?))).collect()
}

impl IdentitySigner {
    pub fn new(config: &SignedIdentityConfig, env: impl Fn(&str) -> Option<String>) -> Result<Self, GateError> {
        let (kid, secret) = resolve_keys(config, env)?.into_iter().next().ok_or(GateError::NoIdentityKey)?;
        Ok(Self {
            kid,
            key: hmac::Key::new(hmac::HMAC_SHA256, &secret),
            user_claim: config.user_claim.clone(),
            tenant_claim: config.tenant_claim.clone(),
            claims: config.claims.clone(),
        })
    }

    /// The token-dependent part of the payload, computed once per session.
    pub fn payload(&self, identity: &Identity) -> SignedPayload {
        let text = |claim: &str| identity.claim_text(claim).map_or(Value::Null, Value::String);
        let claims: Map<String, Value> = self
            .claims
            .iter()
            .filter_map(|name| identity.claim_text(name).map(|v| (name.clone(), Value::String(v))))
            .collect();
        let payload = serde_json::json!({
            "exp": identity.expires_at,
            "user_id": text(&self.user_claim),
            "tenant_id": text(&self.tenant_claim),
            "roles": identity.roles,
            "claims": claims,
        });
        let json = payload.to_string();
        SignedPayload(json.strip_prefix('{').unwrap_or(&json).to_owned())
    }

    /// `<kid>.<hex MAC>.<payload>` for the backend with process id `pid`.
    pub fn sign(&self, payload: &SignedPayload, pid: i32) -> String {
        let json = format!("{{\"pid\":{pid},{}", payload.0);
        let tag = hmac::sign(&self.key, json.as_bytes());
        let mut out = String::with_capacity(self.kid.len() + 66 + json.len());
        out.push_str(&self.kid);
        out.push('.');
        out.push_str(&ward_core::hex::encode(tag.as_ref()));
        out.push('.');
        out.push_str(&json);
        out
    }
}

/// `(K ⊕ ipad, K ⊕ opad)` for a key, as RFC 2104 defines them.
fn pads(secret: &[u8]) -> ([u8; BLOCK], [u8; BLOCK]) {
    let mut key = [0u8; BLOCK];
    if secret.len() > BLOCK {
        key[..32].copy_from_slice(digest::digest(&digest::SHA256, secret).as_ref());
    } else {
        key[..secret.len()].copy_from_slice(secret);
    }
    (key.map(|b| b ^ 0x36), key.map(|b| b ^ 0x5c))
}

/// The `ward` schema: the key table and the functions policies call. Idempotent. Every
/// name is schema-qualified, operators included: a SECURITY DEFINER function runs with the
/// caller's `search_path`, which a hostile session could point at look-alike functions.
/// (`SET search_path` on the function would do the same, at the cost of saving and
/// restoring settings on every call.)
pub const SCHEMA_SQL: &str = r#"-- Ward's signed identity: what row-level security can trust. Run as the database owner
-- (or a superuser), never as a service account the gate logs in as.
CREATE SCHEMA IF NOT EXISTS ward;
REVOKE ALL ON SCHEMA ward FROM PUBLIC;
GRANT USAGE ON SCHEMA ward TO PUBLIC;

-- HMAC-SHA-256 keys as their padded halves (RFC 2104). Readable by the owner only.
CREATE TABLE IF NOT EXISTS ward.identity_keys (
    kid text PRIMARY KEY,
    inner_pad bytea NOT NULL CHECK (length(inner_pad) = 64),
    outer_pad bytea NOT NULL CHECK (length(outer_pad) = 64),
    installed_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON ward.identity_keys FROM PUBLIC;

-- The verified identity of this session, or NULL. One step at a time: the payload is read
-- as JSON only once its MAC has verified, so a forged value yields NULL, never an error.
CREATE OR REPLACE FUNCTION ward.identity() RETURNS pg_catalog.jsonb
    LANGUAGE plpgsql STABLE SECURITY DEFINER PARALLEL RESTRICTED
AS $fn$
DECLARE
    _value pg_catalog.text := pg_catalog.current_setting('ward.identity', true);
    _kid pg_catalog.text;
    _payload pg_catalog.text;
    _inner pg_catalog.bytea;
    _outer pg_catalog.bytea;
    _claims pg_catalog.jsonb;
BEGIN
    -- <kid>.<64 hex digits of HMAC-SHA-256>.<payload>
    _kid := pg_catalog.split_part(_value, '.', 1);
    SELECT k.inner_pad, k.outer_pad INTO _inner, _outer
        FROM ward.identity_keys k WHERE k.kid OPERATOR(pg_catalog.=) _kid;
    IF _inner IS NULL THEN
        RETURN NULL;
    END IF;
    _payload := pg_catalog.substr(_value, pg_catalog.length(_kid) OPERATOR(pg_catalog.+) 67);
    IF pg_catalog.encode(pg_catalog.sha256(_outer OPERATOR(pg_catalog.||) pg_catalog.sha256(
            _inner OPERATOR(pg_catalog.||) pg_catalog.convert_to(_payload, 'UTF8'))), 'hex')
        OPERATOR(pg_catalog.<>) pg_catalog.substr(_value, pg_catalog.length(_kid) OPERATOR(pg_catalog.+) 2, 64) THEN
        RETURN NULL;
    END IF;
    _claims := _payload::pg_catalog.jsonb;
    IF (_claims OPERATOR(pg_catalog.->>) 'pid')::pg_catalog.int4 OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()
        OR (_claims OPERATOR(pg_catalog.->>) 'exp')::pg_catalog.int8 OPERATOR(pg_catalog.<=)
            pg_catalog.date_part('epoch', pg_catalog.now())::pg_catalog.int8 THEN
        RETURN NULL;
    END IF;
    RETURN _claims;
END
$fn$;

-- The functions policies call are PL/pgSQL on purpose: a SQL-language body would be inlined,
-- that is parsed again, whenever a statement is planned.
CREATE OR REPLACE FUNCTION ward.user_id() RETURNS pg_catalog.text
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
AS $fn$ BEGIN RETURN ward.identity() OPERATOR(pg_catalog.->>) 'user_id'; END $fn$;

CREATE OR REPLACE FUNCTION ward.tenant_id() RETURNS pg_catalog.text
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
AS $fn$ BEGIN RETURN ward.identity() OPERATOR(pg_catalog.->>) 'tenant_id'; END $fn$;

CREATE OR REPLACE FUNCTION ward.roles() RETURNS pg_catalog.text[]
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
AS $fn$
DECLARE
    _identity pg_catalog.jsonb := ward.identity();
BEGIN
    IF _identity IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN ARRAY(SELECT pg_catalog.jsonb_array_elements_text(_identity OPERATOR(pg_catalog.->) 'roles'));
END
$fn$;

CREATE OR REPLACE FUNCTION ward.claim(name pg_catalog.text) RETURNS pg_catalog.text
    LANGUAGE plpgsql STABLE PARALLEL RESTRICTED
AS $fn$ BEGIN RETURN ward.identity() OPERATOR(pg_catalog.->) 'claims' OPERATOR(pg_catalog.->>) name; END $fn$;
"#;

/// [`SCHEMA_SQL`], then the keys made exactly `keys`: added or replaced, and any other
/// removed (the last step of a key rotation).
pub fn install_sql(keys: &[(String, Vec<u8>)]) -> String {
    let mut sql = String::from(SCHEMA_SQL);
    sql.push_str("\n-- Keys: exactly those configured.\n");
    for (kid, secret) in keys {
        let (inner, outer) = pads(secret);
        sql.push_str(&format!(
            "INSERT INTO ward.identity_keys (kid, inner_pad, outer_pad) VALUES ('{kid}', decode('{}', 'hex'), decode('{}', 'hex'))\n    \
             ON CONFLICT (kid) DO UPDATE SET inner_pad = EXCLUDED.inner_pad, outer_pad = EXCLUDED.outer_pad, installed_at = now();\n",
            ward_core::hex::encode(&inner),
            ward_core::hex::encode(&outer)
        ));
    }
    let kept = keys.iter().map(|(kid, _)| format!("'{kid}'")).collect::<Vec<_>>().join(", ");
    if kept.is_empty() {
        sql.push_str("DELETE FROM ward.identity_keys;\n");
    } else {
        sql.push_str(&format!("DELETE FROM ward.identity_keys WHERE kid NOT IN ({kept});\n"));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pads_give_the_same_mac_as_hmac() {
        for secret in [b"0123456789abcdef0123456789abcdef".to_vec(), vec![7u8; 100]] {
            let message = b"{\"pid\":42,\"exp\":1}";
            let (inner, outer) = pads(&secret);
            let inner_hash = digest::digest(&digest::SHA256, &[&inner[..], message].concat());
            let by_pads = digest::digest(&digest::SHA256, &[&outer[..], inner_hash.as_ref()].concat());
            let by_hmac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &secret), message);
            assert_eq!(by_pads.as_ref(), by_hmac.as_ref());
        }
    }

    #[test]
    fn install_sql_keeps_exactly_the_configured_keys() {
        let sql = install_sql(&[("k2".into(), vec![1; 32]), ("k1".into(), vec![2; 32])]);
        assert!(sql.contains("VALUES ('k2', decode("));
        assert!(sql.contains("DELETE FROM ward.identity_keys WHERE kid NOT IN ('k2', 'k1');"));
    }
}
