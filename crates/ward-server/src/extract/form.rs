//! The body of an OAuth endpoint request: `application/x-www-form-urlencoded` (RFC 6749
//! §3.2), within the body limit, with no parameter twice; plus the `Authorization` header.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use ward_core::OAuthError;
use ward_oauth::FormParams;

use crate::error::OAuthRejection;

pub struct OAuthForm {
    pub params: FormParams,
    pub authorization: Option<String>,
}

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = OAuthRejection;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        let is_form = essence.eq_ignore_ascii_case("application/x-www-form-urlencoded");
        let mut authorizations = req.headers().get_all(header::AUTHORIZATION).iter();
        let authorization = match (authorizations.next(), authorizations.next()) {
            (None, _) => Ok(None),
            (Some(value), None) => value
                .to_str()
                .map(|v| Some(v.to_owned()))
                .map_err(|_| OAuthError::invalid_request("the Authorization header is not ASCII")),
            (Some(_), Some(_)) => Err(OAuthError::invalid_request("more than one Authorization header")),
        };
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                OAuthRejection::with_status(
                    OAuthError::invalid_request("the request body is too large"),
                    StatusCode::PAYLOAD_TOO_LARGE,
                )
            } else {
                OAuthError::invalid_request("the request body could not be read").into()
            }
        })?;
        // The body is read (within the limit) before a bad header is refused: answering and
        // closing while the client still writes would cost it the answer (a broken pipe).
        let authorization = authorization?;
        if !is_form {
            return Err(OAuthError::invalid_request("the body must be application/x-www-form-urlencoded").into());
        }
        let params = FormParams::parse(&body)?;
        Ok(Self { params, authorization })
    }
}
