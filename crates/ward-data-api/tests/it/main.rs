//! The HTTP data API against real PostgreSQL (the gate test cluster, with its row-level
//! security schema) and a Redis of the test's own, with tokens from a fake issuer; reqwest
//! and curl as clients.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

mod command;
mod query;
mod query_hostile;
mod spec;

use serde_json::{Value, json};
use tokio::sync::watch;
use ward_config::gate::{GateConfig, HttpGateConfig, RedisGateConfig};
use ward_testkit::gate::{GateDb, gate_config, gate_db, stop_signal, trust_fake, verifier};
use ward_testkit::oidc::FakeIssuer;
use ward_testkit::redis::{RedisServer, private_server};
use ward_token::remote::Refresher;

pub struct Api {
    pub issuer: FakeIssuer,
    pub url: String,
    pub db: &'static GateDb,
    pub redis: Option<RedisServer>,
    pub http: reqwest::Client,
    _stop: watch::Sender<bool>,
    _refresher: Refresher,
}

/// An API over the gate database (`postgres = "app"`), and over a Redis of its own when
/// `with_redis`; `http` lines are added to `[gate.http]`.
pub async fn start(with_redis: bool, http: &str) -> Api {
    let issuer = FakeIssuer::start(ward_core::SigningAlg::ES256).await.unwrap();
    let db = gate_db().await.unwrap();
    let mut gates = GateConfig { postgres: vec![gate_config(db)], ..GateConfig::default() };
    let redis = if with_redis {
        let redis = tokio::task::spawn_blocking(private_server).await.unwrap().unwrap();
        redis.add_gate_account().unwrap();
        let config: RedisGateConfig = toml::from_str(&format!(
            r#"
name = "cache"
listen = "127.0.0.1:0"
upstream = {{ host = "{}", port = {} }}
roles = [{{ role = "*", account = "svc_cache" }}]
accounts.svc_cache = {{ password = "cache-pw" }}
"#,
            redis.host, redis.port
        ))
        .unwrap();
        gates.redis.push(config);
        Some(redis)
    } else {
        None
    };
    let redis_line = if with_redis { "redis = \"cache\"" } else { "" };
    let mut config: toml::Table = toml::from_str(&format!(
        "listen = \"127.0.0.1:0\"\npostgres = \"app\"\n{redis_line}\npool_size = 2\nstatement_timeout = \"2s\"\nmax_rows = 100\nmax_result_bytes = 65536\nmax_body_bytes = 4096\n"
    ))
    .unwrap();
    config.extend(toml::from_str::<toml::Table>(http).unwrap());
    let config: HttpGateConfig = config.try_into().unwrap();
    let (verifier, _clock, refresher) = verifier(&[trust_fake(&issuer)]).await;
    let (tx, stop) = stop_signal();
    let api = ward_data_api::start(&config, &gates, verifier, |_| None, stop).await.unwrap();
    Api {
        url: format!("http://{}", api.local_addr()),
        issuer,
        db,
        redis,
        http: reqwest::Client::builder().timeout(std::time::Duration::from_secs(20)).build().unwrap(),
        _stop: tx,
        _refresher: refresher,
    }
}

/// A response: status, `WWW-Authenticate`, and the body as JSON.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub challenge: Option<String>,
    pub body: Value,
}

impl Api {
    /// A token for `sub` with `roles` and `scope`.
    pub fn token(&self, sub: &str, roles: &[&str], scope: &str) -> String {
        self.issuer.sign(&self.issuer.claims(sub, roles, json!({ "scope": scope }))).unwrap()
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Answer {
        let response =
            self.http.post(format!("{}{path}", self.url)).bearer_auth(token).json(&body).send().await.unwrap();
        answer(response).await
    }

    /// `/query` as `sub`, a reader with `database:read`, or as `scope` says.
    pub async fn query(&self, token: &str, sql: &str, params: Value) -> Answer {
        self.post("/query", token, json!({ "query": sql, "params": params })).await
    }

    /// A superuser's count of the posts whose title is `title`, behind the API's back.
    pub async fn posts_titled(&self, title: &str) -> i64 {
        let (client, connection) =
            tokio_postgres::connect(&self.db.superuser_url(), tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        client.query_one("select count(*) from posts where title = $1", &[&title]).await.unwrap().get(0)
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap_or_default().to_owned());
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON body, not {text:?}"));
    Answer { status, challenge, body }
}

/// A title no other test uses.
pub fn unique(label: &str) -> String {
    format!("{label} {}", ward_testkit::pg::random_suffix())
}
