//! A capture through the analyzer's API, as Skydive's users make them (`skydive client
//! capture create --gremlin "G.V().Has('Name', 'br-int')"`): the seed's lab with an agent
//! that captures nothing by itself (no `agent.flow.probes`), then `POST /api/capture`; the
//! analyzer pushes it to the agent, which starts sFlow on br-int; ping flows carry the
//! capture's id; `GET /api/capture` counts the node; `DELETE` stops it: the sFlow row leaves
//! OVSDB and the node's `Captures` entry goes.

use serde_json::{Value, json};
use skydive_functional_tests::{eventually, http};

use crate::simple_lab::*;

#[test]
fn capture_api_create_list_delete() {
    let Some(w) = SimpleLab::start("capture-api", no_flow_probe_config()) else {
        return;
    };
    let (_, br_tid) = w.bridge_and_tid();
    assert_eq!(w.sflow_rows(), "", "no capture without a capture");

    let created = http::post_json(
        w.analyzer_addr,
        "/api/capture",
        &json!({
            "GremlinQuery": "G.V().Has('Name','br-int')",
            "Name": "functional",
            "Description": "ping between the seed's namespaces",
        }),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(created.status, 200, "{}", created.body);
    let created = created.json().unwrap_or_else(|e| panic!("{e}"));
    let id = created["UUID"].as_str().expect("UUID").to_owned();

    // The agent runs it: an active entry on br-int, our row in OVSDB.
    let entry = wait_active_capture(w.analyzer_addr, |c| c == id);
    assert_eq!(entry["Type"], "ovssflow", "{entry}");
    assert_eq!(entry["Name"], "functional", "{entry}");
    let row = w.ovs.vsctl(&["get", "bridge", "br-int", "sflow"]);
    assert_ne!(row, "[]", "br-int has no sFlow row");
    assert_eq!(
        w.ovs
            .vsctl(&["get", "sflow", &row, "external_ids:skydive-capture-id"])
            .trim_matches('"'),
        id
    );

    // Listed, with the one node it runs on.
    eventually("the capture listed with Count 1", || {
        let all = http::get_json(w.analyzer_addr, "/api/capture")?;
        (all[&id]["Count"] == 1)
            .then_some(())
            .ok_or_else(|| format!("{all:#}"))
    });
    let one = http::get_json(w.analyzer_addr, &format!("/api/capture/{id}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one["GremlinQuery"], "G.V().Has('Name','br-int')", "{one}");

    // Its flows.
    ping(&w.vm1, VM2_IP, 10);
    let flow = eventually("the ping's flow with the capture's id", || {
        let v = http::gremlin(
            w.analyzer_addr,
            &format!("G.Flows().Has('CaptureID', '{id}').Has('Network.A', '{VM1_IP}')"),
        )?;
        v.as_array()
            .and_then(|a| a.first())
            .cloned()
            .ok_or_else(|| v.to_string())
    });
    assert_eq!(flow["NodeTID"], br_tid.as_str(), "{flow:#}");
    assert_eq!(flow["Network"]["B"], VM2_IP, "{flow:#}");
    assert_eq!(flow["LayersPath"], "Ethernet/IPv4/ICMPv4", "{flow:#}");

    // Deleted: the row leaves OVSDB, the entry leaves the node.
    let del = http::delete(w.analyzer_addr, &format!("/api/capture/{id}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(del.status, 200, "{}", del.body);
    eventually("the sFlow row removed from OVSDB", || {
        let rows = w.sflow_rows();
        rows.is_empty().then_some(()).ok_or(rows)
    });
    assert_eq!(w.ovs.vsctl(&["get", "bridge", "br-int", "sflow"]), "[]");
    eventually("br-int's Captures entry gone", || {
        let caps = captures_of_bridge(w.analyzer_addr)?;
        (!caps.iter().any(|c| c["ID"] == id.as_str()))
            .then_some(())
            .ok_or_else(|| format!("{caps:?}"))
    });
    let all = http::get_json(w.analyzer_addr, "/api/capture").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(all, Value::Object(Default::default()), "{all:#}");
}
