//! The issuer over HTTP, on SQLite and on PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod assertion;
mod chromium;
mod client_auth;
mod device;
mod errors;
mod first_start;
mod introspect_revoke;
mod keys;
mod operations;
mod relying_party;
mod sign_in;
mod token;

use anyhow::Result;
use ward_testkit::TestIssuer;

/// Verifies a JWT against the issuer's published JWKS with an independent library.
pub async fn verify_with_jwks(issuer: &TestIssuer, token: &str) -> Result<(jsonwebtoken::Header, serde_json::Value)> {
    let jwks: jsonwebtoken::jwk::JwkSet =
        issuer.http.get(issuer.url("/.well-known/jwks.json")).send().await?.json().await?;
    let header = jsonwebtoken::decode_header(token)?;
    let kid = header.kid.clone().ok_or_else(|| anyhow::anyhow!("no kid"))?;
    let jwk = jwks.find(&kid).ok_or_else(|| anyhow::anyhow!("kid {kid} not in JWKS"))?;
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.set_issuer(&[&issuer.config.issuer]);
    validation.set_audience(&["ward"]);
    let data =
        jsonwebtoken::decode::<serde_json::Value>(token, &jsonwebtoken::DecodingKey::from_jwk(jwk)?, &validation)?;
    Ok((data.header, data.claims))
}

/// Sends a raw form body with the given content type; returns status, headers and JSON (or Null).
pub async fn post_raw(
    issuer: &TestIssuer,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
    basic: Option<(&str, &str)>,
) -> Result<(u16, reqwest::header::HeaderMap, serde_json::Value)> {
    let mut req = issuer.http.post(issuer.url(path)).header("content-type", content_type).body(body);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await?;
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
    Ok((status, headers, json))
}

pub const FORM: &str = "application/x-www-form-urlencoded";
