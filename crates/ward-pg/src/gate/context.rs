//! Telling PostgreSQL who the caller is, for row-level security: one extended-protocol
//! statement, `SELECT set_config($1, $2, false), …`, with every name and value a bound
//! parameter — never spliced into SQL text.

use bytes::{BufMut, BytesMut};
use ward_token::remote::Identity;

use super::backend::{Backend, BackendError};
use crate::protocol::codec::{put_cstr, put_frame};

/// Startup parameters a client may ask for that shape how the server talks to it. The
/// backend logged in with its own; the client's are set like the identity, as parameters.
pub const CLIENT_PARAMETERS: &[&str] =
    &["client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "extra_float_digits", "application_name"];

/// The client's own startup parameters among [`CLIENT_PARAMETERS`].
pub fn client_parameters(params: &crate::protocol::frontend::StartupParams) -> Vec<(String, String)> {
    // Setting names are case-insensitive: libpq sends PGTZ as `timezone`, for one.
    params
        .0
        .iter()
        .filter_map(|(name, value)| {
            CLIENT_PARAMETERS
                .iter()
                .find(|known| known.eq_ignore_ascii_case(name))
                .map(|known| ((*known).to_owned(), value.clone()))
        })
        .collect()
}

/// The settings to make, in order: `(setting, value)`.
pub fn values(context: &std::collections::BTreeMap<String, String>, identity: &Identity) -> Vec<(String, String)> {
    context
        .iter()
        .map(|(setting, claim)| {
            let value = match claim.as_str() {
                // The roles the gate mapped on, from the issuer's configured roles claim.
                "roles" => identity.roles.join(","),
                "sub" => identity.subject.clone(),
                "identity" => identity.identity.clone(),
                // `client_id` (RFC 9068), or `azp` as OIDC issuers name it.
                "client_id" => identity.client_id.clone().unwrap_or_default(),
                other => identity.claim_text(other).unwrap_or_default(),
            };
            (setting.clone(), value)
        })
        .collect()
}

/// The name under which transaction pooling keeps the statement prepared on each backend;
/// the statement's shape depends only on how many settings it makes.
pub fn prepared_name(settings: &[(String, String)]) -> String {
    format!("ward_context_{}", settings.len())
}

fn sql(settings: &[(String, String)]) -> String {
    let calls = (0..settings.len())
        .map(|i| format!("set_config(${}, ${}, false)", 2 * i + 1, 2 * i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    format!("SELECT {calls}")
}

/// Parse of the statement under `name` (the server infers text parameters).
pub fn encode_parse(out: &mut BytesMut, name: &str, settings: &[(String, String)]) {
    put_frame(out, b'P', |b| {
        put_cstr(b, name);
        put_cstr(b, &sql(settings));
        b.put_i16(0);
    });
}

/// A collision-resistant digest of the settings: two sessions with the same digest need
/// exactly the same statement, so a backend holding one holds the other.
pub fn digest(settings: &[(String, String)]) -> [u8; 16] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for (name, value) in settings {
        for part in [name, value] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&ctx.finish().as_ref()[..16]);
    out
}

/// Parse/Bind/Execute (and Sync, if `sync`) for the settings, as bytes ready to send.
pub fn encode(settings: &[(String, String)], sync: bool) -> BytesMut {
    let mut out = BytesMut::new();
    if settings.is_empty() {
        return out;
    }
    encode_parse(&mut out, "", settings);
    encode_execute(&mut out, "", settings);
    if sync {
        put_frame(&mut out, b'S', |_| {});
    }
    out
}

/// Bind and Execute of the statement `name` with the settings' names and values.
pub fn encode_execute(out: &mut BytesMut, name: &str, settings: &[(String, String)]) {
    let params = 2 * settings.len();
    put_frame(out, b'B', |b| {
        put_cstr(b, ""); // unnamed portal
        put_cstr(b, name);
        b.put_i16(0); // all parameters in text format
        b.put_i16(params as i16);
        for (name, value) in settings {
            for v in [name, value] {
                b.put_i32(v.len() as i32);
                b.extend_from_slice(v.as_bytes());
            }
        }
        b.put_i16(0);
    });
    put_frame(out, b'E', |b| {
        put_cstr(b, "");
        b.put_i32(0);
    });
}

pub async fn apply(backend: &mut Backend, settings: &[(String, String)]) -> Result<(), BackendError> {
    if settings.is_empty() {
        return Ok(());
    }
    backend.conn.send(&encode(settings, true)).await?;
    backend.until_ready().await.map(|_| ())
}
