//! The public OVSDB client against a real ovsdb-server (no switch needed, no root needed):
//! what the `ovssflow` capture will do through it — insert an `sFlow` row and attach it to a
//! bridge in one transaction, read it back, detach it (the server then deletes the row) —
//! plus monitor notifications, errors, and both transports.

use std::time::Duration;

use serde_json::json;
use skydive_probes::ovsdb::datum::{named_uuid, set, string_map, uuid};
use skydive_probes::ovsdb::{
    ClientError, ClientOptions, Condition, Mutation, Operation, OvsdbAddress, OvsdbClient,
};

use skydive_testlab::Ovs;

const DB: &str = "Open_vSwitch";

async fn connect(
    addr: &str,
) -> (
    OvsdbClient,
    tokio::sync::mpsc::Receiver<skydive_probes::ovsdb::Notification>,
) {
    let addr = OvsdbAddress::parse(addr).unwrap();
    OvsdbClient::connect(&addr, ClientOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test]
async fn transact_round_trip_like_the_sflow_capture() {
    let Some(ovs) = Ovs::server("ovsdb-client", true) else {
        return;
    };
    ovs.vsctl(&["--no-wait", "add-br", "sktbr0"]);
    for address in [ovs.unix_address(), ovs.tcp_address()] {
        let (client, _notes) = connect(&address).await;
        assert!(client.list_dbs().await.unwrap().contains(&DB.to_owned()));
        assert_eq!(client.get_schema(DB).await.unwrap()["name"], DB);
        client.echo().await.unwrap();
    }
    let (client, _notes) = connect(&ovs.unix_address()).await;
    let br_uuid = ovs.uuid("bridge", "sktbr0");

    // Insert an sFlow row and point the bridge at it, atomically.
    let reply = client
        .transact(
            DB,
            &[
                Operation::insert(
                    "sFlow",
                    json!({
                        "agent": "lo",
                        "targets": set([json!("127.0.0.1:6345")]),
                        "header": 128,
                        "sampling": 1,
                        "polling": 10,
                        "external_ids": string_map([("skydive-probe-id", "skt-capture")]),
                    }),
                )
                .with_uuid_name("sflow"),
                Operation::update(
                    "Bridge",
                    vec![Condition::eq("_uuid", uuid(&br_uuid))],
                    json!({"sflow": named_uuid("sflow")}),
                ),
            ],
        )
        .await
        .unwrap();
    let sflow_uuid = reply.uuid(0).expect("inserted row's uuid").to_owned();
    assert_eq!(reply.count(1), Some(1));
    assert_eq!(ovs.vsctl(&["get", "bridge", "sktbr0", "sflow"]), sflow_uuid);
    assert_eq!(
        ovs.vsctl(&["get", "sflow", &sflow_uuid, "targets"]),
        "[\"127.0.0.1:6345\"]"
    );

    // Find it again by its external id, as a restarted agent would.
    let found = client
        .transact(
            DB,
            &[Operation::select(
                "sFlow",
                vec![Condition::includes(
                    "external_ids",
                    string_map([("skydive-probe-id", "skt-capture")]),
                )],
            )
            .with_columns(["_uuid", "sampling"])],
        )
        .await
        .unwrap();
    let rows = found.rows(0);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].uuids("_uuid"), std::slice::from_ref(&sflow_uuid));
    assert_eq!(rows[0].int("sampling"), Some(1));

    // Detach: the unreferenced sFlow row is deleted by the server.
    let reply = client
        .transact(
            DB,
            &[
                Operation::update(
                    "Bridge",
                    vec![Condition::eq("_uuid", uuid(&br_uuid))],
                    json!({"sflow": set([])}),
                ),
                Operation::mutate(
                    "Bridge",
                    vec![Condition::eq("name", json!("sktbr0"))],
                    vec![Mutation::insert(
                        "external_ids",
                        string_map([("skt", "done")]),
                    )],
                ),
            ],
        )
        .await
        .unwrap();
    assert_eq!(reply.count(0), Some(1));
    // The unreferenced row went when the transaction committed.
    let after = client
        .transact(
            DB,
            &[Operation::select(
                "sFlow",
                vec![Condition::eq("_uuid", uuid(&sflow_uuid))],
            )],
        )
        .await
        .unwrap();
    assert!(after.rows(0).is_empty(), "row garbage-collected");
    assert_eq!(
        ovs.vsctl(&["get", "bridge", "sktbr0", "external_ids:skt"]),
        "done"
    );

    // Failures say which operation failed, and change nothing.
    let err = client
        .transact(
            DB,
            &[
                Operation::mutate(
                    "Bridge",
                    vec![],
                    vec![Mutation::insert("external_ids", string_map([("x", "y")]))],
                ),
                Operation::insert("NoSuchTable", json!({})),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Transaction { index: 1, error, details: Some(d) }
            if error == "syntax error" && d.contains("NoSuchTable")),
        "{err}"
    );
    assert!(
        ovs.vsctl(&["get", "bridge", "sktbr0", "external_ids"])
            .contains("skt=done")
    );
    assert!(
        !ovs.vsctl(&["get", "bridge", "sktbr0", "external_ids"])
            .contains("x=y")
    );
    let err = client.transact("NoSuchDb", &[]).await.unwrap_err();
    assert!(
        matches!(&err, ClientError::Rpc { error, .. } if error.contains("unknown database")),
        "{err}"
    );
    let err = client.call("no_such_method", json!([])).await.unwrap_err();
    assert!(err.to_string().contains("unknown method"), "{err}");
}

#[tokio::test]
async fn monitor_reports_changes_and_the_end_of_the_server() {
    let Some(ovs) = Ovs::server("ovsdb-monitor", false) else {
        return;
    };
    let (client, mut notes) = connect(&ovs.unix_address()).await;
    let initial = client
        .monitor(DB, json!("m1"), json!({"Bridge": [{"columns": ["name"]}]}))
        .await
        .unwrap();
    assert_eq!(initial, json!({}), "no bridge yet");
    ovs.vsctl(&["--no-wait", "add-br", "sktmon0"]);
    let n = tokio::time::timeout(Duration::from_secs(10), notes.recv())
        .await
        .expect("update within the deadline")
        .expect("connection open");
    let (id, updates) = n.monitor_update().expect("a monitor update");
    assert_eq!(id, "m1");
    let rows = updates["Bridge"].as_object().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows.values().next().unwrap()["new"]["name"],
        json!("sktmon0")
    );
    client.monitor_cancel(json!("m1")).await.unwrap();

    ovs.stop_server();
    tokio::time::timeout(Duration::from_secs(10), client.closed())
        .await
        .expect("the client sees the server go");
    assert!(notes.recv().await.is_none());
    let err = client.echo().await.unwrap_err();
    assert!(err.is_closed(), "{err}");
    assert_eq!(
        client
            .stats()
            .malformed
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}
