//! REST round trips: shapes as Skydive's, node and edge CRUD, queries, config, status.

use serde_json::{Value, json};

use crate::util::{TestAnalyzer, edge_body, ids, node_body};

#[tokio::test]
async fn api_info_and_empty_topology() {
    let a = TestAnalyzer::start().await;
    let info = a.get("/api").await;
    assert_eq!(info.status, 200);
    assert!(info.content_type().starts_with("application/json"));
    let v = info.json();
    assert_eq!(v["Service"], "analyzer");
    assert_eq!(v["Host"], "test-analyzer");
    assert!(v["Version"].is_string());

    for path in ["/api/topology", "/rpc/topology"] {
        let t = a.get(path).await;
        assert_eq!(t.status, 200, "{path}");
        assert_eq!(t.json(), json!({"Nodes": [], "Edges": []}), "{path}");
    }
    a.stop().await;
}

#[tokio::test]
async fn node_crud_round_trip() {
    let a = TestAnalyzer::start().await;
    let created = a.post("/api/node", &json!({"ID": "n1", "Host": "h1", "Metadata": {"Name": "eth0", "Type": "device", "MTU": 1500}})).await;
    assert_eq!(created.status, 201, "{}", created.text());
    let n = created.json();
    assert_eq!(n["ID"], "n1");
    assert_eq!(n["Host"], "h1", "the body's Host is kept");
    assert_eq!(
        n["Origin"], "api.test-analyzer",
        "Skydive's origin for API-created elements"
    );
    assert_eq!(n["Revision"], 1);
    assert!(n["CreatedAt"].as_i64().unwrap() > 0);
    assert!(n.get("DeletedAt").is_none());
    let keys: Vec<&String> = n.as_object().unwrap().keys().collect();
    assert_eq!(
        keys.len(),
        7,
        "ID, Metadata, Host, Origin, CreatedAt, UpdatedAt, Revision: {keys:?}"
    );

    // Host defaults to the analyzer's host id.
    let n2 = a
        .post("/api/node", &node_body("n2", "eth1", "device"))
        .await
        .json();
    assert_eq!(n2["Host"], "test-analyzer");

    let got = a.get("/api/node/n1").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), n);

    let index = a.get("/api/node").await.json();
    let index = index.as_object().expect("index is a map id -> node");
    assert_eq!(index.keys().collect::<Vec<_>>(), ["n1", "n2"]);
    assert_eq!(index["n1"], n);

    let patched = a
        .patch(
            "/api/node/n1",
            &json!([{"op": "add", "path": "/Metadata/Color", "value": "red"},
                                       {"op": "replace", "path": "/Metadata/MTU", "value": 9000}]),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text());
    let p = patched.json();
    assert_eq!(
        p["Metadata"],
        json!({"Name": "eth0", "Type": "device", "MTU": 9000, "Color": "red"})
    );
    assert_eq!(p["Revision"], 2);

    let same = a
        .patch(
            "/api/node/n1",
            &json!([{"op": "add", "path": "/Metadata/Color", "value": "red"}]),
        )
        .await;
    assert_eq!(
        same.status, 304,
        "nothing changed: Not Modified, as Skydive"
    );

    let removed = a
        .patch(
            "/api/node/n1",
            &json!([{"op": "test", "path": "/Revision", "value": 2},
                                                  {"op": "remove", "path": "/Metadata/Color"}]),
        )
        .await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    assert!(removed.json()["Metadata"].get("Color").is_none());

    let q = a.query("G.V().Has('Name', 'eth0')").await;
    assert_eq!(ids(&q), ["n1"]);

    let del = a.delete("/api/node/n1").await;
    assert_eq!(del.status, 200);
    assert_eq!(a.get("/api/node/n1").await.status, 404);
    assert_eq!(a.delete("/api/node/n1").await.status, 404);
    a.stop().await;
}

#[tokio::test]
async fn edge_crud_and_cascading_delete() {
    let a = TestAnalyzer::start().await;
    for (id, name) in [("a", "br0"), ("b", "eth0")] {
        assert_eq!(
            a.post("/api/node", &node_body(id, name, "device"))
                .await
                .status,
            201
        );
    }
    let e = a.post("/api/edge", &edge_body("e1", "a", "b")).await;
    assert_eq!(e.status, 201, "{}", e.text());
    let e = e.json();
    assert_eq!(
        (e["Parent"].as_str(), e["Child"].as_str()),
        (Some("a"), Some("b"))
    );
    assert_eq!(e["Origin"], "api.test-analyzer");

    let index = a.get("/api/edge").await.json();
    assert_eq!(index["e1"], e);
    let topo = a.get("/api/topology").await.json();
    assert_eq!(ids(&topo["Nodes"]), ["a", "b"]);
    assert_eq!(ids(&topo["Edges"]), ["e1"]);

    let p = a
        .patch(
            "/api/edge/e1",
            &json!([{"op": "add", "path": "/Metadata/Speed", "value": 10}]),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text());
    assert_eq!(p.json()["Metadata"]["Speed"], 10);

    // Deleting a node takes its edges with it.
    assert_eq!(a.delete("/api/node/a").await.status, 200);
    assert_eq!(a.get("/api/edge/e1").await.status, 404);
    assert_eq!(a.get("/api/edge").await.json(), json!({}));
    a.stop().await;
}

#[tokio::test]
async fn yaml_bodies_are_accepted_like_skydive() {
    let a = TestAnalyzer::start().await;
    let yaml = "ID: y1\nMetadata:\n  Name: tap0\n  Type: tun\n";
    let r = a
        .request(
            hyper::Method::POST,
            "/api/node",
            Some(yaml.as_bytes()),
            &[("Content-Type", "application/yaml")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["Metadata"]["Type"], "tun");
    a.stop().await;
}

#[tokio::test]
async fn queries_in_json_and_dot() {
    let a = TestAnalyzer::start().await;
    a.post("/api/node", &node_body("h", "host1", "host")).await;
    a.post("/api/node", &node_body("i", "eth0", "device")).await;
    a.post("/api/edge", &edge_body("e", "h", "i")).await;

    let all = a.query("G.V()").await;
    assert_eq!(ids(&all), ["h", "i"]);
    let hosts = a.query("G.V().Has('Type', 'host')").await;
    assert_eq!(ids(&hosts), ["h"]);
    assert_eq!(hosts[0]["Metadata"]["Name"], "host1");

    let dot = a
        .request(
            hyper::Method::POST,
            "/api/topology",
            Some(br#"{"GremlinQuery": "G.V()"}"#),
            &[("Accept", "text/vnd.graphviz")],
        )
        .await;
    assert_eq!(dot.status, 200);
    assert!(
        dot.content_type().starts_with("text/vnd.graphviz"),
        "{}",
        dot.content_type()
    );
    assert!(dot.text().contains("digraph"), "{}", dot.text());

    let empty = a.post("/api/topology", &json!({"GremlinQuery": ""})).await;
    assert_eq!(
        empty.status, 204,
        "an empty query gets No Content, as Skydive"
    );
    a.stop().await;
}

#[tokio::test]
async fn config_and_status() {
    let a = TestAnalyzer::start().await;
    let c = a.get("/api/config/analyzer.listen").await;
    assert_eq!(c.status, 200);
    assert_eq!(c.json(), json!("127.0.0.1:0"));
    let missing = a.get("/api/config/analyzer.nope").await;
    assert_eq!(missing.status, 404);
    assert!(missing.error().contains("analyzer.nope"));

    a.post("/api/node", &node_body("n", "x", "y")).await;
    let s = a.get("/api/status").await;
    assert_eq!(s.status, 200);
    let s = s.json();
    assert_eq!(s["Service"], "analyzer");
    assert_eq!(s["Graph"], json!({"Nodes": 1, "Edges": 0}));
    assert!(s["UptimeSecs"].is_u64());
    assert!(s["EventBus"]["Lagged"].is_u64());
    assert_eq!(s["HistoryBackend"], "embedded");
    assert!(s["History"].is_object(), "{}", s["History"]);
    for k in ["Publishers", "Subscribers", "Agents"] {
        assert!(s[k].is_object(), "{k}: {s}");
    }
    for k in ["Sent", "Dropped", "Received", "Rejected", "Resyncs"] {
        assert!(s["WebSocket"]["Subscribers"][k].is_u64(), "{k}: {s}");
    }
    let _: &Value = &s;
    a.stop().await;
}
