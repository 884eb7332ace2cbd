//! `GET /api/config/{key}`: one value of the configuration in effect (file, then
//! `SKYDIVE_*` environment, then defaults), addressed by its dotted key, e.g.
//! `analyzer.listen` or `http.ws.queue_size`. Keys are case-insensitive, as in Skydive.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::ApiError;
use crate::state::State as AppState;

/// The value at a dotted key of `config`.
pub fn lookup<'a>(config: &'a Value, key: &str) -> Option<&'a Value> {
    let key = key.trim_matches('.').to_ascii_lowercase();
    if key.is_empty() {
        return Some(config);
    }
    let mut cur = config;
    for part in key.split('.') {
        cur = match cur {
            Value::Object(m) => m.get(part).or_else(|| {
                m.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(part))
                    .map(|(_, v)| v)
            })?,
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// `GET /api/config/{key}`.
pub async fn get(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, ApiError> {
    match lookup(&state.effective_config, &key) {
        Some(v) => Ok(axum::Json(v.clone()).into_response()),
        None => Err(ApiError::not_found(format!(
            "unknown configuration key `{key}`: see docs/config.md for the keys"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dotted_lookup() {
        let c = json!({"analyzer": {"listen": "127.0.0.1:8082"}, "storage": {"Embedded": {"data_dir": "/d"}}, "l": [1, 2]});
        assert_eq!(
            lookup(&c, "analyzer.listen"),
            Some(&json!("127.0.0.1:8082"))
        );
        assert_eq!(
            lookup(&c, "ANALYZER.Listen"),
            Some(&json!("127.0.0.1:8082"))
        );
        assert_eq!(lookup(&c, "storage.embedded.data_dir"), Some(&json!("/d")));
        assert_eq!(lookup(&c, "l.1"), Some(&json!(2)));
        assert_eq!(lookup(&c, "analyzer.nope"), None);
    }
}
