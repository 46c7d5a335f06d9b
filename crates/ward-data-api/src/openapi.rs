//! The OpenAPI 3.1 document, `GET /openapi.json`: the two endpoints, their scopes, request and
//! result schemas, and every error response. Written by hand (`openapi.json`) and checked by
//! a test against a validator and against the API's real answers.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};

pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> Response {
    let mut response = DOCUMENT.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_and_every_reference_resolves() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).unwrap_or_default();
        assert_eq!(doc["openapi"], "3.1.0");
        for path in ["/query", "/command", "/openapi.json"] {
            assert!(doc["paths"][path].is_object(), "{path}");
        }
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(refs.len() > 10);
        for r in refs {
            let pointer = r.strip_prefix('#').unwrap_or_default();
            assert!(doc.pointer(pointer).is_some(), "{r} resolves");
        }
    }

    fn collect_refs(value: &serde_json::Value, out: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", serde_json::Value::String(r)) => out.push(r.clone()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
