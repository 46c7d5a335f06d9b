//! Signing in: authorization code + PKCE through a loopback listener (RFC 8252 §7.3), or the
//! device flow (RFC 8628) where no browser can be opened.

use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use crate::cache::TokenSet;
use crate::issuer::Issuer;
use crate::{ClientError, Result};

/// How long a browser sign-in may take.
pub const BROWSER_TIMEOUT: Duration = Duration::from_secs(300);

fn random(bytes: usize) -> String {
    ward_token::entropy::random_string(&ward_token::OsEntropy, bytes)
}

/// What the loopback listener heard, and what to do next.
#[derive(Debug)]
pub struct Callback {
    pub params: Vec<(String, String)>,
}

impl Callback {
    fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A loopback listener on 127.0.0.1 (a random port, or `port`) and the authorization URL that
/// sends the browser back to it.
pub struct BrowserLogin {
    listener: TcpListener,
    redirect_uri: String,
    state: String,
    nonce: String,
    verifier: String,
    pub url: String,
}

impl BrowserLogin {
    pub async fn prepare(issuer: &Issuer, port: Option<u16>) -> Result<Self> {
        let endpoint =
            issuer.metadata.authorization_endpoint.clone().ok_or_else(|| {
                ClientError::Issuer("has no authorization endpoint; use `ward login --device`".into())
            })?;
        let listener = TcpListener::bind(("127.0.0.1", port.unwrap_or(0))).await.map_err(|e| {
            ClientError::Login(match port {
                Some(p) => format!("cannot listen on 127.0.0.1:{p} ({e}); free the port or pick another with --port"),
                None => format!("cannot listen on 127.0.0.1 ({e})"),
            })
        })?;
        let port = listener.local_addr().map_err(|e| ClientError::Login(e.to_string()))?.port();
        let redirect_uri = format!("http://127.0.0.1:{port}/callback");
        let (state, nonce, verifier) = (random(16), random(16), random(32));
        let mut query = form_urlencoded::Serializer::new(String::new());
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", &issuer.profile.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("scope", &issuer.profile.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &ward_token::secret::pkce_s256(&verifier))
            .append_pair("code_challenge_method", "S256");
        if let Some(audience) = &issuer.profile.audience {
            query.append_pair("audience", audience);
        }
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        let url = format!("{endpoint}{sep}{}", query.finish());
        Ok(Self { listener, redirect_uri, state, nonce, verifier, url })
    }

    /// Waits for the browser to come back, then redeems the code.
    pub async fn finish(self, issuer: &Issuer) -> Result<TokenSet> {
        let callback = tokio::time::timeout(BROWSER_TIMEOUT, self.callback())
            .await
            .map_err(|_| ClientError::Login("no answer from the browser within 5 minutes".into()))??;
        if callback.get("state") != Some(self.state.as_str()) {
            return Err(ClientError::Login(
                "the answer's state does not match this sign-in (a stale tab, or someone else's link); try again"
                    .into(),
            ));
        }
        if let Some(error) = callback.get("error") {
            let description = callback.get("error_description").map(|d| format!(": {d}")).unwrap_or_default();
            return Err(ClientError::Login(format!("the issuer said {error}{description}")));
        }
        if let Some(iss) = callback.get("iss")
            && iss.trim_end_matches('/') != issuer.profile.issuer
        {
            return Err(ClientError::Login(format!(
                "the answer came from {iss}, not {} (RFC 9207)",
                issuer.profile.issuer
            )));
        }
        let code = callback.get("code").ok_or_else(|| ClientError::Login("the answer carried no code".into()))?;
        let answer = issuer
            .token_request(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", &self.redirect_uri),
                ("code_verifier", &self.verifier),
            ])
            .await?;
        let tokens = issuer.token_set(answer, None)?;
        if let Some(id_token) = &tokens.id_token {
            let identity = crate::identity::verify_id_token(issuer, id_token).await?;
            if identity.claims.get("nonce").and_then(|n| n.as_str()) != Some(self.nonce.as_str()) {
                return Err(ClientError::Login("the ID token's nonce does not match this sign-in".into()));
            }
        }
        Ok(tokens)
    }

    /// Serves requests on the loopback port until one arrives at `/callback`.
    async fn callback(&self) -> Result<Callback> {
        loop {
            let (mut stream, _) = self.listener.accept().await.map_err(|e| ClientError::Login(e.to_string()))?;
            let mut buf = vec![0u8; 16 * 1024];
            let mut len = 0;
            // The request line and headers; a browser sends them at once, a stray client gets 5 s.
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while len < buf.len() {
                    let n = stream.read(&mut buf[len..]).await?;
                    if n == 0 {
                        break;
                    }
                    len += n;
                    if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                std::io::Result::Ok(())
            })
            .await;
            if !matches!(read, Ok(Ok(()))) {
                continue;
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let target = head.lines().next().and_then(|l| l.split(' ').nth(1)).unwrap_or_default().to_owned();
            let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
            if path != "/callback" {
                let _ =
                    stream.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                continue;
            }
            let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
            let has = |name: &str| params.iter().any(|(n, _)| n == name);
            let state_ok = params.iter().any(|(n, v)| n == "state" && *v == self.state);
            let failed = has("error") || !has("code") || !state_ok;
            let (title, text) = if failed {
                ("Sign-in failed", "Ward could not sign you in. Return to the terminal to see why.")
            } else {
                ("Signed in", "You are signed in. You can close this tab and return to the terminal.")
            };
            let page = format!(
                "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>{title}</title>\
                 <body style=\"font-family:system-ui;max-width:30rem;margin:3rem auto\"><h1>{title}</h1><p id=\"message\">{text}</p></body></html>"
            );
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=utf-8\r\ncache-control: no-store\r\n\
                 referrer-policy: no-referrer\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                page.len()
            );
            let _ = stream.write_all(reply.as_bytes()).await;
            let _ = stream.shutdown().await;
            return Ok(Callback { params });
        }
    }
}

/// Tries to open `url` in a browser: `$BROWSER`, else the desktop's opener. False when none
/// could be started (then the caller prints the URL, or falls back to the device flow).
pub fn open_browser(url: &str) -> bool {
    let candidates: Vec<String> = match std::env::var("BROWSER") {
        Ok(b) if !b.trim().is_empty() => vec![b],
        _ if cfg!(target_os = "macos") => vec!["open".into()],
        _ => {
            if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
                return false;
            }
            vec!["xdg-open".into()]
        }
    };
    candidates.iter().any(|program| {
        std::process::Command::new(program)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// `text` as a QR code in Unicode half blocks (two modules per character cell), indented.
fn qr_code(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build();
    Some(image.lines().map(|l| format!("  {l}\n")).collect())
}

/// The device flow: asks for codes, shows them on `ui`, polls at the interval (slowing down
/// when told to) until the person has answered. `spinner`: `ui` is a terminal.
pub async fn device_login(issuer: &Issuer, ui: &mut (dyn Write + Send), spinner: bool) -> Result<TokenSet> {
    let endpoint = issuer.metadata.device_authorization_endpoint.clone().ok_or_else(|| {
        ClientError::Issuer("has no device authorization endpoint; use `ward login` in a browser".into())
    })?;
    let mut form = vec![("client_id", issuer.profile.client_id.clone()), ("scope", issuer.profile.scopes.join(" "))];
    if let Some(audience) = &issuer.profile.audience {
        form.push(("audience", audience.clone()));
    }
    let response = issuer.http.post(&endpoint).form(&form).send().await.map_err(|e| ClientError::Unreachable {
        url: issuer.profile.issuer.clone(),
        detail: e.without_url().to_string(),
    })?;
    #[derive(serde::Deserialize)]
    struct Codes {
        device_code: Option<String>,
        user_code: Option<String>,
        verification_uri: Option<String>,
        verification_uri_complete: Option<String>,
        expires_in: Option<i64>,
        interval: Option<i64>,
        error: Option<String>,
        error_description: Option<String>,
    }
    let codes: Codes = response.json().await.map_err(|_| ClientError::Issuer("sent no device codes".into()))?;
    let (Some(device_code), Some(user_code), Some(uri)) = (codes.device_code, codes.user_code, codes.verification_uri)
    else {
        let why = codes
            .error
            .map(|e| format!("{e}{}", codes.error_description.map(|d| format!(": {d}")).unwrap_or_default()));
        return Err(ClientError::Login(why.unwrap_or_else(|| "the issuer sent no device codes".into())));
    };
    let complete = codes.verification_uri_complete.unwrap_or_else(|| uri.clone());
    let _ = writeln!(
        ui,
        "\n  To sign in, open\n\n      {complete}\n\n  and check that it shows the code\n\n      {user_code}\n"
    );
    let _ = writeln!(ui, "  (or go to {uri} and enter the code yourself)\n");
    if let Some(qr) = qr_code(&complete) {
        let _ = writeln!(ui, "  or scan this with a phone:\n\n{qr}");
    }
    let _ = ui.flush();
    let deadline = crate::now().saturating_add(codes.expires_in.unwrap_or(600));
    let mut interval = codes.interval.unwrap_or(5).max(1);
    let frames = ['|', '/', '-', '\\'];
    let mut turn = 0usize;
    if !spinner {
        let _ = writeln!(ui, "  Waiting for approval…");
    }
    loop {
        if crate::now() >= deadline {
            return Err(ClientError::Login(
                "the code expired before anyone approved it; run `ward login --device` again".into(),
            ));
        }
        for _ in 0..interval * 4 {
            if spinner {
                let _ = write!(ui, "\r  Waiting for approval {} ", frames[turn % frames.len()]);
                let _ = ui.flush();
                turn += 1;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let answer = issuer
            .token_request(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", &device_code),
            ])
            .await?;
        match answer.error.as_deref() {
            None => {
                let _ = writeln!(ui, "{}  Approved.                 ", if spinner { "\r" } else { "" });
                return issuer.token_set(answer, None);
            }
            Some("authorization_pending") => {}
            // RFC 8628 §3.5: five seconds more, from now on.
            Some("slow_down") => interval = answer.interval.unwrap_or(interval + 5).max(interval + 5),
            Some("access_denied") => return Err(ClientError::Login("the request was denied".into())),
            Some("expired_token") => {
                return Err(ClientError::Login("the code expired; run `ward login --device` again".into()));
            }
            Some(_) => return Err(ClientError::Login(answer.error_text())),
        }
    }
}
