//! `/api/capture`: create, list, get, delete, validation, persistence across a restart.

use serde_json::json;

use crate::util::TestAnalyzer;

#[tokio::test]
async fn capture_crud_validates_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAnalyzer::start_in(dir.path()).await;
    let body = json!({"GremlinQuery": "G.V().Has('Name', 'br-int')", "Type": "ovssflow",
                      "Name": "c1", "Description": "d", "SamplingRate": 1, "PollingInterval": 10,
                      "HeaderSize": 128, "LayerKeyMode": "L2"});
    let created = a.post("/api/capture", &body).await;
    assert_eq!(created.status, 200, "{}", created.text());
    let c = created.json();
    let id = c["UUID"].as_str().expect("a UUID").to_owned();
    assert_eq!(c["GremlinQuery"], "G.V().Has('Name', 'br-int')");
    assert_eq!(c["Type"], "ovssflow");
    assert_eq!(c["SamplingRate"], 1);
    assert_eq!(c["Count"], 0);

    let list = a.get("/api/capture").await.json();
    assert_eq!(list[&id], c, "{list}");
    assert_eq!(a.get(&format!("/api/capture/{id}")).await.json(), c);

    for bad in [
        json!({"Type": "ovssflow"}),
        json!({"GremlinQuery": "G.V(("}),
        json!({"GremlinQuery": "G.V()", "Type": "nope"}),
        json!({"GremlinQuery": "G.V()", "LayerKeyMode": "L4"}),
        json!({"GremlinQuery": "G.V()", "HeaderSize": -1}),
    ] {
        let r = a.post("/api/capture", &bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }

    a.stop().await;
    let a = TestAnalyzer::start_in(dir.path()).await;
    assert_eq!(a.get(&format!("/api/capture/{id}")).await.json(), c);
    assert_eq!(a.delete(&format!("/api/capture/{id}")).await.status, 200);
    assert_eq!(a.get(&format!("/api/capture/{id}")).await.status, 404);
    assert_eq!(a.delete(&format!("/api/capture/{id}")).await.status, 404);
    assert_eq!(a.get("/api/capture").await.json(), json!({}));
    a.stop().await;
    let a = TestAnalyzer::start_in(dir.path()).await;
    assert_eq!(a.get("/api/capture").await.json(), json!({}));
    a.stop().await;
}
