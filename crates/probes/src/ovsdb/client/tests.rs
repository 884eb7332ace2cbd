//! The client against a scripted fake server (a socket pair): replies, server echo, bounds,
//! malformed messages, closing. Tests against the real ovsdb-server are in the integration
//! tests (`ovsdb_client.rs`).

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::*;
use crate::ovsdb::jsonrpc::Framer;

fn addr() -> OvsdbAddress {
    OvsdbAddress::Unix("/fake".into())
}

/// A fake server end: reads JSON messages, writes raw bytes.
struct Fake {
    sock: UnixStream,
    framer: Framer,
}

impl Fake {
    async fn next(&mut self) -> Value {
        loop {
            if let Some(f) = self.framer.next_frame().unwrap() {
                return serde_json::from_slice(f).unwrap();
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(Duration::from_secs(5), self.sock.read(&mut buf))
                .await
                .expect("client sent something")
                .unwrap();
            assert!(n > 0, "client closed");
            self.framer.extend(&buf[..n]);
        }
    }

    async fn send(&mut self, raw: &[u8]) {
        self.sock.write_all(raw).await.unwrap();
    }
}

fn pair(opts: ClientOptions) -> (OvsdbClient, mpsc::Receiver<Notification>, Fake) {
    let (a, b) = UnixStream::pair().unwrap();
    let (r, w) = a.into_split();
    let (c, n) = OvsdbClient::start(addr(), r, w, opts);
    (
        c,
        n,
        Fake {
            sock: b,
            framer: Framer::new(1 << 20, 32),
        },
    )
}

#[tokio::test]
async fn calls_get_their_replies_and_server_echo_is_answered() {
    let (client, mut notes, mut srv) = pair(ClientOptions::default());
    let c = client.clone();
    let call = tokio::spawn(async move { c.list_dbs().await });
    let req = srv.next().await;
    assert_eq!(req["method"], "list_dbs");
    assert_eq!(req["params"], json!([]));
    let id = req["id"].clone();

    // Before answering: a server echo, a notification, a reply to nothing, garbage.
    srv.send(br#"{"id":"echo","method":"echo","params":["x"]}"#)
        .await;
    let echo_reply = srv.next().await;
    assert_eq!(
        echo_reply,
        json!({"id": "echo", "result": ["x"], "error": null})
    );
    srv.send(br#" {"id":null,"method":"update","params":["m",{"Bridge":{}}]}"#)
        .await;
    srv.send(br#"{"id":999,"result":[],"error":null}{"no":"shape"}{"a":tru}"#)
        .await;
    srv.send(
        format!(r#"{{"id":{id},"result":["Open_vSwitch","_Server"],"error":null}}"#).as_bytes(),
    )
    .await;
    assert_eq!(call.await.unwrap().unwrap(), ["Open_vSwitch", "_Server"]);
    let n = notes.recv().await.unwrap();
    let (mid, upd) = n.monitor_update().unwrap();
    assert_eq!(mid, "m");
    assert_eq!(upd, &json!({"Bridge": {}}));
    let stats = client.stats();
    assert_eq!(stats.echo_replies.load(Ordering::Relaxed), 1);
    assert_eq!(stats.malformed.load(Ordering::Relaxed), 3);
    assert_eq!(stats.notifications.load(Ordering::Relaxed), 1);

    // An error reply.
    let c = client.clone();
    let call = tokio::spawn(async move { c.call("nosuch", json!([])).await });
    let req = srv.next().await;
    srv.send(format!(r#"{{"id":{},"error":"unknown method"}}"#, req["id"]).as_bytes())
        .await;
    assert_eq!(
        call.await.unwrap().unwrap_err(),
        ClientError::Rpc {
            method: "nosuch".into(),
            error: "unknown method".into()
        }
    );
}

#[tokio::test]
async fn transaction_errors_name_the_operation() {
    let (client, _notes, mut srv) = pair(ClientOptions::default());
    let c = client.clone();
    let call = tokio::spawn(async move {
        c.transact(
            "Open_vSwitch",
            &[Operation::select("Bridge", vec![]), Operation::comment("x")],
        )
        .await
    });
    let req = srv.next().await;
    assert_eq!(req["params"][0], "Open_vSwitch");
    assert_eq!(req["params"][1]["op"], "select");
    srv.send(
        format!(
            r#"{{"id":{},"result":[{{"rows":[]}},{{"error":"constraint violation","details":"no"}}],"error":null}}"#,
            req["id"]
        )
        .as_bytes(),
    )
    .await;
    let err = call.await.unwrap().unwrap_err();
    assert_eq!(
        err.to_string(),
        "transaction failed at operation 1: constraint violation (no)"
    );
}

#[tokio::test]
async fn a_frame_error_closes_the_connection_and_fails_pending_calls() {
    let opts = ClientOptions {
        max_message_bytes: 64,
        ..ClientOptions::default()
    };
    let (client, mut notes, mut srv) = pair(opts);
    let c = client.clone();
    let call = tokio::spawn(async move { c.echo().await });
    srv.next().await;
    srv.send(
        format!(
            r#"{{"id":null,"method":"update","params":["{}"]}}"#,
            "x".repeat(100)
        )
        .as_bytes(),
    )
    .await;
    let err = call.await.unwrap().unwrap_err();
    assert!(err.is_closed(), "{err}");
    assert!(
        err.to_string().contains("message longer than 64 bytes"),
        "{err}"
    );
    assert!(
        notes.recv().await.is_none(),
        "notifications end with the connection"
    );
    assert!(client.is_closed());
    let again = client.echo().await.unwrap_err();
    assert!(again.to_string().contains("longer than 64"), "{again}");
}

#[tokio::test]
async fn too_deep_and_garbage_streams_close_the_connection() {
    for (raw, why) in [
        (
            format!("{}{}", "[".repeat(40), "]".repeat(40)),
            "unexpected byte 0x5b",
        ),
        (
            format!("{{\"a\":{}{}}}", "[".repeat(40), "]".repeat(40)),
            "nested deeper than 32",
        ),
        ("}".to_owned(), "unexpected byte 0x7d"),
    ] {
        let (client, _notes, mut srv) = pair(ClientOptions::default());
        srv.send(raw.as_bytes()).await;
        tokio::time::timeout(Duration::from_secs(5), client.closed())
            .await
            .expect("connection closes");
        let reason = client.close_reason().unwrap();
        assert!(reason.contains(why), "{reason}");
        assert_eq!(client.stats().malformed.load(Ordering::Relaxed), 1);
    }
}

#[tokio::test]
async fn server_closing_ends_everything_and_idle_connections_are_probed() {
    let (client, _notes, srv) = pair(ClientOptions::default());
    drop(srv);
    client.closed().await;
    assert_eq!(
        client.close_reason().as_deref(),
        Some("closed by the server")
    );

    let opts = ClientOptions {
        inactivity_probe: Some(Duration::from_millis(100)),
        ..ClientOptions::default()
    };
    let (client, _notes, mut srv) = pair(opts);
    let probe = srv.next().await;
    assert_eq!(probe["method"], "echo");
    assert_eq!(probe["id"], PROBE_ID);
    srv.send(format!(r#"{{"id":"{PROBE_ID}","result":[],"error":null}}"#).as_bytes())
        .await;
    // Answered: the connection lives on and probes again; unanswered, it closes.
    let again = srv.next().await;
    assert_eq!(again["id"], PROBE_ID);
    tokio::time::timeout(Duration::from_secs(5), client.closed())
        .await
        .expect("unanswered probe closes the connection");
    assert!(
        client
            .close_reason()
            .unwrap()
            .contains("no message from the server")
    );
    assert_eq!(client.stats().malformed.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_full_notification_queue_waits_then_gives_up() {
    let opts = ClientOptions {
        notification_queue: 1,
        request_timeout: Duration::from_millis(200),
        ..ClientOptions::default()
    };
    let (client, notes, mut srv) = pair(opts);
    for _ in 0..3 {
        srv.send(br#"{"id":null,"method":"update","params":["m",{}]}"#)
            .await;
    }
    tokio::time::timeout(Duration::from_secs(5), client.closed())
        .await
        .expect("connection gives up");
    assert!(
        client
            .close_reason()
            .unwrap()
            .contains("notification queue full")
    );
    drop(notes);

    // A consumer that dropped its receiver does not block the connection.
    let (client, notes, mut srv) = pair(ClientOptions::default());
    drop(notes);
    srv.send(br#"{"id":null,"method":"update","params":["m",{}]}"#)
        .await;
    let c = client.clone();
    let call = tokio::spawn(async move { c.echo().await });
    let req = srv.next().await;
    srv.send(format!(r#"{{"id":{},"result":[],"error":null}}"#, req["id"]).as_bytes())
        .await;
    call.await.unwrap().unwrap();
    assert_eq!(
        client.stats().dropped_notifications.load(Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn connect_errors_say_what_is_missing() {
    let missing =
        OvsdbAddress::Unix(format!("/nonexistent/skt-{}/db.sock", std::process::id()).into());
    let err = OvsdbClient::connect(&missing, ClientOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("no /nonexistent/"), "{err}");

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let refused = OvsdbAddress::Tcp(format!("127.0.0.1:{port}"));
    let err = OvsdbClient::connect(&refused, ClientOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_connect() && !err.is_not_found(), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot connect to tcp://127.0.0.1:{port}")),
        "{err}"
    );
}
