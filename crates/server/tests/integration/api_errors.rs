//! Bad input gets a 4xx with a JSON error a person can act on; nothing panics, nothing stored
//! is lost.

use hyper::Method;
use serde_json::json;

use crate::util::{TestAnalyzer, edge_body, node_body};

#[tokio::test]
async fn malformed_and_invalid_bodies_are_400s_that_explain() {
    let a = TestAnalyzer::start().await;
    let cases: &[(&str, &[u8], &str)] = &[
        ("/api/node", b"{\"ID\": ", "malformed JSON"),
        ("/api/node", b"[1, 2]", "invalid node body"),
        ("/api/node", br#"{"ID": "x"}"#, "no `Metadata`"),
        (
            "/api/node",
            br#"{"ID": "x", "Metadata": "red"}"#,
            "must be a JSON object, found a string",
        ),
        (
            "/api/node",
            br#"{"ID": "", "Metadata": {}}"#,
            "`ID` must not be empty",
        ),
        (
            "/api/node",
            br#"{"ID": "x", "Metadata": {"Name": "a"}}"#,
            "`Metadata.Type` is required",
        ),
        (
            "/api/node",
            br#"{"ID": 7, "Metadata": {}}"#,
            "invalid node body",
        ),
        (
            "/api/node",
            br#"{"ID": "x", "Metadata": {"Name": "a", "Type": "b"}, "CreatedAt": "yesterday"}"#,
            "invalid node body",
        ),
        (
            "/api/edge",
            br#"{"ID": "e", "Child": "b", "Metadata": {"RelationType": "l2"}}"#,
            "no `Parent`",
        ),
        (
            "/api/topology",
            br#"{"GremlinQuery": 5}"#,
            "invalid topology query",
        ),
        (
            "/api/topology",
            br#"{"GremlinQuery": "G.V().Hass('Name')"}"#,
            "column",
        ),
        ("/api/topology", br#"{"GremlinQuery": "G.V("}"#, "column"),
    ];
    for (path, body, want) in cases {
        let r = a
            .request(
                Method::POST,
                path,
                Some(body),
                &[("Content-Type", "application/json")],
            )
            .await;
        assert_eq!(
            r.status,
            400,
            "{path} {}: {}",
            String::from_utf8_lossy(body),
            r.text()
        );
        let e = r.error();
        assert!(
            e.contains(want),
            "{path} {}: `{e}` lacks `{want}`",
            String::from_utf8_lossy(body)
        );
    }
    a.stop().await;
}

#[tokio::test]
async fn deep_nesting_is_refused_not_a_crash() {
    let a = TestAnalyzer::start().await;
    let deep = format!(
        r#"{{"ID": "d", "Metadata": {{"Name": "a", "Type": "b", "x": {}1{}}}}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let r = a
        .request(Method::POST, "/api/node", Some(deep.as_bytes()), &[])
        .await;
    assert_eq!(r.status, 400);
    assert!(r.error().contains("128 levels"), "{}", r.text());
    let q = format!(
        r#"{{"GremlinQuery": {}"G.V()"{}}}"#,
        "[".repeat(1000),
        "]".repeat(1000)
    );
    let r = a
        .request(Method::POST, "/api/topology", Some(q.as_bytes()), &[])
        .await;
    assert_eq!(r.status, 400);
    // Still serving.
    assert_eq!(a.get("/api").await.status, 200);
    a.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let a = TestAnalyzer::start_with(|s| s.http.max_body_bytes = 4096).await;
    let big =
        json!({"ID": "big", "Metadata": {"Name": "a", "Type": "b", "Blob": "x".repeat(10_000)}})
            .to_string();
    let r = a
        .request(Method::POST, "/api/node", Some(big.as_bytes()), &[])
        .await;
    assert_eq!(r.status, 413);
    assert!(r.error().contains("http.max_body_bytes"), "{}", r.text());
    let r = a
        .request(Method::PATCH, "/api/node/x", Some(big.as_bytes()), &[])
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(a.get("/api/node/big").await.status, 404);
    a.stop().await;
}

#[tokio::test]
async fn conflicts_missing_ends_and_forbidden_patches() {
    let a = TestAnalyzer::start().await;
    assert_eq!(
        a.post("/api/node", &node_body("n", "eth0", "device"))
            .await
            .status,
        201
    );
    let dup = a
        .post("/api/node", &node_body("n", "other", "device"))
        .await;
    assert_eq!(dup.status, 409);
    assert!(dup.error().contains("already exists"));
    // The original is intact.
    assert_eq!(
        a.get("/api/node/n").await.json()["Metadata"]["Name"],
        "eth0"
    );

    let dangling = a.post("/api/edge", &edge_body("e", "n", "ghost")).await;
    assert_eq!(dangling.status, 400);
    assert!(dangling.error().contains("ghost"));

    let cases = [
        (
            json!([{"op": "replace", "path": "/Metadata/Name", "value": "x"}]),
            400,
            "Metadata.Name",
        ),
        (
            json!([{"op": "replace", "path": "/Host", "value": "x"}]),
            400,
            "may only change /Metadata",
        ),
        (json!({"op": "add"}), 400, "must be an array"),
        (
            json!([{"op": "replace", "path": "/Metadata", "value": 3}]),
            400,
            "must stay an object",
        ),
        (
            json!([{"op": "remove", "path": "/Metadata/Nope"}]),
            400,
            "cannot apply the JSON Patch",
        ),
        (
            json!([{"op": "test", "path": "/Revision", "value": 99}]),
            409,
            "cannot apply the JSON Patch",
        ),
    ];
    for (patch, status, want) in cases {
        let r = a.patch("/api/node/n", &patch).await;
        assert_eq!(r.status, status, "{patch}: {}", r.text());
        assert!(r.error().contains(want), "{patch}: {}", r.text());
    }
    let r = a
        .patch(
            "/api/node/ghost",
            &json!([{"op": "add", "path": "/Metadata/A", "value": 1}]),
        )
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(
        a.get("/api/node/n").await.json()["Revision"],
        1,
        "failed patches change nothing"
    );
    a.stop().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let a = TestAnalyzer::start().await;
    let r = a.get("/api/nothing").await;
    assert_eq!(r.status, 404);
    assert!(r.error().contains("/api/nothing"));
    let r = a.request(Method::PUT, "/api/node", Some(b"{}"), &[]).await;
    assert_eq!(r.status, 405);
    assert!(r.error().contains("PUT"));
    // A plain GET on a WebSocket endpoint says what it wants.
    let r = a.get("/ws/subscriber").await;
    assert!((400..500).contains(&r.status), "{}", r.status);
    assert!(r.error().contains("WebSocket"), "{}", r.text());
    a.stop().await;
}
