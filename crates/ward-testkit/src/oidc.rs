//! `FakeIssuer`: an OIDC issuer in miniature — discovery and a JWKS it can rotate, break and
//! count — that signs whatever claims a test wants (roles, tenants, emails), as Auth0,
//! Keycloak or Entra would.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Result;
use serde_json::{Value, json};
use ward_core::{Clock, SigningAlg, SystemClock};
use ward_token::key::{SigningKey, generate_pkcs8};

pub struct FakeIssuer {
    pub url: String,
    pub key: SigningKey,
    pub keys: Arc<Mutex<Vec<Value>>>,
    pub down: Arc<AtomicBool>,
    pub jwks_fetches: Arc<AtomicUsize>,
    /// The form fields of the last device authorization request (its `audience`, say).
    pub device_requests: Arc<Mutex<Vec<(String, String)>>>,
    task: tokio::task::JoinHandle<()>,
}

/// The person a FakeIssuer's device flow signs in, and the answer count before approval.
const DEVICE_SUBJECT: &str = "bob";

impl FakeIssuer {
    /// Starts on a free port with one fresh key of `alg`.
    pub async fn start(alg: SigningAlg) -> Result<Self> {
        let pkcs8 = generate_pkcs8(alg)?;
        let key = SigningKey::from_pkcs8(alg, &pkcs8)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let keys = Arc::new(Mutex::new(vec![key.public_jwk().clone()]));
        let down = Arc::new(AtomicBool::new(false));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let discovery = json!({
            "issuer": url,
            "jwks_uri": format!("{url}/keys"),
            "token_endpoint": format!("{url}/token"),
            "device_authorization_endpoint": format!("{url}/device/code"),
        });
        let (k, d, n) = (keys.clone(), down.clone(), jwks_fetches.clone());
        let device_requests = Arc::new(Mutex::new(Vec::new()));
        let polls = Arc::new(AtomicUsize::new(0));
        let (requests, token_key, token_url) =
            (device_requests.clone(), Arc::new(SigningKey::from_pkcs8(alg, &pkcs8)?), url.clone());
        let device_url = url.clone();
        let app = axum::Router::new()
            // A device flow that a person approves after the first poll: enough of another
            // issuer for `ward login --device`.
            .route(
                "/device/code",
                axum::routing::post(move |axum::Form(form): axum::Form<Vec<(String, String)>>| {
                    let (requests, url) = (requests.clone(), device_url.clone());
                    async move {
                        if let Ok(mut r) = requests.lock() {
                            *r = form;
                        }
                        axum::Json(json!({
                            "device_code": "fake-device-code", "user_code": "WDJB-MJHT",
                            "verification_uri": format!("{url}/activate"),
                            "verification_uri_complete": format!("{url}/activate?user_code=WDJB-MJHT"),
                            "expires_in": 600, "interval": 1,
                        }))
                    }
                }),
            )
            .route(
                "/token",
                axum::routing::post(move |axum::Form(form): axum::Form<Vec<(String, String)>>| {
                    let (polls, key, url) = (polls.clone(), token_key.clone(), token_url.clone());
                    async move {
                        let field = |name: &str| form.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
                        if field("device_code") != "fake-device-code" {
                            return (axum::http::StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"})));
                        }
                        if polls.fetch_add(1, Ordering::SeqCst) == 0 {
                            return (axum::http::StatusCode::BAD_REQUEST, axum::Json(json!({"error": "authorization_pending"})));
                        }
                        let now = SystemClock.now();
                        let id = json!({"iss": url, "sub": DEVICE_SUBJECT, "aud": field("client_id"), "exp": now + 300, "iat": now,
                                        "email": format!("{DEVICE_SUBJECT}@example.com")});
                        let access = json!({"iss": url, "sub": DEVICE_SUBJECT, "aud": "pg-gate", "exp": now + 300, "iat": now});
                        let sign = |typ, claims: &Value| ward_token::jws::sign(&key, typ, claims).unwrap_or_default();
                        (axum::http::StatusCode::OK, axum::Json(json!({
                            "access_token": sign("at+jwt", &access), "id_token": sign("JWT", &id),
                            "token_type": "Bearer", "expires_in": 300,
                        })))
                    }
                }),
            )
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || async move { axum::Json(discovery) }),
            )
            .route(
                "/keys",
                axum::routing::get(move || {
                    let (k, d, n) = (k.clone(), d.clone(), n.clone());
                    async move {
                        n.fetch_add(1, Ordering::SeqCst);
                        if d.load(Ordering::SeqCst) {
                            return Err(axum::http::StatusCode::SERVICE_UNAVAILABLE);
                        }
                        let keys = k.lock().map(|k| k.clone()).unwrap_or_default();
                        Ok(axum::Json(json!({ "keys": keys })))
                    }
                }),
            );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { url, key, keys, down, jwks_fetches, device_requests, task })
    }

    /// Standard claims for `sub` with `roles` under `https://gprxy.io/roles`, valid five
    /// minutes for audience `pg-gate`; `extra` overrides or adds claims.
    pub fn claims(&self, sub: &str, roles: &[&str], extra: Value) -> Value {
        let now = SystemClock.now();
        let mut claims = json!({
            "iss": self.url, "sub": sub, "aud": "pg-gate", "exp": now + 300, "iat": now,
            "email": format!("{sub}@example.com"), "https://gprxy.io/roles": roles,
            "tenant": "acme", "scope": "openid db", "azp": "test-app", "jti": crate::pg::random_suffix(),
        });
        if let (Value::Object(c), Value::Object(e)) = (&mut claims, extra) {
            c.extend(e);
        }
        claims
    }

    pub fn sign(&self, claims: &Value) -> Result<String> {
        Ok(ward_token::jws::sign(&self.key, "at+jwt", claims)?)
    }

    /// A token for `sub` with `roles`.
    pub fn token(&self, sub: &str, roles: &[&str]) -> Result<String> {
        self.sign(&self.claims(sub, roles, json!({})))
    }
}

impl Drop for FakeIssuer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
