//! Size and depth limits on what clients send, and the decoding of request bodies into
//! typed values with errors that say what was wrong (413 for size, 400 for the rest).
//!
//! Depth: `serde_json` refuses input nested deeper than 128 levels; that error is reported as
//! such rather than as a generic syntax error. YAML bodies (`Content-Type: application/yaml`,
//! as Skydive accepts on `POST`) go through the same size limit.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde::de::DeserializeOwned;

use crate::api::ApiError;

/// Reads a whole request body, refusing more than `limit` bytes with a 413.
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::too_large(format!(
            "request body is larger than {limit} bytes (raise http.max_body_bytes to accept it)"
        ))
    };
    if let Some(len) = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    match axum::body::to_bytes(body, limit).await {
        Ok(b) => Ok(b),
        Err(e) => {
            // to_bytes reports the limit through a `LengthLimitError` somewhere in the chain.
            let mut src: Option<&(dyn std::error::Error + 'static)> = Some(&e);
            while let Some(s) = src {
                if s.is::<http_body_util::LengthLimitError>() {
                    return Err(too_large());
                }
                src = s.source();
            }
            Err(ApiError::bad_request(format!(
                "could not read request body: {e}"
            )))
        }
    }
}

/// Whether the request says its body is YAML.
pub fn is_yaml(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            let v = v.split(';').next().unwrap_or("").trim();
            v.eq_ignore_ascii_case("application/yaml")
                || v.eq_ignore_ascii_case("application/x-yaml")
        })
        .unwrap_or(false)
}

/// Decodes a JSON document, naming `what` it should have been in the error.
pub fn decode_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| json_error(&e, what))
}

/// Decodes a JSON or YAML body (by `Content-Type`).
pub fn decode_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    bytes: &[u8],
    what: &str,
) -> Result<T, ApiError> {
    if is_yaml(headers) {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| ApiError::bad_request(format!("YAML body is not valid UTF-8: {e}")))?;
        // Through a JSON value: the same depth limit and the same typed errors as JSON bodies.
        let value: serde_json::Value = yaml_serde::from_str(text)
            .map_err(|e| ApiError::bad_request(format!("malformed YAML in request body: {e}")))?;
        return serde_json::from_value(value).map_err(|e| json_error(&e, what));
    }
    decode_json(bytes, what)
}

/// A JSON error as a message a person can act on.
pub fn json_error(e: &serde_json::Error, what: &str) -> ApiError {
    use serde_json::error::Category;
    let msg = e.to_string();
    if msg.starts_with("recursion limit exceeded") {
        return ApiError::bad_request(format!(
            "{what} nests more than 128 levels deep ({msg}); flatten the document"
        ));
    }
    match e.classify() {
        Category::Syntax | Category::Eof => {
            ApiError::bad_request(format!("malformed JSON in {what}: {msg}"))
        }
        Category::Io => ApiError::bad_request(format!("could not read {what}: {msg}")),
        Category::Data => ApiError::bad_request(format!("invalid {what}: {msg}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn deep_nesting_is_a_400_that_says_so() {
        let deep = "[".repeat(200) + &"]".repeat(200);
        let e = decode_json::<serde_json::Value>(deep.as_bytes(), "request body").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("128 levels"), "{}", e.message);
    }

    #[test]
    fn syntax_errors_point_at_the_place() {
        let e = decode_json::<serde_json::Value>(b"{\"a\": }", "request body").unwrap_err();
        assert!(
            e.message.starts_with("malformed JSON in request body"),
            "{}",
            e.message
        );
        assert!(e.message.contains("column"), "{}", e.message);
    }

    #[tokio::test]
    async fn oversized_body_is_a_413() {
        let headers = HeaderMap::new();
        let e = read_body(&headers, Body::from(vec![b'x'; 100]), 10)
            .await
            .unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE);
        let ok = read_body(&headers, Body::from(vec![b'x'; 10]), 10)
            .await
            .unwrap();
        assert_eq!(ok.len(), 10);
    }
}
