//! Layering: defaults < `ward.toml` < `WARD_*` environment < command-line flags.
//!
//! Environment keys map onto the tree with `__` as the separator: `WARD_TOKENS__SIGNING_ALG=EdDSA`
//! sets `tokens.signing_alg`. `WARD_CONFIG` (the file path) and `WARD_TEST_*` (the test kit's)
//! are not configuration keys and are skipped. Unknown keys in the file are errors; unknown
//! `WARD_*` variables are not — the environment holds what others put there, such as the
//! variables Kubernetes defines for a Service named `ward` (`WARD_PORT`, `WARD_SERVICE_HOST`,
//! …), which are ignored silently; any other is named in [`Config::ignored_env`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use toml::{Table, Value};

use crate::model::Config;
use crate::validate;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("configuration file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// `WARD_*` variables that are read elsewhere, not configuration keys: the configuration file's
/// path, and the first admin's password (read once by `serve`, never stored in the config).
const NOT_SETTINGS: &[&str] = &["WARD_CONFIG", "WARD_ADMIN_PASSWORD"];

/// Values given as command-line flags; they win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    pub issuer: Option<String>,
    pub database: Option<String>,
}

/// Loads and validates the configuration from an optional file, the given environment and flags.
pub fn load(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
    overrides: &Overrides,
) -> Result<Config, ConfigError> {
    let mut table = match file {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
            let table: Table = toml::from_str(&text)
                .map_err(|e| ConfigError::File { path: path.to_owned(), message: one_line(&e.to_string()) })?;
            // Deserialize the file alone first so that its errors name the file.
            Config::deserialize_table(&table)
                .map_err(|message| ConfigError::File { path: path.to_owned(), message })?;
            table
        }
        None => Table::new(),
    };

    let mut env_vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("WARD_") && !NOT_SETTINGS.contains(&k.as_str()) && !k.starts_with("WARD_TEST_"))
        .collect();
    env_vars.sort();
    let mut ignored_env = Vec::new();
    for (var, value) in &env_vars {
        let path: Vec<String> = var["WARD_".len()..].split("__").map(|p| p.to_ascii_lowercase()).collect();
        let mut with = table.clone();
        let applied = set_path(&mut with, &path, env_value(value)).and_then(|()| Config::deserialize_table(&with));
        match applied {
            Ok(_) => table = with,
            Err(message) if message.contains("unknown field") => {
                if !is_kubernetes_service_variable(var) {
                    ignored_env.push(var.clone());
                }
            }
            Err(message) => return Err(ConfigError::Env { var: var.clone(), message }),
        }
    }

    let mut config = Config::deserialize_table(&table).map_err(ConfigError::Invalid)?;
    config.ignored_env = ignored_env;
    if let Some(listen) = overrides.listen {
        config.listen = listen;
    }
    if let Some(dir) = &overrides.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(issuer) = &overrides.issuer {
        config.issuer = issuer.clone();
    }
    if let Some(db) = &overrides.database {
        config.database = Some(crate::DatabaseUrl::new(db.clone()));
    }
    validate::validate(&mut config).map_err(ConfigError::Invalid)?;
    Ok(config)
}

impl Config {
    fn deserialize_table(table: &Table) -> Result<Config, String> {
        Value::Table(table.clone()).try_into().map_err(|e: toml::de::Error| one_line(&e.to_string()))
    }

    /// The effective configuration as TOML, secrets redacted (for `ward check-config`).
    pub fn to_redacted_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database = Some(self.database_url());
        toml::to_string_pretty(&shown).unwrap_or_else(|e| format!("# cannot render configuration: {e}\n"))
    }
}

/// What Kubernetes defines for every Service in a pod's namespace (`<NAME>_SERVICE_HOST`,
/// `<NAME>_SERVICE_PORT[_<PORT NAME>]`, `<NAME>_PORT`, `<NAME>_PORT_<N>_<PROTO>[_PROTO|_PORT|_ADDR]`),
/// for a Service whose name starts with `ward`.
fn is_kubernetes_service_variable(var: &str) -> bool {
    let Some(rest) = var.strip_prefix("WARD") else { return false };
    let name_then = |marker: &str| {
        rest.find(marker).map(|at| (&rest[..at], &rest[at + marker.len()..])).filter(|(name, _)| {
            name.is_empty()
                || (name.starts_with('_') && name[1..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
        })
    };
    if let Some((_, after)) = name_then("_SERVICE_HOST") {
        return after.is_empty();
    }
    if let Some((_, after)) = name_then("_SERVICE_PORT") {
        return after.is_empty() || after.starts_with('_');
    }
    let Some((_, after)) = name_then("_PORT") else { return false };
    if after.is_empty() {
        return true;
    }
    // _<N>_<PROTO>[_PROTO|_PORT|_ADDR]
    let mut parts = after.strip_prefix('_').unwrap_or("-").splitn(3, '_');
    let number = parts.next().is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let protocol = parts.next().is_some_and(|p| matches!(p, "TCP" | "UDP" | "SCTP"));
    let field = parts.next().is_none_or(|f| matches!(f, "PROTO" | "PORT" | "ADDR"));
    number && protocol && field
}

/// Environment values are strings; booleans, integers and TOML arrays are recognised so that
/// `WARD_LOG__ACCESS_LOG=false`, `WARD_HTTP__MAX_BODY_BYTES=1048576` and
/// `WARD_TOKENS__AUDIENCE='["a", "b"]'` work.
fn env_value(raw: &str) -> Value {
    if raw.starts_with('[')
        && let Ok(mut t) = toml::from_str::<Table>(&format!("v = {raw}"))
        && let Some(v) = t.remove("v")
    {
        return v;
    }
    match raw {
        "true" => Value::Boolean(true),
        "false" => Value::Boolean(false),
        _ => raw.parse::<i64>().map(Value::Integer).unwrap_or_else(|_| Value::String(raw.to_owned())),
    }
}

fn set_path(table: &mut Table, path: &[String], value: Value) -> Result<(), String> {
    match path {
        [] => Err("empty key".into()),
        [last] if last.is_empty() => Err("empty key".into()),
        [last] => {
            table.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = table.entry(first.clone()).or_insert_with(|| Value::Table(Table::new()));
            match entry {
                Value::Table(inner) => set_path(inner, rest, value),
                _ => Err(format!("`{first}` is not a section")),
            }
        }
    }
}

/// toml's messages span several lines with a source excerpt; the first line is what matters.
fn one_line(msg: &str) -> String {
    let lines: Vec<&str> = msg.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // Keep the "unknown field ..." sentence, which toml puts last, and the location, which it puts first.
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if first != last => format!("{first}: {last}"),
        (Some(first), _) => (*first).to_owned(),
        _ => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn defaults_with_nothing_given() {
        let c = load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.issuer, "http://localhost:8080");
        assert_eq!(c.data_dir, PathBuf::from("./ward-data"));
        assert_eq!(c.database_url().expose(), "sqlite://./ward-data/ward.db");
    }

    #[test]
    fn file_then_env_then_flags() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "issuer = \"https://id.example\"\n[tokens]\naccess_token_ttl = \"5m\"\nsigning_alg = \"RS256\"")
            .unwrap();
        let c = load(
            Some(f.path()),
            env(&[
                ("WARD_TOKENS__SIGNING_ALG", "EdDSA"),
                ("WARD_LOG__ACCESS_LOG", "false"),
                ("WARD_TOKENS__AUDIENCE", r#"["pg-gate", "redis-gate"]"#),
                ("PATH", "/bin"),
            ]),
            &Overrides { listen: Some("127.0.0.1:9999".parse().unwrap()), ..Default::default() },
        )
        .unwrap();
        assert_eq!(c.issuer, "https://id.example");
        assert_eq!(c.tokens.access_token_ttl.as_secs(), 300);
        assert_eq!(c.tokens.signing_alg, ward_core::SigningAlg::EdDSA);
        assert!(!c.log.access_log);
        assert_eq!(c.tokens.audience, ["pg-gate", "redis-gate"]);
        assert_eq!(c.listen.port(), 9999);
    }

    #[test]
    fn a_key_is_published_longer_ahead_than_caches_and_reloads_take() {
        let ok = load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(ok.tokens.jwks_max_age().as_secs(), 300);
        let short = env(&[("WARD_TOKENS__KEY_PUBLISH_AHEAD", "60s")]);
        let err = load(None, short, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("key_publish_ahead"), "{err}");
        let fits = env(&[("WARD_TOKENS__KEY_PUBLISH_AHEAD", "61s"), ("WARD_TOKENS__KEY_RELOAD_INTERVAL", "30s")]);
        assert_eq!(load(None, fits, &Overrides::default()).unwrap().tokens.jwks_max_age().as_secs(), 30);
    }

    #[test]
    fn attribute_claim_names_are_their_own() {
        for (var, value) in [
            ("WARD_TOKENS__CLAIMS__ROLES", "sub"),
            ("WARD_TOKENS__CLAIMS__TENANT", ""),
            ("WARD_TOKENS__CLAIMS__TENANT", "roles"),
        ] {
            let err = load(None, env(&[(var, value)]), &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains("tokens.claims"), "{var}={value}: {err}");
        }
        let ok =
            load(None, env(&[("WARD_TOKENS__CLAIMS__ROLES", "https://ward.example/roles")]), &Overrides::default());
        assert_eq!(ok.unwrap().tokens.claims.roles, "https://ward.example/roles");
    }

    #[test]
    fn unknown_environment_variables_are_set_aside_and_kubernetes_ones_ignored() {
        let config = load(
            None,
            env(&[
                ("WARD_SERVICE_HOST", "10.0.0.1"),
                ("WARD_SERVICE_PORT", "8080"),
                ("WARD_SERVICE_PORT_HTTP", "8080"),
                ("WARD_PORT", "tcp://10.0.0.1:8080"),
                ("WARD_PORT_8080_TCP", "tcp://10.0.0.1:8080"),
                ("WARD_PORT_8080_TCP_PROTO", "tcp"),
                ("WARD_PORT_8080_TCP_PORT", "8080"),
                ("WARD_PORT_8080_TCP_ADDR", "10.0.0.1"),
                ("WARD_DB_SERVICE_HOST", "10.0.0.2"),
                ("WARD_DB_PORT_5432_TCP", "tcp://10.0.0.2:5432"),
                ("WARD_LISTNE", "x"),
                ("WARD_PORT_X_TCP", "y"),
                ("WARD_LOG__ACCESS_LOG", "false"),
                ("WARD_ADMIN_PASSWORD", "read by serve, not a setting"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(config.ignored_env, ["WARD_LISTNE", "WARD_PORT_X_TCP"]);
        assert!(!config.log.access_log, "known variables still apply");
        // A bad value for a known key is still an error.
        assert!(load(None, env(&[("WARD_LOG__ACCESS_LOG", "maybe")]), &Overrides::default()).is_err());
    }

    #[test]
    fn unknown_keys_are_named() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[tokens]\naccess_token_tll = \"5m\"").unwrap();
        let err = load(Some(f.path()), env(&[]), &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("access_token_tll"), "{err}");
        assert!(err.contains(&f.path().display().to_string()), "{err}");
    }

    #[test]
    fn skips_reserved_variables_and_rejects_bad_values() {
        assert!(
            load(None, env(&[("WARD_CONFIG", "x"), ("WARD_TEST_DATABASE_URL", "y")]), &Overrides::default()).is_ok()
        );
        let err = load(None, env(&[("WARD_LISTEN", "nowhere")]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("WARD_LISTEN"), "{err}");
    }

    #[test]
    fn check_config_output_hides_secrets() {
        let c = load(
            None,
            env(&[
                ("WARD_DATABASE", "postgres://ward:topsecret@db/ward"),
                ("WARD_KEY_ENCRYPTION_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        let shown = c.to_redacted_toml();
        assert!(!shown.contains("topsecret") && !shown.contains("AAAA"), "{shown}");
        assert!(shown.contains("postgres://ward:<redacted>@db/ward"), "{shown}");
    }

    #[test]
    fn gate_sections_parse_validate_and_redact() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            f,
            r#"
issuer_enabled = false
[[trust]]
issuer = "https://id.example"
roles_claim = "https://gprxy.io/roles"
[[gate.postgres]]
listen = "127.0.0.1:6432"
upstream = {{ host = "db", database = "app", tls = "verify-full", ca_file = "/etc/ca.pem" }}
pool_mode = "transaction"
roles = [{{ role = "reader", account = "svc_reader" }}]
accounts.svc_reader = {{ password = "s3cret-pw" }}
"#
        )
        .unwrap();
        let c = load(Some(f.path()), env(&[]), &Overrides::default()).unwrap();
        let gate = &c.gate.postgres[0];
        assert_eq!(gate.upstream.port, 5432);
        assert_eq!(gate.upstream.unix_socket(), None);
        assert_eq!(gate.threads, 1);
        let socket = crate::gate::UpstreamConfig { host: "/run/postgresql".into(), ..gate.upstream.clone() };
        assert_eq!(socket.unix_socket().unwrap(), std::path::Path::new("/run/postgresql/.s.PGSQL.5432"));
        assert_eq!(gate.pool_mode, crate::gate::PoolMode::Transaction);
        assert_eq!(gate.context["app.user_id"], "sub");
        assert_eq!(c.trust[0].audiences, ["ward"]);
        assert!(!c.to_redacted_toml().contains("s3cret-pw"));

        let bad = |toml: &str| {
            let mut f = tempfile::NamedTempFile::new().unwrap();
            writeln!(f, "{toml}").unwrap();
            load(Some(f.path()), env(&[]), &Overrides::default()).unwrap_err().to_string()
        };
        let gate = r#"[[gate.postgres]]
listen = "127.0.0.1:6432"
upstream = { host = "db", database = "app" }
roles = [{ role = "reader", account = "svc_nobody" }]
accounts.svc_reader = {}"#;
        assert!(bad(gate).contains("no [[trust]]"));
        let trusted = format!("[[trust]]\nissuer = \"https://id.example\"\n{gate}");
        assert!(bad(&trusted).contains("unknown account \"svc_nobody\""));
        let hmac = "[[trust]]\nissuer = \"https://id.example\"\nalgorithms = [\"HS256\"]";
        assert!(bad(hmac).contains("HS256"));
        let no_ca = trusted
            .replace("svc_nobody", "svc_reader")
            .replace("database = \"app\"", "database = \"app\", tls = \"verify-full\"");
        assert!(bad(&no_ca).contains("ca_file"));
        let socket_tls = trusted.replace("svc_nobody", "svc_reader").replace(
            "host = \"db\", database = \"app\"",
            "host = \"/run/postgresql\", database = \"app\", tls = \"require\"",
        );
        assert!(bad(&socket_tls).contains("Unix socket"), "{}", bad(&socket_tls));
        let threads = trusted
            .replace("svc_nobody", "svc_reader")
            .replace("accounts.svc_reader", "pool_size = 2\nthreads = 3\naccounts.svc_reader");
        assert!(bad(&threads).contains("threads must be between 1 and pool_size (2)"), "{}", bad(&threads));
        assert!(bad("issuer_enabled = false").contains("nothing to serve"));
        // Keys and tokens over plain http to another host: only when asked for.
        let remote = "[[trust]]\nissuer = \"http://id.example\"";
        assert!(bad(remote).contains("allow_insecure_http"), "{}", bad(remote));
        let remote_jwks = "[[trust]]\nissuer = \"https://id.example\"\njwks_uri = \"http://keys.example/jwks\"";
        assert!(bad(remote_jwks).contains("allow_insecure_http"), "{}", bad(remote_jwks));
        let valid = trusted.replace("svc_nobody", "svc_reader");
        let signed = |keys: &str| format!("{valid}\n[gate.postgres.signed_identity]\nkeys = [{keys}]");
        assert!(bad(&signed("")).contains("at least one key"));
        assert!(bad(&signed(r#"{ id = "a.b", secret = "x" }"#)).contains("letters, digits"));
        let twice = r#"{ id = "k", secret_env = "A" }, { id = "k", secret_env = "B" }"#;
        assert!(bad(&signed(twice)).contains("appears twice"));
        assert!(bad(&signed(r#"{ id = "k" }"#)).contains("exactly one"));
        let small = valid.replace("accounts.svc_reader", "max_message_size = 1024\naccounts.svc_reader");
        assert!(bad(&small).contains("max_message_size"));
    }

    #[test]
    fn the_http_gate_names_the_gates_whose_rules_it_follows() {
        let write = |toml: &str| {
            let mut f = tempfile::NamedTempFile::new().unwrap();
            writeln!(f, "{toml}").unwrap();
            f
        };
        let base = r#"issuer_enabled = false
[[trust]]
issuer = "https://id.example"
[[gate.postgres]]
name = "app"
listen = "127.0.0.1:6432"
upstream = { host = "db", database = "app" }
roles = [{ role = "reader", account = "svc_reader" }]
accounts.svc_reader = {}
"#;
        let with = |http: &str| format!("{base}[gate.http]\nlisten = \"127.0.0.1:8091\"\n{http}");
        let f = write(&with("postgres = \"app\"\nstatement_timeout = \"2s\""));
        let c = load(Some(f.path()), env(&[]), &Overrides::default()).unwrap();
        let http = c.gate.http.as_ref().unwrap();
        assert_eq!((http.max_rows, http.statement_timeout), (10_000, std::time::Duration::from_secs(2)));
        assert_eq!(http.scopes.read, "database:read");
        assert_eq!(c.gate.postgres_named("app").unwrap().listen.port(), 6432);

        let bad = |toml: String| {
            let f = write(&toml);
            load(Some(f.path()), env(&[]), &Overrides::default()).unwrap_err().to_string()
        };
        assert!(bad(with("")).contains("name a gate.postgres"));
        assert!(bad(with("postgres = \"nope\"")).contains("names no [[gate.postgres]]"));
        assert!(bad(with("redis = \"cache\"")).contains("names no [[gate.redis]]"));
        assert!(bad(with("postgres = \"app\"\nmax_rows = 0")).contains("max_rows must be at least 1"));
        let slow = with("postgres = \"app\"\nstatement_timeout = \"2m\"");
        assert!(bad(slow).contains("less than request_timeout"));
        let twice = format!(
            "{base}[[gate.postgres]]\nname = \"app\"\nlisten = \"127.0.0.1:6433\"\nupstream = {{ host = \"db\", database = \"app\" }}\nroles = [{{ role = \"reader\", account = \"svc_reader\" }}]\naccounts.svc_reader = {{}}\n"
        );
        assert!(bad(twice).contains("named \"app\""));
    }

    #[test]
    fn insecure_http_trust_is_accepted_when_asked_for() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        writeln!(f, "[[trust]]\nissuer = \"http://id.example\"\nallow_insecure_http = true").unwrap();
        let c = load(Some(f.path()), env(&[]), &Overrides::default()).unwrap();
        assert!(c.trust[0].allow_insecure_http);
        assert_eq!(c.trust[0].token_types, ["at+jwt"]);
    }
}
