//! The client commands: `login`, `token`, `whoami`, `logout`, `psql`, `redis-cli`, `env`. They read client
//! profiles and the token cache, never the server configuration. Nothing here prints a token,
//! except `ward token` and `ward env` (whose job it is).

use std::io::Write as _;

use anyhow::Context as _;
use ward_client::cache::{Cache, TokenSet};
use ward_client::issuer::{Issuer, valid_tokens};
use ward_client::login::{BrowserLogin, device_login, open_browser};
use ward_client::profile::{self, Overrides, PgGate, Profile, RedisGate};

use crate::cli::{ClientArgs, Command, LoginArgs};

/// `ward token` refreshes when less than this many seconds are left.
const MIN_LEFT_SECS: i64 = 60;

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Login(args) => login(args).await,
        Command::Token { client, json } => {
            let (profile, cache) = open(&client)?;
            let tokens = valid_tokens(&profile, &cache, MIN_LEFT_SECS).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
            } else {
                println!("{}", tokens.access_token);
            }
            Ok(())
        }
        Command::Whoami(client) => whoami(&client).await,
        Command::Logout(client) => {
            let (profile, cache) = open(&client)?;
            let Some(tokens) = cache.load()? else {
                eprintln!("Not signed in to {}.", profile.issuer);
                return Ok(());
            };
            let issuer = Issuer::discover(profile).await?;
            issuer.revoke(&tokens).await.context("the tokens were not revoked, and are kept; try again")?;
            cache.delete()?;
            eprintln!("Signed out of {}: the tokens are revoked and forgotten.", issuer.profile.issuer);
            Ok(())
        }
        Command::Psql { client, gate, args } => psql(&client, gate.as_deref(), args).await,
        Command::RedisCli { client, gate, args } => redis_cli(&client, gate.as_deref(), args).await,
        Command::Env { client, gate } => {
            let (profile, cache) = open(&client)?;
            let gate = profile.gate(gate.as_deref())?;
            let tokens = valid_tokens(&profile, &cache, MIN_LEFT_SECS).await?;
            for (name, value) in pg_environment(&gate, &tokens) {
                println!("export {name}={}", shell_quote(&value));
            }
            Ok(())
        }
        Command::Serve(_) | Command::Migrate(_) | Command::CheckConfig(_) | Command::Admin { .. } => {
            anyhow::bail!("not a client command")
        }
    }
}

fn open(args: &ClientArgs) -> anyhow::Result<(Profile, Cache)> {
    let overrides = Overrides {
        profile: args.profile.clone(),
        issuer: args.issuer.clone(),
        client_id: args.client_id.clone(),
        audience: args.audience.clone(),
    };
    let profile = profile::load(profile::config_path().as_deref(), &overrides)?;
    let cache = Cache::for_profile(&profile.name)?;
    Ok((profile, cache))
}

async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let (profile, cache) = open(&args.client)?;
    // A broken cache is reported before anything else, not silently replaced.
    cache.load()?;
    let issuer = Issuer::discover(profile).await?;
    let mut stderr = std::io::stderr();
    let terminal = std::io::IsTerminal::is_terminal(&stderr);
    let tokens = if args.device {
        device_login(&issuer, &mut stderr, terminal).await?
    } else {
        let browser = BrowserLogin::prepare(&issuer, args.port).await?;
        if open_browser(&browser.url) {
            let _ =
                writeln!(stderr, "Opened your browser to sign in. If it did not open, visit:\n\n  {}\n", browser.url);
            browser.finish(&issuer).await?
        } else {
            let _ = writeln!(stderr, "No browser could be opened here; signing in with a device code instead.");
            device_login(&issuer, &mut stderr, terminal).await?
        }
    };
    cache.save(&tokens)?;
    let who = match &tokens.id_token {
        Some(id_token) => ward_client::identity::verify_id_token(&issuer, id_token).await?.describe("roles"),
        None => "the signed-in account".into(),
    };
    eprintln!("Logged in as {who} at {}.", issuer.profile.issuer);
    Ok(())
}

async fn whoami(args: &ClientArgs) -> anyhow::Result<()> {
    let (profile, cache) = open(args)?;
    let tokens =
        cache.load()?.ok_or_else(|| anyhow::anyhow!("not signed in to {}; run `ward login`", profile.issuer))?;
    let issuer = Issuer::discover(profile).await?;
    let who = match &tokens.id_token {
        Some(id_token) => ward_client::identity::verify_id_token(&issuer, id_token).await?.describe("roles"),
        None => "an account without an ID token (no openid scope)".into(),
    };
    let left = tokens.expires_at - ward_client::now();
    let expiry = if left > 0 {
        format!("token expires in {}", minutes(left))
    } else {
        format!("token expired {} ago; `ward token` refreshes it", minutes(-left))
    };
    println!("Logged in as {who} at {}; {expiry}", issuer.profile.issuer);
    Ok(())
}

fn minutes(secs: i64) -> String {
    if secs < 120 { format!("{secs} s") } else { format!("{} min", secs / 60) }
}

/// libpq's environment for `gate` with `tokens`: the token is the password.
fn pg_environment(gate: &PgGate, tokens: &TokenSet) -> Vec<(&'static str, String)> {
    #[derive(serde::Deserialize)]
    struct Subject {
        sub: Option<String>,
    }
    let user = gate
        .user
        .clone()
        .or_else(|| ward_token::jws::insecure_claims::<Subject>(&tokens.access_token).and_then(|s| s.sub));
    let mut env = vec![
        ("PGHOST", gate.host.clone()),
        ("PGPORT", gate.port.to_string()),
        ("PGDATABASE", gate.database.clone()),
        ("PGPASSWORD", tokens.access_token.clone()),
    ];
    if let Some(user) = user {
        env.push(("PGUSER", user));
    }
    if let Some(mode) = &gate.sslmode {
        env.push(("PGSSLMODE", mode.clone()));
    }
    if let Some(root) = &gate.sslrootcert {
        env.push(("PGSSLROOTCERT", root.clone()));
    }
    env
}

/// `'…'` with embedded quotes escaped, for POSIX shells.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

async fn psql(args: &ClientArgs, gate: Option<&str>, psql_args: Vec<String>) -> anyhow::Result<()> {
    let (profile, cache) = open(args)?;
    let gate = profile.gate(gate)?;
    let tokens = valid_tokens(&profile, &cache, MIN_LEFT_SECS).await?;
    let program = std::env::var("WARD_PSQL").unwrap_or_else(|_| "psql".into());
    let mut command = std::process::Command::new(&program);
    command.args(&psql_args);
    for (name, value) in pg_environment(&gate, &tokens) {
        command.env(name, value);
    }
    exec(command, &program)
}

async fn redis_cli(args: &ClientArgs, gate: Option<&str>, cli_args: Vec<String>) -> anyhow::Result<()> {
    let (profile, cache) = open(args)?;
    let gate = profile.redis_gate(gate)?;
    let tokens = valid_tokens(&profile, &cache, MIN_LEFT_SECS).await?;
    let program = std::env::var("WARD_REDIS_CLI").unwrap_or_else(|_| "redis-cli".into());
    let mut command = std::process::Command::new(&program);
    command.args(redis_cli_args(&gate)).args(&cli_args);
    // In the environment, not on the command line, where `ps` would show it to everyone.
    command.env("REDISCLI_AUTH", &tokens.access_token);
    exec(command, &program)
}

/// redis-cli's arguments for reaching `gate`.
fn redis_cli_args(gate: &RedisGate) -> Vec<String> {
    let mut args = vec!["-h".to_owned(), gate.host.clone(), "-p".to_owned(), gate.port.to_string()];
    if gate.tls {
        args.push("--tls".into());
    }
    if let Some(ca) = &gate.cacert {
        args.extend(["--cacert".to_owned(), ca.clone()]);
    }
    args
}

/// Runs `command` in place of this process: the tool owns the terminal, its exit status is ours.
fn exec(mut command: std::process::Command, program: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        let error = command.exec();
        Err(anyhow::anyhow!("cannot run {program}: {error}"))
    }
    #[cfg(not(unix))]
    {
        let status = command.status().with_context(|| format!("cannot run {program}"))?;
        std::process::exit(status.code().unwrap_or(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_environment() {
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        let tokens = TokenSet {
            issuer: "i".into(),
            client_id: "c".into(),
            access_token: "not-a-jwt".into(),
            refresh_token: None,
            id_token: None,
            expires_at: 0,
            scope: None,
        };
        let gate = PgGate { sslmode: Some("verify-full".into()), user: Some("me".into()), ..PgGate::default() };
        let env = pg_environment(&gate, &tokens);
        assert!(env.contains(&("PGUSER", "me".into())) && env.contains(&("PGSSLMODE", "verify-full".into())));
        assert!(env.contains(&("PGPASSWORD", "not-a-jwt".into())));
        let redis = RedisGate { tls: true, cacert: Some("/ca.pem".into()), ..RedisGate::default() };
        assert_eq!(redis_cli_args(&redis), ["-h", "127.0.0.1", "-p", "6380", "--tls", "--cacert", "/ca.pem"]);
    }
}
