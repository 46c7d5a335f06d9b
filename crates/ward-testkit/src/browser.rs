//! `HttpBrowser`: what a browser does with Ward's pages, without a browser — a cookie jar, no
//! automatic redirects, and reading forms' hidden fields — for fast HTTP-level tests of the
//! sign-in flows. The same flows also run in headless Chromium.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};

pub struct HttpBrowser {
    http: reqwest::Client,
    /// Cookie name → value, as the server last set them.
    pub cookies: BTreeMap<String, String>,
}

/// One response: status, headers and body text.
pub struct Page {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }

    /// The value of the form field `name` (hidden or not), HTML entities decoded.
    pub fn field(&self, name: &str) -> Result<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start =
            self.body.find(&marker).with_context(|| format!("no field {name} in:\n{}", self.body))? + marker.len();
        let end = self.body[start..].find('"').ok_or_else(|| anyhow!("unterminated value of {name}"))?;
        Ok(unescape(&self.body[start..start + end]))
    }

    /// The query parameter `name` of the redirect's target.
    pub fn redirect_param(&self, name: &str) -> Option<String> {
        let location = self.location()?;
        let query = location.split_once('?')?.1;
        form_urlencoded::parse(query.as_bytes()).find(|(n, _)| n == name).map(|(_, v)| v.into_owned())
    }
}

fn unescape(text: &str) -> String {
    // askama writes numeric references; the named ones are here for completeness.
    [("&#34;", "\""), ("&#39;", "'"), ("&#60;", "<"), ("&#62;", ">"), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\"")]
        .iter()
        .fold(text.to_owned(), |t, (entity, c)| t.replace(entity, c))
        .replace("&#38;", "&")
        .replace("&amp;", "&")
}

impl HttpBrowser {
    pub fn new() -> Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self { http, cookies: BTreeMap::new() })
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(n, v)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn take(&mut self, response: reqwest::Response) -> Result<Page> {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str()?;
            let pair = text.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                let expired = text.contains("Max-Age=0");
                if expired || value.is_empty() {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await?;
        Ok(Page { status, headers, body })
    }

    pub async fn get(&mut self, url: &str) -> Result<Page> {
        let response = self.http.get(url).header(COOKIE, self.cookie_header()).send().await?;
        self.take(response).await
    }

    /// Posts a form as a page of `origin` would (the browser sends its `Origin`).
    pub async fn post(&mut self, url: &str, origin: &str, form: &[(&str, &str)]) -> Result<Page> {
        let response =
            self.http.post(url).header(COOKIE, self.cookie_header()).header("origin", origin).form(form).send().await?;
        self.take(response).await
    }

    /// Follows a relative or absolute redirect with GET.
    pub async fn follow(&mut self, base: &str, page: &Page) -> Result<Page> {
        let location = page.location().ok_or_else(|| anyhow!("not a redirect: {} {}", page.status, page.body))?;
        let url = if location.starts_with('/') { format!("{base}{location}") } else { location.to_owned() };
        self.get(&url).await
    }
}
