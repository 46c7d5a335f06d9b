//! The PostgreSQL gate under test: a cluster that demands SCRAM-SHA-256, with service
//! accounts and the reference guide's RLS schema, and `TestGate`, a gate on port 0.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use sqlx::{Connection as _, PgConnection};
use tokio::sync::{OnceCell, watch};
use ward_config::gate::{AccountConfig, ClientAuth, IdentityKeyConfig, RoleRule, SignedIdentityConfig, UpstreamConfig};
use ward_config::{PostgresGateConfig, Secret, TrustConfig};
use ward_core::VerifyAlg;
use ward_pg::gate::signed_identity::install_sql;
use ward_pg::gate::{Gate, GateDeps};
use ward_token::OsEntropy;
use ward_token::remote::{Refresher, RemoteVerifier};

use crate::oidc::FakeIssuer;
use crate::pg::Cluster;

pub const SUPERUSER_PASSWORD: &str = "super-secret";
pub const DATABASE: &str = "app";
/// Service accounts: (role, password, how pg_hba makes it log in).
pub const ACCOUNTS: &[(&str, &str)] = &[
    ("svc_admin", "admin-secret"),
    ("svc_writer", "writer-secret"),
    ("svc_reader", "reader-secret"),
    ("svc_md5", "md5-secret"),
    ("svc_trust", ""),
];

const SCHEMA: &str = r#"
CREATE TABLE users (id text PRIMARY KEY, tenant_id text NOT NULL, email text NOT NULL);
CREATE TABLE posts (id serial PRIMARY KEY, tenant_id text NOT NULL, owner_id text NOT NULL, title text NOT NULL);
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE posts ENABLE ROW LEVEL SECURITY;
CREATE POLICY users_tenant ON users FOR SELECT USING (tenant_id = (SELECT ward.tenant_id()));
CREATE POLICY posts_visible ON posts FOR SELECT USING (
    tenant_id = (SELECT ward.tenant_id())
    AND (owner_id = (SELECT ward.user_id()) OR (SELECT 'admin' = ANY (ward.roles()))));
CREATE POLICY posts_insert ON posts FOR INSERT WITH CHECK (
    owner_id = (SELECT ward.user_id()) AND tenant_id = (SELECT ward.tenant_id()));
CREATE POLICY posts_update ON posts FOR UPDATE USING (owner_id = (SELECT ward.user_id()));
CREATE POLICY posts_delete ON posts FOR DELETE USING (owner_id = (SELECT ward.user_id()));
GRANT SELECT ON users, posts TO reader_group, writer_group, admin_group;
GRANT INSERT, UPDATE, DELETE ON posts TO writer_group, admin_group;
GRANT USAGE ON SEQUENCE posts_id_seq TO writer_group, admin_group;
INSERT INTO users VALUES ('alice', 'acme', 'alice@example.com'), ('bob', 'acme', 'bob@example.com'),
                         ('carol', 'globex', 'carol@example.com');
INSERT INTO posts (tenant_id, owner_id, title) VALUES ('acme', 'alice', 'alice 1'), ('acme', 'alice', 'alice 2'),
                         ('acme', 'bob', 'bob 1'), ('globex', 'carol', 'carol 1');
"#;

/// The identity-signing key the gate database is installed with.
pub const IDENTITY_KEY_ID: &str = "test1";
pub const IDENTITY_KEY: &str = "ward-test-identity-key-0123456789abcdef";

/// Signing with [`IDENTITY_KEY`], as the gate database expects.
pub fn signed_identity() -> SignedIdentityConfig {
    SignedIdentityConfig {
        keys: vec![IdentityKeyConfig {
            id: IDENTITY_KEY_ID.into(),
            secret: Some(Secret::new(IDENTITY_KEY)),
            secret_env: None,
        }],
        user_claim: "sub".into(),
        tenant_claim: "tenant".into(),
        claims: vec!["sub".into(), "email".into(), "client_id".into()],
    }
}

pub struct GateDb {
    pub cluster: Cluster,
}

static GATE_DB: OnceCell<GateDb> = OnceCell::const_new();

/// The process's shared gate database, created on first use.
pub async fn gate_db() -> Result<&'static GateDb> {
    GATE_DB.get_or_try_init(GateDb::create).await
}

impl GateDb {
    /// A cluster of one's own, for tests that restart it.
    pub async fn create() -> Result<GateDb> {
        create_gate_db().await
    }
}

async fn create_gate_db() -> Result<GateDb> {
    let cluster = Cluster::start(Some(SUPERUSER_PASSWORD))?;
    // md5 and trust accounts get their own pg_hba lines, ahead of the SCRAM default.
    let hba = cluster.dir.join("data/pg_hba.conf");
    let existing = std::fs::read_to_string(&hba)?;
    std::fs::write(
        &hba,
        format!("host all svc_md5 127.0.0.1/32 md5\nhost all svc_trust 127.0.0.1/32 trust\n{existing}"),
    )?;
    let mut admin =
        PgConnection::connect(&format!("postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/postgres", cluster.port))
            .await
            .context("connecting to the gate test cluster")?;
    let roles = r#"
        SELECT pg_reload_conf();
        CREATE ROLE reader_group NOLOGIN; CREATE ROLE writer_group NOLOGIN; CREATE ROLE admin_group NOLOGIN;
        CREATE ROLE svc_admin LOGIN PASSWORD 'admin-secret' IN ROLE admin_group;
        CREATE ROLE svc_writer LOGIN PASSWORD 'writer-secret' IN ROLE writer_group;
        CREATE ROLE svc_reader LOGIN PASSWORD 'reader-secret' IN ROLE reader_group;
        CREATE ROLE svc_trust LOGIN IN ROLE reader_group;
        SET password_encryption = 'md5';
        CREATE ROLE svc_md5 LOGIN PASSWORD 'md5-secret' IN ROLE reader_group;
    "#;
    sqlx::raw_sql(roles).execute(&mut admin).await?;
    // A multi-statement text runs as one implicit transaction, which CREATE DATABASE refuses.
    sqlx::raw_sql("CREATE DATABASE app").execute(&mut admin).await?;
    admin.close().await?;
    let mut app = PgConnection::connect(&format!(
        "postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{DATABASE}",
        cluster.port
    ))
    .await?;
    let keys = [(IDENTITY_KEY_ID.to_owned(), IDENTITY_KEY.as_bytes().to_vec())];
    sqlx::raw_sql(sqlx::AssertSqlSafe(install_sql(&keys))).execute(&mut app).await?;
    sqlx::raw_sql(SCHEMA).execute(&mut app).await?;
    app.close().await?;
    Ok(GateDb { cluster })
}

impl GateDb {
    /// A superuser connection URL to the app database, for assertions behind the gate's back.
    pub fn superuser_url(&self) -> String {
        format!("postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{DATABASE}", self.cluster.port)
    }
}

/// Trust for a `FakeIssuer`: audience `pg-gate`, roles under `https://gprxy.io/roles`.
pub fn trust_fake(issuer: &FakeIssuer) -> TrustConfig {
    TrustConfig {
        issuer: issuer.url.clone(),
        audiences: vec!["pg-gate".into()],
        algorithms: vec![VerifyAlg::ES256, VerifyAlg::EdDSA, VerifyAlg::RS256],
        jwks_uri: None,
        roles_claim: "https://gprxy.io/roles".into(),
        identity_claim: "sub".into(),
        required_scopes: Vec::new(),
        leeway: Duration::from_secs(30),
        token_types: ward_config::gate::default_token_types(),
        max_token_lifetime: ward_config::gate::default_max_token_lifetime(),
        allow_insecure_http: false,
    }
}

/// A gate in front of the gate database: admin > writer > reader by role, session pooling.
pub fn gate_config(db: &GateDb) -> PostgresGateConfig {
    let accounts: BTreeMap<String, AccountConfig> = ACCOUNTS
        .iter()
        .map(|(name, password)| {
            let password = (!password.is_empty()).then(|| Secret::new(*password));
            ((*name).to_owned(), AccountConfig { password, password_env: None })
        })
        .collect();
    let rule = |role: &str, account: &str| RoleRule { role: role.into(), account: account.into() };
    PostgresGateConfig {
        name: Some("app".into()),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        upstream: UpstreamConfig {
            host: "127.0.0.1".into(),
            port: db.cluster.port,
            database: DATABASE.into(),
            tls: Default::default(),
            ca_file: None,
        },
        auth: ClientAuth::Password,
        tls: None,
        allow_insecure_password: false,
        match_user: true,
        pool_size: 4,
        max_client_connections: 100,
        threads: 1,
        queue_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(600),
        auth_timeout: Duration::from_secs(3),
        client_idle_timeout: Duration::ZERO,
        reset_query: "DISCARD ALL".into(),
        pool_mode: Default::default(),
        transaction_reset_query: ward_config::gate::default_transaction_reset_query(),
        close_on_expiry: false,
        audit_statements: false,
        accounts,
        roles: vec![rule("admin", "svc_admin"), rule("writer", "svc_writer"), rule("reader", "svc_reader")],
        context: ward_config::gate::default_context(),
        signed_identity: Some(signed_identity()),
        reset_timeout: Duration::from_secs(5),
        max_message_size: ward_config::gate::default_max_message_size(),
    }
}

/// What a gate under test stops on: raise the sender (or drop it) and every future the
/// returned function made completes.
pub fn stop_signal() -> (watch::Sender<bool>, impl Fn() -> StopFuture + Clone + Send + Sync + 'static) {
    let (tx, rx) = watch::channel(false);
    let stop = move || -> StopFuture {
        let mut rx = rx.clone();
        Box::pin(async move {
            let _ = rx.wait_for(|stop| *stop).await;
        })
    };
    (tx, stop)
}

pub type StopFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A verifier trusting `trust` on the system clock, its keys' background refresh running.
pub async fn verifier(trust: &[TrustConfig]) -> (Arc<RemoteVerifier>, Arc<dyn ward_core::Clock>, Refresher) {
    let clock: Arc<dyn ward_core::Clock> = Arc::new(ward_core::SystemClock);
    let verifier = RemoteVerifier::new(ward_gate::trust::policies(trust), clock.clone());
    let refresher = verifier.start().await;
    (verifier, clock, refresher)
}

pub struct TestGate {
    pub addr: SocketAddr,
    /// The gate (the first thread's, with `threads > 1`).
    pub gate: Arc<Gate>,
    /// One per thread with `threads > 1`; else just `gate`.
    pub gates: Vec<Arc<Gate>>,
    shutdown: Option<watch::Sender<bool>>,
    _refresher: Refresher,
}

impl TestGate {
    pub async fn start(config: PostgresGateConfig, trust: Vec<TrustConfig>) -> Result<Self> {
        let (verifier, clock, refresher) = verifier(&trust).await;
        let (tx, stop) = stop_signal();
        let deps = GateDeps { verifier, entropy: Arc::new(OsEntropy), clock };
        let started = ward_pg::gate::start(&config, &trust, deps, |_| None, stop).await?;
        let gates = started.gates;
        Ok(Self {
            addr: started.running.local_addr(),
            gate: gates[0].clone(),
            gates,
            shutdown: Some(tx),
            _refresher: refresher,
        })
    }

    /// A libpq connection string for `user` through the gate (the token goes in PGPASSWORD).
    pub fn conninfo(&self, user: &str) -> String {
        format!("host=127.0.0.1 port={} dbname={DATABASE} user={user} sslmode=disable", self.addr.port())
    }

    /// A tokio-postgres session through the gate with `token` as the password.
    pub async fn connect(&self, user: &str, token: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
        let (client, connection) =
            tokio_postgres::connect(&format!("{} password={token}", self.conninfo(user)), tokio_postgres::NoTls)
                .await?;
        tokio::spawn(connection);
        Ok(client)
    }
}

impl Drop for TestGate {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(true);
        }
    }
}
