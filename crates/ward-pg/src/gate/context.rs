//! Telling PostgreSQL who the caller is, for row-level security: one extended-protocol
//! statement, `SELECT set_config($1, $2, false), …`, with every name and value a bound
//! parameter — never spliced into SQL text. Plain settings (`app.user_id`, …) are what the
//! configuration's `context` names; `ward.identity` carries the signed identity the `ward`
//! schema's functions verify (see [`super::signed_identity`]).

use crate::protocol::tag;
use bytes::{BufMut, BytesMut};
use ward_token::remote::Identity;

use super::signed_identity::{IdentitySigner, SignedPayload};
use crate::protocol::codec::{put_cstr, put_frame, put_value};

/// Startup parameters a client may ask for that shape how the server talks to it. The
/// backend logged in with its own; the client's are set like the identity, as parameters.
pub const CLIENT_PARAMETERS: &[&str] =
    &["client_encoding", "DateStyle", "TimeZone", "IntervalStyle", "extra_float_digits", "application_name"];

/// The setting that carries the signed identity.
pub const SIGNED_SETTING: &str = "ward.identity";

/// A digest of everything a session sets on its backends: two sessions with the same digest
/// need exactly the same statement, so a backend set up for one is set up for the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IdentityDigest([u8; 16]);

#[cfg(test)]
impl IdentityDigest {
    pub(crate) fn for_test(n: u8) -> Self {
        Self([n; 16])
    }
}

/// What every backend serving one client session must carry.
pub struct SessionIdentity {
    /// `(setting, value)`, in order: the context settings, then the client's parameters.
    pub settings: Vec<(String, String)>,
    /// The signed identity, bound to a backend when it is set there.
    pub signed: Option<(std::sync::Arc<IdentitySigner>, SignedPayload)>,
    pub digest: IdentityDigest,
}

impl SessionIdentity {
    pub fn new(
        context: &std::collections::BTreeMap<String, String>,
        identity: &Identity,
        params: &crate::protocol::frontend::StartupParams,
        signer: Option<&std::sync::Arc<IdentitySigner>>,
    ) -> Self {
        // Roles as a PostgreSQL array literal: a role with a comma stays one element
        // (`current_setting('app.roles')::text[]`).
        let mut settings = ward_gate::claims::values(context, identity, text_array);
        settings.extend(client_parameters(params));
        let taken = |name: &str| {
            name.to_ascii_lowercase().starts_with("ward.") || settings.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
        };
        let options: Vec<_> = params
            .get("options")
            .map(startup_options)
            .unwrap_or_default()
            .into_iter()
            .filter(|(n, _)| !taken(n))
            .collect();
        settings.extend(options);
        let signed = signer.map(|s| (s.clone(), s.payload(identity)));
        let digest = digest(&settings, signed.as_ref().map(|(_, p)| p.as_str()));
        Self { settings, signed, digest }
    }

    /// Settings the statement makes, counting the signed identity.
    fn count(&self) -> usize {
        self.settings.len() + usize::from(self.signed.is_some())
    }

    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }
}

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

/// The `-c name=value` (or `--name=value`) settings in a startup packet's `options`, as libpq
/// sends `PGOPTIONS`: separated by spaces, a backslash escaping the next character. Other
/// switches are not settings and are left out.
pub fn startup_options(options: &str) -> Vec<(String, String)> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut chars = options.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => word.extend(chars.next()),
            c if c.is_ascii_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    let mut settings = Vec::new();
    let mut words = words.into_iter();
    while let Some(word) = words.next() {
        let setting = match word.as_str() {
            "-c" => words.next(),
            w => w.strip_prefix("--").or_else(|| w.strip_prefix("-c")).map(str::to_owned),
        };
        if let Some((name, value)) = setting.as_deref().and_then(|s| s.split_once('=')) {
            // `--name=value` spells dashes for underscores, as postgres does.
            settings.push((name.replace('-', "_"), value.to_owned()));
        }
    }
    settings
}

/// A PostgreSQL array literal of text elements, every element quoted.
pub fn text_array(items: &[String]) -> String {
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

fn sql(count: usize) -> String {
    let calls =
        (0..count).map(|i| format!("set_config(${}, ${}, false)", 2 * i + 1, 2 * i + 2)).collect::<Vec<_>>().join(", ");
    format!("SELECT {calls}")
}

fn digest(settings: &[(String, String)], signed: Option<&str>) -> IdentityDigest {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let signed = signed.map(|s| (SIGNED_SETTING, s));
    for (name, value) in settings.iter().map(|(n, v)| (n.as_str(), v.as_str())).chain(signed) {
        for part in [name, value] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part.as_bytes());
        }
    }
    let mut out = [0u8; 16];
    out.copy_from_slice(&ctx.finish().as_ref()[..16]);
    IdentityDigest(out)
}

/// Parse, Bind and Execute of the identity statement for a backend whose process id is `pid`,
/// appended to `out`; the caller adds the Sync. The unnamed statement: it runs only when a
/// backend changes hands between identities, right after `DISCARD ALL` has dropped every
/// prepared statement, and it stays out of the client's `pg_prepared_statements`.
pub fn encode_identity(out: &mut BytesMut, who: &SessionIdentity, pid: i32) {
    let count = who.count();
    if count == 0 {
        return;
    }
    put_frame(out, tag::frontend::PARSE, |b| {
        put_cstr(b, "");
        put_cstr(b, &sql(count));
        b.put_i16(0); // the server infers text parameters
    });
    let signed = who.signed.as_ref().map(|(signer, payload)| signer.sign(payload, pid));
    let signed = signed.as_deref().map(|s| (SIGNED_SETTING, s));
    put_frame(out, tag::frontend::BIND, |b| {
        put_cstr(b, ""); // unnamed portal
        put_cstr(b, ""); // unnamed statement
        b.put_i16(0); // all parameters in text format
        b.put_i16((2 * count) as i16);
        for (name, value) in who.settings.iter().map(|(n, v)| (n.as_str(), v.as_str())).chain(signed) {
            for v in [name, value] {
                put_value(b, Some(v.as_bytes()));
            }
        }
        b.put_i16(0);
    });
    put_frame(out, tag::frontend::EXECUTE, |b| {
        put_cstr(b, "");
        b.put_i32(0);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_options_as_libpq_sends_them() {
        let options =
            startup_options(r"-c intervalstyle=postgres_verbose --search-path=a\,\ b -cwork_mem=64MB -e -c x");
        assert_eq!(
            options,
            [
                ("intervalstyle".to_owned(), "postgres_verbose".to_owned()),
                ("search_path".to_owned(), "a, b".to_owned()),
                ("work_mem".to_owned(), "64MB".to_owned()),
            ]
        );
        assert!(startup_options("").is_empty());
    }

    #[test]
    fn roles_are_an_array_a_comma_cannot_split() {
        let roles = ["reader".to_owned(), "x,admin".to_owned(), r#"q"u\o"#.to_owned()];
        assert_eq!(text_array(&roles), r#"{"reader","x,admin","q\"u\\o"}"#);
        assert_eq!(text_array(&[]), "{}");
    }

    #[test]
    fn digests_tell_settings_and_signatures_apart() {
        let s = |v: &str| vec![("app.user_id".to_owned(), v.to_owned())];
        assert_eq!(digest(&s("alice"), None), digest(&s("alice"), None));
        assert_ne!(digest(&s("alice"), None), digest(&s("bob"), None));
        assert_ne!(digest(&s("alice"), None), digest(&s("alice"), Some("x")));
        // Lengths are part of the digest: no two splits of one string collide.
        let a = vec![("ab".to_owned(), "c".to_owned())];
        let b = vec![("a".to_owned(), "bc".to_owned())];
        assert_ne!(digest(&a, None), digest(&b, None));
    }
}
