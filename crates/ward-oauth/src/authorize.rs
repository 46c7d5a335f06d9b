//! The authorization endpoint (RFC 6749 §4.1.1, OAuth 2.1 §4.1, OpenID Connect Core §3.1.2):
//! `response_type=code` only, PKCE `S256`, exact redirect URIs (loopback IPs on any port).
//!
//! Until the client and its redirect URI are known good, errors are shown to the person and
//! never sent anywhere (an attacker must not get an open redirector); after that they go back
//! to the client with `state` and `iss` (RFC 9207).

use std::sync::Arc;

use ward_core::{CodeChallenge, Description, GrantType, OAuthError, OAuthErrorCode, ScopeSet, UnixTime};
use ward_store::{BrowserSession, ClientRecord, CodeRecord, ScopeRecord};
use ward_token::secret::SecretHash;

use crate::params::FormParams;
use crate::server::{AuthorizationServer, Store};

/// The prefix of PAR `request_uri`s (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";
/// Added to the authorization URL by the sign-in page, after a password was just entered:
/// `prompt=login` and `max_age` are then satisfied. A person who adds it by hand gains
/// nothing they could not get by removing `prompt=login` from the URL.
pub const REAUTHENTICATED: &str = "ward_reauthenticated";
/// How recent a sign-in must be for [`REAUTHENTICATED`] to count.
const REAUTHENTICATION_WINDOW_SECS: i64 = 300;
const MAX_STATE_LEN: usize = 2048;
const MAX_NONCE_LEN: usize = 512;
const MAX_HINT_LEN: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseMode {
    Query,
    /// OAuth 2.0 Form Post Response Mode: the browser POSTs the response to the client.
    FormPost,
}

/// Where and how a response goes back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub params: Vec<(&'static str, String)>,
}

impl Reply {
    /// The redirect URL for `response_mode=query`.
    pub fn location(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.params {
            query.append_pair(name, value);
        }
        let sep = if self.redirect_uri.contains('?') { '&' } else { '?' };
        format!("{}{sep}{}", self.redirect_uri, query.finish())
    }
}

#[derive(Debug)]
pub enum AuthorizeError {
    /// The request cannot be answered to the client: show this to the person.
    Page(OAuthError),
    /// The error goes back to the client.
    Redirect { reply: Reply, error: OAuthError },
}

impl AuthorizeError {
    /// The OAuth error, however it is delivered.
    pub fn into_error(self) -> OAuthError {
        match self {
            Self::Page(error) | Self::Redirect { error, .. } => error,
        }
    }
}

impl From<ward_store::StoreError> for AuthorizeError {
    fn from(e: ward_store::StoreError) -> Self {
        Self::Page(crate::internal("authorization request", e))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A validated authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client: Arc<ClientRecord>,
    pub redirect_uri: String,
    pub scopes: ScopeSet,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<CodeChallenge>,
    pub prompt: Prompt,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    pub response_mode: ResponseMode,
    /// The hash of the PAR `request_uri` this came from, spent when a code is issued.
    pub pushed: Option<String>,
}

/// What the person decided on the consent page, or that they have not been asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consent {
    NotAsked,
    Approved,
    Denied,
}

/// What happens next in the browser.
#[derive(Debug)]
pub enum Next {
    /// Sign in first, then come back.
    SignIn { login_hint: Option<String> },
    /// Ask the person to approve these scopes for this client.
    Consent { client: Arc<ClientRecord>, scopes: Vec<ScopeRecord> },
    /// Done: send the browser back to the client.
    Reply(Reply),
}

impl AuthorizationRequest {
    fn error(&self, issuer: &str, error: OAuthError) -> AuthorizeError {
        AuthorizeError::Redirect { reply: self.reply(issuer, error_params(&error)), error }
    }

    fn reply(&self, issuer: &str, mut params: Vec<(&'static str, String)>) -> Reply {
        if let Some(state) = &self.state {
            params.push(("state", state.clone()));
        }
        params.push(("iss", issuer.to_owned()));
        Reply { redirect_uri: self.redirect_uri.clone(), response_mode: self.response_mode, params }
    }
}

fn error_params(error: &OAuthError) -> Vec<(&'static str, String)> {
    let mut params = vec![("error", error.error.as_str().to_owned())];
    if let Some(d) = &error.error_description {
        params.push(("error_description", d.to_string()));
    }
    params
}

fn page(code: OAuthErrorCode, d: &'static str) -> AuthorizeError {
    AuthorizeError::Page(OAuthError::new(code, d))
}

impl<S: Store> AuthorizationServer<S> {
    /// Validates an authorization request, resolving a PAR `request_uri`.
    pub async fn authorization_request(&self, outer: &FormParams) -> Result<AuthorizationRequest, AuthorizeError> {
        let now = self.clock.now();
        let (params, pushed) = match outer.get("request_uri") {
            Some(request_uri) => {
                let hash = request_uri
                    .strip_prefix(REQUEST_URI_PREFIX)
                    .map(|id| SecretHash::of(id).to_hex())
                    .ok_or_else(|| page(OAuthErrorCode::InvalidRequestUri, "request_uri is not one Ward issued"))?;
                let pushed = self.store.pushed_request(&hash, now).await?.ok_or_else(|| {
                    page(OAuthErrorCode::InvalidRequestUri, "request_uri is unknown, expired or already used")
                })?;
                if outer.get("client_id") != Some(pushed.client_id.as_str()) {
                    return Err(page(OAuthErrorCode::InvalidRequestUri, "request_uri belongs to another client"));
                }
                let params = FormParams::parse(pushed.parameters.as_bytes()).map_err(AuthorizeError::Page)?;
                (params, Some(hash))
            }
            None => (outer.clone(), None),
        };
        let mut request = self.validate_request(&params, None).await?;
        if request.client.sign_in.require_par && pushed.is_none() {
            return Err(request.error(
                &self.settings.issuer,
                OAuthError::invalid_request("this client must push its authorization requests (PAR)"),
            ));
        }
        request.pushed = pushed;
        Ok(request)
    }

    /// Checks every parameter. `pushed_by` is the authenticated client of a PAR request.
    pub(crate) async fn validate_request(
        &self,
        params: &FormParams,
        pushed_by: Option<&Arc<ClientRecord>>,
    ) -> Result<AuthorizationRequest, AuthorizeError> {
        let client = match pushed_by {
            Some(client) => {
                if params.get("client_id").is_some_and(|id| id != client.client_id) {
                    return Err(page(
                        OAuthErrorCode::InvalidRequest,
                        "client_id differs from the authenticated client",
                    ));
                }
                client.clone()
            }
            None => {
                let client_id = params
                    .get("client_id")
                    .ok_or_else(|| page(OAuthErrorCode::InvalidRequest, "missing parameter client_id"))?;
                self.clients
                    .get(&self.store, client_id, self.clock.now())
                    .await?
                    .ok_or_else(|| page(OAuthErrorCode::InvalidClient, "the client is not registered"))?
            }
        };
        if !client.grant_types.contains(&GrantType::AuthorizationCode) {
            return Err(page(
                OAuthErrorCode::UnauthorizedClient,
                "this client may not use the authorization code flow",
            ));
        }
        // OpenID Connect Core §3.1.2.1 makes redirect_uri required; so does Ward, for every client.
        let redirect_uri = params
            .get("redirect_uri")
            .ok_or_else(|| page(OAuthErrorCode::InvalidRequest, "missing parameter redirect_uri"))?;
        if !client.redirect_uris.iter().any(|r| r.matches(redirect_uri)) {
            return Err(page(OAuthErrorCode::InvalidRequest, "redirect_uri is not registered for this client"));
        }
        let state = params.get("state").map(str::to_owned);
        if state.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN) {
            return Err(page(OAuthErrorCode::InvalidRequest, "state is longer than 2048 characters"));
        }
        let mut request = AuthorizationRequest {
            client: client.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scopes: ScopeSet::new(),
            state,
            nonce: None,
            code_challenge: None,
            prompt: Prompt::default(),
            max_age: None,
            login_hint: None,
            response_mode: ResponseMode::Query,
            pushed: None,
        };
        let issuer = self.settings.issuer.as_str();
        let fail =
            |request: &AuthorizationRequest, code, d: &'static str| request.error(issuer, OAuthError::new(code, d));
        request.response_mode = match params.get("response_mode") {
            None | Some("query") => ResponseMode::Query,
            Some("form_post") => ResponseMode::FormPost,
            Some(_) => {
                return Err(fail(&request, OAuthErrorCode::InvalidRequest, "response_mode must be query or form_post"));
            }
        };
        match params.get("response_type") {
            Some("code") => {}
            None => return Err(fail(&request, OAuthErrorCode::InvalidRequest, "missing parameter response_type")),
            Some(_) => {
                return Err(fail(
                    &request,
                    OAuthErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
        }
        if params.get("request").is_some() {
            return Err(request.error(
                issuer,
                OAuthError::new(
                    OAuthErrorCode::InvalidRequest,
                    Description::new("request objects are not supported; use PAR"),
                ),
            ));
        }
        let scopes = match params.get("scope") {
            Some(scope) => ScopeSet::parse(scope)
                .map_err(|_| fail(&request, OAuthErrorCode::InvalidScope, "scope is malformed"))?,
            None => client.scopes.clone(),
        };
        if !scopes.is_subset(&client.scopes) {
            return Err(fail(
                &request,
                OAuthErrorCode::InvalidScope,
                "a requested scope is not allowed for this client",
            ));
        }
        request.scopes = scopes;
        request.code_challenge = match params.get("code_challenge") {
            Some(challenge) => {
                Some(CodeChallenge::parse(challenge, params.get("code_challenge_method")).map_err(|_| {
                    fail(
                        &request,
                        OAuthErrorCode::InvalidRequest,
                        "code_challenge must be S256 of a code_verifier; plain is not accepted",
                    )
                })?)
            }
            None if client.sign_in.require_pkce || client.client_type == ward_core::ClientType::Public => {
                return Err(fail(
                    &request,
                    OAuthErrorCode::InvalidRequest,
                    "PKCE is required: send code_challenge with code_challenge_method=S256",
                ));
            }
            None => None,
        };
        request.nonce = params.get("nonce").map(str::to_owned);
        if request.nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE_LEN) {
            return Err(fail(&request, OAuthErrorCode::InvalidRequest, "nonce is longer than 512 characters"));
        }
        request.login_hint = params.get("login_hint").map(str::to_owned);
        if request.login_hint.as_ref().is_some_and(|h| h.len() > MAX_HINT_LEN) {
            return Err(fail(&request, OAuthErrorCode::InvalidRequest, "login_hint is longer than 256 characters"));
        }
        if let Some(prompt) = params.get("prompt") {
            for value in prompt.split(' ').filter(|v| !v.is_empty()) {
                match value {
                    "none" => request.prompt.none = true,
                    "login" => request.prompt.login = true,
                    "consent" => request.prompt.consent = true,
                    // One account per browser session: nothing to select.
                    "select_account" => {}
                    _ => {
                        return Err(fail(
                            &request,
                            OAuthErrorCode::InvalidRequest,
                            "prompt may hold none, login, consent, select_account",
                        ));
                    }
                }
            }
            if request.prompt.none && (request.prompt.login || request.prompt.consent) {
                return Err(fail(
                    &request,
                    OAuthErrorCode::InvalidRequest,
                    "prompt=none cannot be combined with other values",
                ));
            }
        }
        if let Some(max_age) = params.get("max_age") {
            request.max_age = Some(max_age.parse::<i64>().ok().filter(|m| *m >= 0).ok_or_else(|| {
                fail(&request, OAuthErrorCode::InvalidRequest, "max_age must be a number of seconds")
            })?);
        }
        Ok(request)
    }

    /// Decides what an authorization request needs next, given the browser's session and what
    /// the person answered on the consent page. Issues the code when nothing is missing.
    pub async fn authorize(
        &self,
        request: &AuthorizationRequest,
        session: Option<&BrowserSession>,
        reauthenticated: bool,
        consent: Consent,
    ) -> Result<Next, AuthorizeError> {
        let now = self.clock.now();
        let issuer = self.settings.issuer.as_str();
        let fresh =
            |s: &BrowserSession| reauthenticated && now.saturating_sub(s.auth_time) <= REAUTHENTICATION_WINDOW_SECS;
        let needs_sign_in = match session {
            None => true,
            Some(s) => {
                (request.prompt.login && !fresh(s))
                    || request.max_age.is_some_and(|max| now.saturating_sub(s.auth_time) > max && !fresh(s))
                    || request.login_hint.as_ref().is_some_and(|hint| *hint != s.username)
            }
        };
        let session = match session {
            Some(s) if !needs_sign_in => s,
            _ if request.prompt.none => {
                return Err(
                    request.error(issuer, OAuthError::new(OAuthErrorCode::LoginRequired, "the person must sign in"))
                );
            }
            _ => return Ok(Next::SignIn { login_hint: request.login_hint.clone() }),
        };
        let client = &request.client;
        if consent == Consent::Denied {
            return Err(request.error(issuer, OAuthError::access_denied("the person did not allow it")));
        }
        if !client.skip_consent && consent != Consent::Approved {
            let consented = self.store.consent(&session.username, &client.client_id).await?;
            if request.prompt.consent || !request.scopes.is_subset(&consented) {
                if request.prompt.none {
                    return Err(request.error(
                        issuer,
                        OAuthError::new(OAuthErrorCode::ConsentRequired, "the person must approve this client"),
                    ));
                }
                let scopes = self.described_scopes(&request.scopes).await?;
                return Ok(Next::Consent { client: client.clone(), scopes });
            }
        }
        if consent == Consent::Approved {
            let consented = self.store.consent(&session.username, &client.client_id).await?;
            self.store
                .save_consent(&session.username, &client.client_id, &consented.union(&request.scopes), now)
                .await?;
        }
        Ok(Next::Reply(self.issue_code(request, session, now).await?))
    }

    async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        session: &BrowserSession,
        now: UnixTime,
    ) -> Result<Reply, AuthorizeError> {
        if let Some(pushed) = &request.pushed
            && !self.store.use_pushed_request(pushed, now).await?
        {
            return Err(page(OAuthErrorCode::InvalidRequestUri, "request_uri is unknown, expired or already used"));
        }
        let code = ward_token::secret::generate(self.entropy.as_ref());
        let record = CodeRecord {
            grant_id: self.new_grant_id(),
            client_id: request.client.client_id.clone(),
            username: session.username.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.as_ref().map(|c| c.as_str().to_owned()),
            nonce: request.nonce.clone(),
            scopes: request.scopes.clone(),
            auth_time: session.auth_time,
            expires_at: now.saturating_add(crate::server::secs(self.settings.sign_in.authorization_code_ttl)),
        };
        self.store.insert_code(&SecretHash::of(&code).to_hex(), &record).await?;
        Ok(request.reply(&self.settings.issuer, vec![("code", code)]))
    }
}

impl<S: Store> AuthorizationServer<S> {
    /// `scopes` with the descriptions a person is shown (an undeclared scope shows none).
    pub(crate) async fn described_scopes(&self, scopes: &ScopeSet) -> Result<Vec<ScopeRecord>, ward_store::StoreError> {
        let described = self.store.list_scopes().await?;
        Ok(scopes
            .iter()
            .map(|s| {
                described.iter().find(|d| d.name == s.as_str()).cloned().unwrap_or(ScopeRecord {
                    name: s.as_str().to_owned(),
                    description: String::new(),
                    created_at: 0,
                })
            })
            .collect())
    }
}
