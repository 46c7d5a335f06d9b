//! PostgreSQL for tests: a fresh database per test on the server named by
//! `WARD_TEST_PG_URL`, or, when none is given, on a throwaway cluster this process starts
//! (initdb under `runuser -u postgres` when running as root, since initdb refuses root).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use sqlx::{Connection, PgConnection};

/// The environment variable naming an admin connection URL to an existing server.
pub const PG_URL_VAR: &str = "WARD_TEST_PG_URL";

/// A database created for one test. Dropped explicitly with [`TestDatabase::drop_database`];
/// databases a crashed run left behind are swept by the next run after an hour.
pub struct TestDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

static SERVER: OnceLock<std::result::Result<String, String>> = OnceLock::new();

/// The admin URL of the server tests should use, starting a throwaway one if needed.
pub fn server_url() -> Result<String> {
    SERVER
        .get_or_init(|| match std::env::var(PG_URL_VAR) {
            Ok(url) if !url.is_empty() => Ok(url),
            _ => start_throwaway_cluster().map_err(|e| format!("{e:#}")),
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

impl TestDatabase {
    pub async fn create() -> Result<Self> {
        let admin_url = server_url()?;
        let mut admin =
            PgConnection::connect(&admin_url).await.with_context(|| format!("connecting to {PG_URL_VAR} server"))?;
        sweep_stale(&mut admin).await;
        let now = ward_core::Clock::now(&ward_core::SystemClock);
        let name = format!("ward_t_{now}_{}", random_suffix());
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
        admin.close().await?;
        let url = replace_database(&admin_url, &name);
        Ok(Self { admin_url, name, url })
    }

    pub async fn drop_database(self) -> Result<()> {
        let mut admin = PgConnection::connect(&self.admin_url).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)))
            .execute(&mut admin)
            .await?;
        Ok(())
    }
}

async fn sweep_stale(admin: &mut PgConnection) {
    let now =
        std::time::Duration::from_secs(u64::try_from(ward_core::Clock::now(&ward_core::SystemClock)).unwrap_or(0));
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'ward\\_t\\_%'")
        .fetch_all(&mut *admin)
        .await
        .unwrap_or_default();
    for name in names {
        let created = name.split('_').nth(2).and_then(|t| t.parse::<u64>().ok()).unwrap_or(u64::MAX);
        if created.saturating_add(3600) < now.as_secs() {
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                .execute(&mut *admin)
                .await;
        }
    }
}

fn replace_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let base = match base[after_scheme..].find('/') {
        Some(slash) => &base[..after_scheme + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

pub fn random_suffix() -> String {
    let mut bytes = [0u8; 6];
    ward_core::Entropy::fill(&ward_token::OsEntropy, &mut bytes);
    ward_core::hex::encode(&bytes)
}

/// A port nobody listens on now. Racy by nature; callers that bind it retry on failure.
/// A port nothing listens on now, and never one this process was given before: a test that
/// takes several before binding them must not get one twice (the kernel may hand a just-freed
/// port out again).
pub fn free_port() -> Result<u16> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut given = ward_core::sync::lock(&GIVEN);
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
}

pub fn postgres_bin_dir() -> Result<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Ok(dir);
        }
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok()).map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect()
        })
        .unwrap_or_default();
    candidates.sort();
    candidates.pop().context("no PostgreSQL server binaries found (install postgresql)")
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

/// Runs `program` as the postgres user when we are root, as ourselves otherwise.
pub fn as_postgres_user(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn start_throwaway_cluster() -> Result<String> {
    let cluster = Cluster::start(None)?;
    Ok(format!("postgres://postgres@127.0.0.1:{}/postgres", cluster.port))
}

/// A PostgreSQL cluster this process started, stopped and deleted when the process exits.
pub struct Cluster {
    pub port: u16,
    pub dir: PathBuf,
    bin: PathBuf,
}

impl Cluster {
    /// `initdb` and start. With `scram_password`, TCP logins need SCRAM-SHA-256 and the
    /// superuser `postgres` gets that password; without, everything is trusted.
    pub fn start(scram_password: Option<&str>) -> Result<Self> {
        let bin = postgres_bin_dir()?;
        let dir = tempfile::Builder::new().prefix("ward-testpg-").tempdir()?.keep();
        if is_root() {
            let status = Command::new("chown").args(["-R", "postgres"]).arg(&dir).status()?;
            if !status.success() {
                bail!("chown of {} to postgres failed", dir.display());
            }
        }
        let data = dir.join("data");
        let mut initdb = as_postgres_user(&bin.join("initdb"));
        initdb.args(["-U", "postgres", "--no-sync", "-E", "UTF8", "--auth-local=trust"]);
        match scram_password {
            Some(password) => {
                let pwfile = dir.join("pw");
                std::fs::write(&pwfile, password)?;
                if is_root() {
                    Command::new("chown").arg("postgres").arg(&pwfile).status()?;
                }
                initdb.arg("--auth-host=scram-sha-256").arg(format!("--pwfile={}", pwfile.display()));
            }
            None => {
                initdb.arg("--auth-host=trust");
            }
        }
        let out = initdb.arg("-D").arg(&data).stdout(Stdio::null()).output()?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let port = free_port()?;
        let cluster = Self { port, dir, bin };
        cluster.pg_ctl(&["start", "-w", "-l"], true)?;
        // A watchdog stops the server and removes the directory when this process exits,
        // however it exits.
        let script = format!(
            "while kill -0 {parent} 2>/dev/null; do sleep 1; done; {stop}; rm -rf '{dir}'",
            parent = std::process::id(),
            stop = cluster.pg_ctl_command(&["stop", "-m", "immediate"], false),
            dir = cluster.dir.display(),
        );
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(cluster)
    }

    /// Turns TLS on with a fresh self-signed certificate for `127.0.0.1` and `localhost`;
    /// returns the certificate's path, for clients to trust.
    pub fn enable_tls(&self) -> Result<PathBuf> {
        let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
        let data = self.dir.join("data");
        let (cert, key) = (data.join("server.crt"), data.join("server.key"));
        std::fs::write(&cert, generated.cert.pem())?;
        std::fs::write(&key, generated.signing_key.serialize_pem())?;
        let mut conf = std::fs::OpenOptions::new().append(true).open(data.join("postgresql.auto.conf"))?;
        std::io::Write::write_all(&mut conf, b"ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")?;
        let mut chmod = Command::new("chmod");
        chmod.arg("600").arg(&key);
        chmod.status()?;
        if is_root() {
            Command::new("chown").arg("postgres").arg(&cert).arg(&key).status()?;
        }
        self.pg_ctl(&["reload"], false)?;
        let copy = self.dir.join("ca.crt");
        std::fs::copy(&cert, &copy)?;
        Ok(copy)
    }

    /// Restarts the server, as an operator or a crash would: open connections die.
    pub fn restart(&self) -> Result<()> {
        self.pg_ctl(&["restart", "-w", "-m", "immediate", "-l"], true)
    }

    fn pg_ctl_command(&self, args: &[&str], with_log_and_options: bool) -> String {
        let mut cmd = String::new();
        if is_root() {
            cmd.push_str("runuser -u postgres -- ");
        }
        cmd.push_str(&format!(
            "'{}' -D '{}/data' {}",
            self.bin.join("pg_ctl").display(),
            self.dir.display(),
            args.join(" ")
        ));
        if with_log_and_options {
            cmd.push_str(&format!(
                " '{dir}/log' -o \"-p {port} -k '{dir}' -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300\"",
                dir = self.dir.display(),
                port = self.port
            ));
        }
        cmd
    }

    fn pg_ctl(&self, args: &[&str], with_log_and_options: bool) -> Result<()> {
        let out = Command::new("bash")
            .arg("-c")
            .arg(self.pg_ctl_command(args, with_log_and_options))
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!(
                "pg_ctl {} failed: {}{}; see {}/log",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.dir.display()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_database_in_urls() {
        assert_eq!(replace_database("postgres://u@h:5432/postgres", "x"), "postgres://u@h:5432/x");
        assert_eq!(replace_database("postgres://u@h:5432", "x"), "postgres://u@h:5432/x");
        assert_eq!(replace_database("postgres://u@h/db?sslmode=disable", "x"), "postgres://u@h/x?sslmode=disable");
    }
}
