//! An issuer, as the client sees it: its discovery document and its token, device and
//! revocation endpoints. Errors name the OAuth error the issuer sent (never a token).

use std::time::Duration;

use serde::Deserialize;

use crate::cache::TokenSet;
use crate::profile::Profile;
use crate::{ClientError, Result};

/// The parts of RFC 8414 / OIDC Discovery metadata the client uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: String,
    pub device_authorization_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    pub jwks_uri: Option<String>,
}

pub struct Issuer {
    pub profile: Profile,
    pub metadata: Metadata,
    pub http: reqwest::Client,
}

/// A token endpoint's answer (RFC 6749 §5.1), or its error (§5.2).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenAnswer {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub expires_in: Option<i64>,
    pub scope: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub interval: Option<i64>,
}

impl TokenAnswer {
    pub(crate) fn error_text(&self) -> String {
        match (&self.error, &self.error_description) {
            (Some(e), Some(d)) => format!("{e}: {d}"),
            (Some(e), None) => e.clone(),
            _ => "no access token in the answer".into(),
        }
    }
}

impl Issuer {
    /// Fetches the discovery document (OpenID Connect's, else RFC 8414's) and checks that it
    /// speaks for the configured issuer: a document naming another issuer is refused (mix-up).
    pub async fn discover(profile: Profile) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ClientError::Config(e.to_string()))?;
        let urls = [
            format!("{}/.well-known/openid-configuration", profile.issuer),
            ward_token::remote::oauth_metadata_url(&profile.issuer),
        ];
        let mut last = String::new();
        for url in &urls {
            match ward_token::fetch::get_json::<Metadata>(&http, url).await {
                Ok(metadata) => {
                    if metadata.issuer.trim_end_matches('/') != profile.issuer {
                        return Err(ClientError::Issuer(format!(
                            "at {} says it is {:?}, not {:?}; check the issuer URL",
                            profile.issuer, metadata.issuer, profile.issuer
                        )));
                    }
                    return Ok(Self { profile, metadata, http });
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(ClientError::Unreachable { url: profile.issuer.clone(), detail: last })
    }

    /// POSTs a form to the token endpoint as the public client.
    pub(crate) async fn token_request(&self, form: &[(&str, &str)]) -> Result<TokenAnswer> {
        let mut form: Vec<(&str, &str)> = form.to_vec();
        form.push(("client_id", &self.profile.client_id));
        let response = self.http.post(&self.metadata.token_endpoint).form(&form).send().await.map_err(|e| {
            ClientError::Unreachable { url: self.profile.issuer.clone(), detail: e.without_url().to_string() }
        })?;
        let status = response.status();
        response
            .json::<TokenAnswer>()
            .await
            .map_err(|_| ClientError::Issuer(format!("answered HTTP {status} without JSON")))
    }

    /// A token set from a successful answer; `previous` fills in what a refresh may omit.
    pub(crate) fn token_set(&self, answer: TokenAnswer, previous: Option<&TokenSet>) -> Result<TokenSet> {
        let Some(access_token) = answer.access_token.clone() else {
            return Err(ClientError::Login(answer.error_text()));
        };
        Ok(TokenSet {
            issuer: self.profile.issuer.clone(),
            client_id: self.profile.client_id.clone(),
            access_token,
            refresh_token: answer.refresh_token.or_else(|| previous.and_then(|p| p.refresh_token.clone())),
            id_token: answer.id_token.or_else(|| previous.and_then(|p| p.id_token.clone())),
            expires_at: crate::now().saturating_add(answer.expires_in.unwrap_or(300)),
            scope: answer.scope.or_else(|| previous.and_then(|p| p.scope.clone())),
        })
    }

    /// Exchanges the refresh token for a new set (a rotated refresh token replaces the old).
    pub async fn refresh(&self, tokens: &TokenSet) -> Result<TokenSet> {
        let Some(refresh_token) = &tokens.refresh_token else {
            return Err(ClientError::NotSignedIn(" (the access token expired and there is no refresh token)".into()));
        };
        let answer = self.token_request(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)]).await?;
        if answer.access_token.is_none() {
            return Err(ClientError::NotSignedIn(format!(" (refreshing failed: {})", answer.error_text())));
        }
        self.token_set(answer, Some(tokens))
    }

    /// RFC 7009: revokes the refresh token (with Ward, its whole grant), else the access token.
    pub async fn revoke(&self, tokens: &TokenSet) -> Result<()> {
        let Some(endpoint) = &self.metadata.revocation_endpoint else {
            return Err(ClientError::Issuer(
                "has no revocation endpoint; the tokens stay valid until they expire".into(),
            ));
        };
        let (token, hint) = match &tokens.refresh_token {
            Some(rt) => (rt.as_str(), "refresh_token"),
            None => (tokens.access_token.as_str(), "access_token"),
        };
        let response = self
            .http
            .post(endpoint)
            .form(&[("token", token), ("token_type_hint", hint), ("client_id", &self.profile.client_id)])
            .send()
            .await
            .map_err(|e| ClientError::Unreachable {
                url: self.profile.issuer.clone(),
                detail: e.without_url().to_string(),
            })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(ClientError::Issuer(format!("refused the revocation (HTTP {})", response.status())))
        }
    }
}

/// A valid access token for `profile`: the cached one, or — when less than `min_left` seconds
/// remain — a refreshed one (rotation handled: the new refresh token is saved). Only a refresh
/// needs the network.
pub async fn valid_tokens(profile: &Profile, cache: &crate::cache::Cache, min_left: i64) -> Result<TokenSet> {
    let tokens = cache.load()?.ok_or_else(|| ClientError::NotSignedIn(String::new()))?;
    if tokens.issuer != profile.issuer || tokens.client_id != profile.client_id {
        return Err(ClientError::NotSignedIn(format!(" to {} as {}", profile.issuer, profile.client_id)));
    }
    if tokens.expires_at.saturating_sub(crate::now()) >= min_left {
        return Ok(tokens);
    }
    let issuer = Issuer::discover(profile.clone()).await?;
    let fresh = issuer.refresh(&tokens).await?;
    cache.save(&fresh)?;
    Ok(fresh)
}
