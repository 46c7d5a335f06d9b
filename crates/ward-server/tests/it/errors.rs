//! Every error the issuer's endpoints answer with: an RFC 6749 §5.2 body whose
//! `error_description` uses only the characters the RFC allows and never repeats the request.

use anyhow::Result;
use reqwest::header::{AUTHORIZATION, HeaderValue};
use ward_testkit::{StoreBackend, TestIssuer};

use crate::{FORM, post_raw};

ward_testkit::on_both_backends!(error_descriptions_are_rfc_text_and_echo_nothing);

/// Path, content type, body, HTTP Basic credentials, expected `error`.
type Case<'a> = (&'a str, &'a str, String, Option<(&'a str, &'a str)>, &'a str);

/// What a request may carry that must not come back: bytes that are not UTF-8, quotes,
/// backslashes, and names only the request knows.
const HOSTILE: &str = "%ff%fe%22%5Cechoed";

async fn error_descriptions_are_rfc_text_and_echo_nothing(backend: StoreBackend) -> Result<()> {
    let issuer = TestIssuer::start(backend).await?;
    let client = issuer.confidential_client("svc", "db:read").await?;
    let other = issuer.confidential_client("other", "db:read").await?;
    let others_token = issuer.access_token(&other).await?;
    let auth = Some((client.id.as_str(), client.secret.as_str()));
    let too_many = (0..=64).map(|i| format!("p{i}=v")).collect::<Vec<_>>().join("&");
    let cases: Vec<Case> = vec![
        ("/oauth/token", "text/plain", "grant_type=client_credentials".into(), auth, "invalid_request"),
        ("/oauth/token", FORM, too_many, auth, "invalid_request"),
        ("/oauth/token", FORM, format!("{HOSTILE}=1&{HOSTILE}=2"), auth, "invalid_request"),
        ("/oauth/token", FORM, format!("scope={HOSTILE}"), auth, "invalid_request"),
        ("/oauth/token", FORM, format!("grant_type={HOSTILE}"), auth, "unsupported_grant_type"),
        ("/oauth/token", FORM, format!("grant_type=client_credentials&scope={HOSTILE}"), auth, "invalid_scope"),
        ("/oauth/token", FORM, "grant_type=client_credentials&scope=echoed".into(), auth, "invalid_scope"),
        ("/oauth/token", FORM, "grant_type=authorization_code&code=echoed".into(), auth, "unauthorized_client"),
        ("/oauth/token", FORM, "grant_type=device_code&code=echoed".into(), auth, "unsupported_grant_type"),
        ("/oauth/token", FORM, "grant_type=client_credentials".into(), Some(("svc", "echoed")), "invalid_client"),
        ("/oauth/token", FORM, "grant_type=client_credentials".into(), Some((HOSTILE, "x")), "invalid_client"),
        (
            "/oauth/token",
            FORM,
            format!("grant_type=client_credentials&client_id=svc&client_secret={}", client.secret),
            auth,
            "invalid_request",
        ),
        ("/oauth/token", FORM, format!("grant_type=client_credentials&client_id={HOSTILE}"), auth, "invalid_request"),
        (
            "/oauth/token",
            FORM,
            format!("grant_type=client_credentials&client_secret={HOSTILE}"),
            None,
            "invalid_request",
        ),
        (
            "/oauth/token",
            FORM,
            format!("grant_type=client_credentials&client_assertion=x&client_assertion_type={HOSTILE}"),
            None,
            "invalid_request",
        ),
        ("/oauth/introspect", FORM, String::new(), auth, "invalid_request"),
        ("/oauth/introspect", FORM, format!("token={HOSTILE}"), None, "invalid_client"),
        ("/oauth/revoke", FORM, format!("token_type_hint={HOSTILE}"), auth, "invalid_request"),
        ("/oauth/revoke", FORM, format!("token={others_token}"), auth, "unauthorized_client"),
    ];
    for (path, content_type, body, basic, expected) in cases {
        let (status, _, json) = post_raw(&issuer, path, content_type, body.clone(), basic).await?;
        assert_eq!(json["error"], expected, "{path} {body}: {status} {json}");
        check(&json, &format!("{path} {body}"));
    }

    // An Authorization header that is not ASCII.
    let response = issuer
        .http
        .post(issuer.url("/oauth/token"))
        .header(AUTHORIZATION, HeaderValue::from_bytes(b"Basic \xff\xfe\"echoed")?)
        .header("content-type", FORM)
        .body("grant_type=client_credentials")
        .send()
        .await?;
    let json: serde_json::Value = response.json().await?;
    check(&json, "a non-ASCII Authorization header");

    // An oversize body: a little over the limit, so that it is all on the wire before the 413
    // (a server may answer, and close, before it has read a body it will not take; a client
    // still writing a large one then sees a broken pipe instead of the answer).
    let big = format!("grant_type=client_credentials&scope={}", "a".repeat(issuer.config.http.max_body_bytes + 4096));
    let (status, _, json) = post_raw(&issuer, "/oauth/token", FORM, big, auth).await?;
    assert_eq!(status, 413);
    check(&json, "an oversize body");
    issuer.stop().await
}

fn check(json: &serde_json::Value, case: &str) {
    let description = json["error_description"].as_str().unwrap_or_default();
    assert!(ward_core::is_error_description_text(description), "{case}: {description:?}");
    assert!(!description.contains("echoed") && !description.contains('\u{fffd}'), "{case}: {description:?}");
}
