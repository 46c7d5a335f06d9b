//! Checks that span fields or need more than a type to express.

use std::time::Duration;

use crate::model::Config;

pub fn validate(config: &mut Config) -> Result<(), String> {
    config.issuer = normalise_issuer(&config.issuer)?;
    let db = config.database_url();
    if !db.is_sqlite() && !db.is_postgres() {
        return Err(format!("database {db} is neither sqlite:// nor postgres://"));
    }
    if config.tokens.access_token_ttl.as_secs() < 1 {
        return Err("tokens.access_token_ttl must be at least 1s".into());
    }
    let tokens = &config.tokens;
    if tokens.key_reload_interval.as_secs() < 1 {
        return Err("tokens.key_reload_interval must be at least 1s".into());
    }
    // A staged key must be on every node (one reload interval) and in every resource server's
    // cached JWKS (one max-age, half the lead) before it signs.
    if tokens.key_publish_ahead <= tokens.jwks_max_age() + tokens.key_reload_interval {
        return Err(format!(
            "tokens.key_publish_ahead ({}s) must exceed the JWKS max-age ({}s, half of it, at most 300s) plus tokens.key_reload_interval ({}s): a new key must reach every node, and every cached JWKS, before it signs",
            tokens.key_publish_ahead.as_secs(),
            tokens.jwks_max_age().as_secs(),
            tokens.key_reload_interval.as_secs()
        ));
    }
    const REGISTERED: &[&str] = &[
        "iss",
        "sub",
        "aud",
        "exp",
        "nbf",
        "iat",
        "jti",
        "client_id",
        "scope",
        "sid",
        "azp",
        "auth_time",
        "nonce",
        "at_hash",
        "acr",
        "amr",
        "typ",
        "cnf",
        "act",
        "email_verified",
    ];
    let names = config.tokens.claims.all();
    for (what, name) in names {
        if name.is_empty() || REGISTERED.contains(&name) {
            return Err(format!(
                "tokens.claims.{what} {name:?} must be a claim name of its own, not empty or registered"
            ));
        }
    }
    for (i, (what, name)) in names.iter().enumerate() {
        if let Some((other, _)) = names[i + 1..].iter().find(|(_, n)| n == name) {
            return Err(format!("tokens.claims.{what} and tokens.claims.{other} must differ"));
        }
    }
    let s = &config.sign_in;
    if s.session_ttl.is_zero()
        || !(1..=600).contains(&s.authorization_code_ttl.as_secs())
        || !(1..=600).contains(&s.pushed_request_ttl.as_secs())
        || s.refresh_token_ttl.is_zero()
        || s.grant_lifetime < s.refresh_token_ttl
        || s.refresh_reuse_grace > Duration::from_secs(300)
        || !(60..=86_400).contains(&s.device_code_ttl.as_secs())
        || !(1..=60).contains(&s.device_poll_interval.as_secs())
    {
        return Err("sign_in: session_ttl and refresh_token_ttl above zero, authorization_code_ttl and pushed_request_ttl 1s-10min, grant_lifetime at least refresh_token_ttl, refresh_reuse_grace at most 5min, device_code_ttl 1min-24h, device_poll_interval 1s-60s".into());
    }
    let p = &config.passwords;
    if !(8 * p.parallelism..=4 * 1024 * 1024).contains(&p.memory_kib)
        || !(1..=64).contains(&p.iterations)
        || !(1..=16).contains(&p.parallelism)
    {
        return Err("passwords: memory_kib from 8 × parallelism to 4 GiB, iterations 1-64, parallelism 1-16".into());
    }
    if config.tokens.audience.is_empty() || config.tokens.audience.iter().any(|a| a.trim().is_empty()) {
        return Err("tokens.audience needs at least one non-empty value".into());
    }
    if config.http.max_connections == 0 {
        return Err("http.max_connections must be at least 1".into());
    }
    if config.http.max_body_bytes < 1024 {
        return Err("http.max_body_bytes must be at least 1024".into());
    }
    if let Some(kek) = &config.key_encryption_key
        && kek.expose().trim().is_empty()
    {
        return Err("key_encryption_key is empty".into());
    }
    validate_gates(config)
}

fn validate_gates(config: &Config) -> Result<(), String> {
    if !config.issuer_enabled && config.gate.is_empty() {
        return Err("issuer_enabled = false and no gates configured: nothing to serve".into());
    }
    for trust in &config.trust {
        if trust.issuer.trim().is_empty() {
            return Err("a [[trust]] entry has an empty issuer".into());
        }
        if trust.audiences.is_empty() {
            return Err(format!("trust {}: audiences is empty", trust.issuer));
        }
        if !trust.allow_insecure_http {
            for url in std::iter::once(&trust.issuer).chain(trust.jwks_uri.as_ref()) {
                if let Some(why) = insecure_remote(url) {
                    return Err(format!(
                        "trust {}: {url} {why}; use https, or set allow_insecure_http = true",
                        trust.issuer
                    ));
                }
            }
        }
        if trust.token_types.is_empty() {
            return Err(format!("trust {}: token_types is empty, so no token could be accepted", trust.issuer));
        }
    }
    for (kind, gate) in config.gate.all_shared() {
        validate_shared(config, &format!("{kind} on {}", gate.listen), &gate)?;
    }
    validate_redis_gates(config)?;
    validate_gate_names(config)?;
    if let Some(http) = &config.gate.http {
        validate_http_gate(config, http)?;
    }
    for gate in &config.gate.postgres {
        let name = format!("gate.postgres on {}", gate.listen);
        if let Some(rule) = gate.roles.iter().find(|r| !gate.accounts.contains_key(&r.account)) {
            return Err(format!("{name}: role {:?} maps to unknown account {:?}", rule.role, rule.account));
        }
        if gate.upstream.tls == crate::gate::UpstreamTls::VerifyFull && gate.upstream.ca_file.is_none() {
            return Err(format!("{name}: upstream.tls = \"verify-full\" needs upstream.ca_file"));
        }
        if gate.upstream.unix_socket().is_some()
            && matches!(gate.upstream.tls, crate::gate::UpstreamTls::Require | crate::gate::UpstreamTls::VerifyFull)
        {
            return Err(format!(
                "{name}: upstream.host {:?} is a Unix socket directory, where PostgreSQL does not speak TLS; \
                 use tls = \"disable\" or \"prefer\"",
                gate.upstream.host
            ));
        }
        if gate.pool_size == 0 {
            return Err(format!("{name}: pool_size must be at least 1"));
        }
        if gate.threads > gate.pool_size {
            return Err(format!(
                "{name}: threads must be between 1 and pool_size ({}), since each thread owns a share of the pool",
                gate.pool_size
            ));
        }
        if gate.max_message_size < 64 * 1024 {
            return Err(format!("{name}: max_message_size must be at least 64 KiB"));
        }
        if let Some(signed) = &gate.signed_identity {
            validate_signed_identity(&name, signed)?;
        }
        if let Some(bad) = gate.context.keys().find(|k| !k.contains('.') || k.contains(char::is_whitespace)) {
            return Err(format!("{name}: context setting {bad:?} must be a custom setting like app.user_id"));
        }
    }
    Ok(())
}

/// What holds for every gate kind's shared fields.
fn validate_shared(config: &Config, name: &str, gate: &crate::gate::SharedGateFields<'_>) -> Result<(), String> {
    if config.trust.is_empty() {
        return Err(format!("{name}: no [[trust]] issuer configured, so no token could ever be accepted"));
    }
    if gate.roles.is_empty() {
        return Err(format!("{name}: no role rules"));
    }
    if gate.max_client_connections == 0 {
        return Err(format!("{name}: max_client_connections must be at least 1"));
    }
    if gate.threads == 0 {
        return Err(format!("{name}: threads must be at least 1"));
    }
    Ok(())
}

fn validate_redis_gates(config: &Config) -> Result<(), String> {
    for gate in &config.gate.redis {
        let name = format!("gate.redis on {}", gate.listen);
        if let Some(rule) = gate.roles.iter().find(|r| !gate.accounts.contains_key(&r.account)) {
            return Err(format!("{name}: role {:?} maps to unknown account {:?}", rule.role, rule.account));
        }
        if gate.upstream.tls == crate::gate::UpstreamTls::Prefer {
            return Err(format!(
                "{name}: upstream.tls = \"prefer\" has no meaning for Redis (it speaks TLS from the first byte or \
                 not at all); use disable, require or verify-full"
            ));
        }
        if gate.upstream.tls == crate::gate::UpstreamTls::VerifyFull && gate.upstream.ca_file.is_none() {
            return Err(format!("{name}: upstream.tls = \"verify-full\" needs upstream.ca_file"));
        }
        if gate.pool_size == 0 {
            return Err(format!("{name}: pool_size must be at least 1"));
        }
        if gate.threads > gate.pool_size {
            return Err(format!("{name}: threads must be at most pool_size ({})", gate.pool_size));
        }
        if gate.key_prefix.is_empty() {
            return Err(format!("{name}: key_prefix must not be empty: every identity needs a namespace"));
        }
        if gate.scopes.read.is_empty() || gate.scopes.write.is_empty() {
            return Err(format!("{name}: scopes.read and scopes.write must be named"));
        }
    }
    Ok(())
}

/// Names are how `[gate.http]` refers to the other gates: unique within a kind.
fn validate_gate_names(config: &Config) -> Result<(), String> {
    let postgres = config.gate.postgres.iter().map(|g| ("gate.postgres", g.name.as_deref()));
    let named: Vec<_> = postgres.chain(config.gate.redis.iter().map(|g| ("gate.redis", g.name.as_deref()))).collect();
    for (i, (kind, name)) in named.iter().enumerate() {
        let Some(name) = name else { continue };
        if name.trim().is_empty() {
            return Err(format!("a {kind} has an empty name"));
        }
        if named[..i].iter().any(|(k, n)| k == kind && n == &Some(*name)) {
            return Err(format!("two {kind} sections are named {name:?}"));
        }
    }
    Ok(())
}

fn validate_http_gate(config: &Config, http: &crate::gate::HttpGateConfig) -> Result<(), String> {
    let name = format!("gate.http on {}", http.listen);
    if config.trust.is_empty() {
        return Err(format!("{name}: no [[trust]] issuer configured, so no token could ever be accepted"));
    }
    match (&http.postgres, &http.redis) {
        (None, None) => return Err(format!("{name}: name a gate.postgres (postgres = …), a gate.redis, or both")),
        (Some(pg), _) if config.gate.postgres_named(pg).is_none() => {
            return Err(format!("{name}: postgres = {pg:?} names no [[gate.postgres]]"));
        }
        (_, Some(redis)) if config.gate.redis_named(redis).is_none() => {
            return Err(format!("{name}: redis = {redis:?} names no [[gate.redis]]"));
        }
        _ => {}
    }
    let positive = [
        ("pool_size", http.pool_size),
        ("redis_connections", http.redis_connections),
        ("max_client_connections", http.max_client_connections),
        ("threads", http.threads),
        ("max_rows", http.max_rows),
        ("max_result_bytes", http.max_result_bytes),
    ];
    if let Some((field, _)) = positive.iter().find(|(_, v)| *v == 0) {
        return Err(format!("{name}: {field} must be at least 1"));
    }
    if http.threads > http.pool_size {
        return Err(format!(
            "{name}: threads must be at most pool_size ({}), since each thread owns a share",
            http.pool_size
        ));
    }
    if http.max_body_bytes < 1024 {
        return Err(format!("{name}: max_body_bytes must be at least 1024"));
    }
    if http.statement_timeout.is_zero() || http.request_timeout <= http.statement_timeout {
        return Err(format!("{name}: statement_timeout must be more than 0s and less than request_timeout"));
    }
    if http.scopes.read.is_empty() || http.scopes.write.is_empty() {
        return Err(format!("{name}: scopes.read and scopes.write must be named"));
    }
    Ok(())
}

fn validate_signed_identity(name: &str, signed: &crate::gate::SignedIdentityConfig) -> Result<(), String> {
    if signed.keys.is_empty() {
        return Err(format!("{name}: signed_identity needs at least one key"));
    }
    for (i, key) in signed.keys.iter().enumerate() {
        let valid = !key.id.is_empty()
            && key.id.len() <= 32
            && key.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid {
            return Err(format!("{name}: identity key id {:?}: use 1 to 32 letters, digits, _ or -", key.id));
        }
        if signed.keys[..i].iter().any(|k| k.id == key.id) {
            return Err(format!("{name}: identity key id {:?} appears twice", key.id));
        }
        if key.secret.is_some() == key.secret_env.is_some() {
            return Err(format!("{name}: identity key {:?}: set secret or secret_env, exactly one", key.id));
        }
    }
    Ok(())
}

/// Why `url` would carry keys or tokens unprotected: plain http to a host that is not
/// loopback. `None` for https and for loopback.
pub fn insecure_remote(url: &str) -> Option<&'static str> {
    use ward_core::loopback::{is_loopback_http, is_plain_http};
    (is_plain_http(url) && !is_loopback_http(url)).then_some("is plain http to a host that is not loopback")
}

/// RFC 8414 §2: the issuer is an https URL with no query or fragment. Plain http is accepted
/// for loopback hosts, where development happens. A trailing slash is dropped so that
/// `{issuer}/oauth/token` is well formed.
fn normalise_issuer(issuer: &str) -> Result<String, String> {
    let bad = |why: &str| Err(format!("issuer {issuer:?} {why}"));
    if issuer.contains('?') || issuer.contains('#') {
        return bad("must not have a query or fragment");
    }
    let (scheme, rest) = match issuer.split_once("://") {
        Some(parts) => parts,
        None => return bad("must be an absolute https URL"),
    };
    if rest.contains('@') {
        return bad("must not carry user information");
    }
    if ward_core::loopback::url_host(issuer).is_none() {
        return bad("has no host");
    }
    match scheme {
        "https" => {}
        "http" if ward_core::loopback::is_loopback_http(issuer) => {}
        "http" => return bad("must use https (http is only accepted for localhost)"),
        _ => return bad("must be an https URL"),
    }
    Ok(issuer.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers() {
        assert_eq!(normalise_issuer("https://id.example/").unwrap(), "https://id.example");
        assert_eq!(normalise_issuer("http://127.0.0.1:8080").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(normalise_issuer("https://id.example/tenant/a").unwrap(), "https://id.example/tenant/a");
        for bad in [
            "http://id.example",
            "ftp://x",
            "https://x?y=1",
            "id.example",
            "https://",
            "http://localhost.evil.example",
            "http://localhost@evil.example",
            "https://user@id.example",
        ] {
            assert!(normalise_issuer(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn remote_plain_http_is_insecure_loopback_is_not() {
        for ok in ["https://id.example", "http://localhost:8080", "http://127.0.0.2/x", "http://[::1]:9/"] {
            assert_eq!(insecure_remote(ok), None, "{ok}");
        }
        for bad in [
            "http://id.example",
            "http://localhost.evil.example/jwks",
            "http://localhost@evil.example/jwks",
            "http://10.0.0.1:80",
            "http://u@x/",
            "HTTP://id.example",
        ] {
            assert!(insecure_remote(bad).is_some(), "{bad}");
        }
    }
}
