//! `TestIssuer`: the real server, in-process, on port 0, with a temporary data directory
//! and a clock the test moves.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use ward_config::Config;
use ward_core::{Clock, ManualClock, ScopeSet, SystemClock};
use ward_oauth::AuthorizationServer;
use ward_oauth::admin::{Admin, NewClient};
use ward_server::router::RouterLimits;
use ward_server::serve::ServeOptions;
use ward_server::{AppState, Server, telemetry};
use ward_store::{ScopeStore, SqlStore};
use ward_token::OsEntropy;

use crate::pg::TestDatabase;
use crate::store::StoreBackend;

pub struct TestIssuer {
    /// Where this node listens. Usually also its issuer URL, except for a second node.
    pub base_url: String,
    pub oauth: Arc<AuthorizationServer<SqlStore>>,
    pub clock: ManualClock,
    pub config: Config,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _dir: TempDir,
    database: Option<TestDatabase>,
}

type ConfigEdit = Box<dyn FnOnce(&mut Config) + Send>;

pub struct TestIssuerBuilder {
    backend: StoreBackend,
    database_url: Option<String>,
    configure: Vec<ConfigEdit>,
}

impl TestIssuerBuilder {
    /// Share a database with another issuer, as nodes of one deployment do.
    pub fn database_url(mut self, url: impl Into<String>) -> Self {
        self.database_url = Some(url.into());
        self
    }

    /// Another node of `first`'s deployment: same database, same issuer URL, same
    /// key-encryption key, as behind a load balancer.
    pub fn node_of(self, first: &TestIssuer) -> Result<Self> {
        let kek = match &first.config.key_encryption_key {
            Some(k) => k.clone(),
            None => ward_config::Secret::new(std::fs::read_to_string(
                first.config.data_dir.join(ward_server::bootstrap::KEK_FILE),
            )?),
        };
        let issuer = first.config.issuer.clone();
        Ok(self.database_url(first.database_url()).configure(move |c| {
            c.issuer = issuer;
            c.key_encryption_key = Some(kek);
        }))
    }

    pub fn configure(mut self, f: impl FnOnce(&mut Config) + Send + 'static) -> Self {
        self.configure.push(Box::new(f));
        self
    }

    pub async fn start(self) -> Result<TestIssuer> {
        let dir = tempfile::tempdir()?;
        let (database_url, database) = match (self.database_url, self.backend) {
            (Some(url), _) => (url, None),
            (None, StoreBackend::Sqlite) => (format!("sqlite://{}", dir.path().join("ward.db").display()), None),
            (None, StoreBackend::Postgres) => {
                let db = TestDatabase::create().await?;
                (db.url.clone(), Some(db))
            }
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut config = Config {
            issuer: format!("http://127.0.0.1:{}", addr.port()),
            listen: addr,
            data_dir: dir.path().to_owned(),
            database: Some(ward_config::DatabaseUrl::new(database_url)),
            ..Config::default()
        };
        config.log.access_log = false;
        // Passwords at a test's cost: the flows are under test here, not argon2.
        config.passwords = ward_config::model::PasswordConfig { memory_kib: 256, iterations: 1, parallelism: 1 };
        for f in self.configure {
            f(&mut config);
        }
        let clock = ManualClock::new(SystemClock.now());
        let oauth = Arc::new(ward_server::start_issuer(&config, Arc::new(clock.clone()), Arc::new(OsEntropy)).await?);
        let limits = RouterLimits {
            max_body_bytes: config.http.max_body_bytes,
            request_timeout: config.http.request_timeout,
            access_log: config.log.access_log,
        };
        let router = ward_server::router(AppState::new(oauth.clone(), telemetry::prometheus()), &limits);
        let options = ServeOptions {
            header_read_timeout: config.http.header_read_timeout,
            max_connections: config.http.max_connections,
            shutdown_grace: config.http.shutdown_grace,
        };
        let server = Server::from_listener(listener, router, oauth.clone(), options);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Ok(TestIssuer {
            base_url: format!("http://{addr}"),
            oauth,
            clock,
            config,
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
            shutdown: Some(tx),
            task: Some(task),
            _dir: dir,
            database,
        })
    }
}

/// A registered confidential client and its secret.
#[derive(Debug, Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: String,
}

impl TestIssuer {
    pub fn builder(backend: StoreBackend) -> TestIssuerBuilder {
        TestIssuerBuilder { backend, database_url: None, configure: Vec::new() }
    }

    pub async fn start(backend: StoreBackend) -> Result<Self> {
        Self::builder(backend).start().await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// The database URL, to start a second node on the same database.
    pub fn database_url(&self) -> String {
        self.config.database_url().expose().to_owned()
    }

    pub fn admin(&self) -> Admin<'_, SqlStore> {
        Admin { store: self.oauth.store(), clock: &self.clock, entropy: &OsEntropy }
    }

    /// Declares `scopes` if needed and registers a client with exactly these fields set.
    pub async fn create_client(&self, mut new: NewClient) -> Result<ward_oauth::admin::CreatedClient> {
        self.declare_scopes(&new.scopes).await?;
        if new.name.is_empty() {
            new.name = "test client".into();
        }
        Ok(self.admin().create_client(new).await?)
    }

    /// A confidential `client_secret_basic` client allowed `scopes` (space-separated).
    pub async fn confidential_client(&self, id: &str, scopes: &str) -> Result<TestClient> {
        let created = self.create_client(confidential(id, scopes)?).await?;
        let secret = created.client_secret.ok_or_else(|| anyhow::anyhow!("no secret generated"))?;
        Ok(TestClient { id: created.client.client_id, secret })
    }

    /// A confidential client registered as a resource server: it may introspect any token.
    pub async fn resource_server(&self, id: &str) -> Result<TestClient> {
        let mut new = confidential(id, "")?;
        new.may_introspect = true;
        let created = self.create_client(new).await?;
        let secret = created.client_secret.ok_or_else(|| anyhow::anyhow!("no secret generated"))?;
        Ok(TestClient { id: created.client.client_id, secret })
    }

    async fn declare_scopes(&self, scopes: &ScopeSet) -> Result<()> {
        let existing = self.oauth.store().list_scopes().await?;
        for scope in scopes.iter() {
            if !existing.iter().any(|s| s.name == scope.as_str()) {
                match self.admin().create_scope(scope.as_str(), "test scope").await {
                    Ok(_) | Err(ward_oauth::admin::AdminError::Conflict(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }

    /// A user who signs in with `password`, carrying `roles`.
    pub async fn user(&self, username: &str, password: &str, roles: &[&str]) -> Result<ward_store::UserRecord> {
        let users = ward_oauth::users::UserAdmin {
            store: self.oauth.store(),
            clock: &self.clock,
            hashing: ward_server::bootstrap::password_hashing(&self.config),
        };
        let new = ward_oauth::users::NewUser {
            username: username.to_owned(),
            password: Some(password.to_owned()),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            email: Some(format!("{username}@example.com")),
            name: Some(format!("{username} example")),
            ..Default::default()
        };
        Ok(users.create_user(new).await?)
    }

    /// `POST /oauth/token` with client_secret_basic; returns status and JSON body.
    pub async fn token(&self, client: &TestClient, form: &[(&str, &str)]) -> Result<(u16, serde_json::Value)> {
        let response = self
            .http
            .post(self.url("/oauth/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(form)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// A fresh access token for `client` via client credentials.
    pub async fn access_token(&self, client: &TestClient) -> Result<String> {
        let (status, body) = self.token(client, &[("grant_type", "client_credentials")]).await?;
        anyhow::ensure!(status == 200, "token request failed: {status} {body}");
        body["access_token"].as_str().map(str::to_owned).ok_or_else(|| anyhow::anyhow!("no access_token in {body}"))
    }

    /// Stops the server (draining requests) and drops its database.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.oauth.store().close().await;
        if let Some(db) = self.database.take() {
            db.drop_database().await?;
        }
        Ok(())
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A `NewClient` for a client that signs people in: `redirect_uri`, the `authorization_code`
/// and `refresh_token` grants, `scopes`.
pub fn web_client(id: &str, client_type: ward_core::ClientType, redirect_uri: &str, scopes: &str) -> Result<NewClient> {
    Ok(NewClient { client_type, redirect_uris: vec![redirect_uri.to_owned()], ..confidential(id, scopes)? })
}

/// A PKCE pair: a fresh `code_verifier` and its `S256` challenge.
pub fn pkce() -> (String, String) {
    let verifier = ward_token::secret::generate(&OsEntropy);
    let challenge = ward_token::secret::pkce_s256(&verifier);
    (verifier, challenge)
}

/// A `NewClient` for a confidential client_secret_basic client with `scopes`.
pub fn confidential(id: &str, scopes: &str) -> Result<NewClient> {
    Ok(NewClient {
        client_id: Some(id.to_owned()),
        name: format!("client {id}"),
        client_type: ward_core::ClientType::Confidential,
        grant_types: None,
        redirect_uris: Vec::new(),
        scopes: ScopeSet::parse(scopes)?,
        auth_method: None,
        jwks: None,
        jwks_uri: None,
        skip_consent: false,
        may_introspect: false,
        roles: Vec::new(),
        tenant: None,
        sign_in: Default::default(),
    })
}
