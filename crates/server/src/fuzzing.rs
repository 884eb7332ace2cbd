//! Harnesses for `cargo fuzz` (`fuzz/fuzz_targets/*.rs` call these in one line each).
//!
//! `ws_message`: one WebSocket frame through the decoder; whatever decodes must re-encode
//! and decode again to the same message type, with the same payload.
//!
//! `agent_message`: one agent frame through the analyzer's decoder of the agent protocol
//! (`crate::protocol`); whatever decodes must re-encode and decode again to the same type,
//! `Seq` and payload.
//!
//! `analyzer_message`: one analyzer frame through the agent's decoder (`SyncDone`,
//! `SyncRequest`, `Error`, `Captures`…); a capture list that decodes must re-encode and
//! decode again to the same list.

use crate::protocol;
use crate::ws::envelope;

/// Decodes `data` as a WebSocket message, then round-trips what decoded.
pub fn ws_message(data: &[u8]) {
    let Ok(first) = envelope::decode(data) else {
        return;
    };
    let kind = first.message.kind();
    let obj = first.message.obj();
    let frame = envelope::encode(kind, first.uuid.as_deref(), 200, &obj);
    let second = match envelope::decode(frame.as_bytes()) {
        Ok(m) => m,
        Err(e) => panic!("re-encoded {kind} does not decode: {e}\n{frame}"),
    };
    assert_eq!(second.message.kind(), kind);
    if first.uuid.is_some() {
        assert_eq!(second.uuid, first.uuid, "UUID changed in the round trip");
    }
    // Numbers may be printed differently; the structure and every string must survive.
    assert_eq!(
        shape(&second.message.obj()),
        shape(&obj),
        "payload changed in the round trip: {frame}"
    );
}

/// Decodes `data` as an agent → analyzer frame, then round-trips what decoded.
pub fn agent_message(data: &[u8]) {
    let Ok(first) = protocol::decode_agent(data) else {
        return;
    };
    let kind = first.message.kind();
    let obj = first.message.obj();
    let frame = protocol::agent_frame(first.seq, kind, &obj.to_string());
    let second = match protocol::decode_agent(frame.as_bytes()) {
        Ok(m) => m,
        Err(e) => panic!("re-encoded {kind} does not decode: {e}\n{frame}"),
    };
    assert_eq!(second.message.kind(), kind);
    assert_eq!(second.seq, first.seq, "Seq changed in the round trip");
    assert_eq!(
        shape(&second.message.obj()),
        shape(&obj),
        "payload changed in the round trip: {frame}"
    );
}

/// Decodes `data` as an analyzer → agent frame, then round-trips a capture list.
pub fn analyzer_message(data: &[u8]) {
    let Ok(first) = protocol::decode_analyzer(data) else {
        return;
    };
    if let protocol::AnalyzerMessage::Captures(list) = first {
        let frame = protocol::encode_analyzer(protocol::types::CAPTURES, &list);
        match protocol::decode_analyzer(frame.as_bytes()) {
            Ok(protocol::AnalyzerMessage::Captures(again)) => {
                assert_eq!(
                    again, list,
                    "capture list changed in the round trip: {frame}"
                )
            }
            other => panic!("re-encoded Captures decodes as {other:?}\n{frame}"),
        }
    }
}

/// A value with every number replaced by a marker.
fn shape(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(_) => Value::String("<number>".into()),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_and_garbage_do_not_panic() {
        let seeds: &[&[u8]] = &[
            b"",
            b"{}",
            b"\xff\xfe",
            br#"{"Namespace":"Graph","Type":"SyncRequest","UUID":"u","Obj":{"GremlinFilter":"G.V()","Time":5}}"#,
            br#"{"Namespace":"Graph","Type":"NodeAdded","Obj":{"ID":"n","Metadata":{"Name":"a","Type":"b","x":[1.5,2e10,-0.0]}}}"#,
            br#"{"Namespace":"Graph","Type":"EdgePartiallyUpdated","Obj":{"ID":"e","Revision":2,"Ops":[{"Type":1,"Key":"k","Value":{"a":null}}]}}"#,
            br#"{"Namespace":"Graph","Type":"Sync","Obj":{"Nodes":null,"Edges":[{"ID":"e","Parent":"a","Child":"b","Metadata":null}]}}"#,
            br#"{"Namespace":"Graph","Type":"SyncRequest"}"#,
        ];
        for s in seeds {
            ws_message(s);
        }
    }

    #[test]
    fn agent_seeds_and_garbage_do_not_panic() {
        let seeds: &[&[u8]] = &[
            b"",
            b"{}",
            b"[]",
            br#"{"Seq": 1, "Type": "Bye"}"#,
            br#"{"Seq": 18446744073709551615, "Type": "SyncBegin", "Obj": {"Generation": 1, "Nodes": 5000000, "Edges": 5000000}}"#,
            br#"{"Seq": 2, "Type": "SyncChunk", "Obj": {"Generation": 1, "Nodes": [{"ID": "n", "Metadata": {"Name": "a", "Type": "b", "x": [1.5, 2e10, -0.0]}}], "Edges": null}}"#,
            br#"{"Seq": 3, "Type": "NodePartiallyUpdated", "Obj": {"ID": "n", "Revision": 2, "Ops": [{"Type": 2, "Key": "k"}]}}"#,
            br#"{"Seq": 4, "Type": "EdgeDeleted", "Obj": {"ID": "e", "DeletedAt": 5}}"#,
            br#"{"Seq": 5, "Type": "Future", "Obj": {}}"#,
        ];
        for s in seeds {
            agent_message(s);
        }
    }

    #[test]
    fn analyzer_seeds_and_garbage_do_not_panic() {
        let seeds: &[&[u8]] = &[
            b"",
            b"{}",
            br#"{"Type": "Captures", "Obj": {"Captures": null}}"#,
            br#"{"Type": "Captures", "Obj": {"Captures": [{"UUID": "c", "GremlinQuery": "G.V()", "HeaderSize": -5, "SamplingRate": 10, "Port": 99999}]}}"#,
            br#"{"Type": "Captures", "Obj": {"Captures": [{"SamplingRate": -1}]}}"#,
            br#"{"Type": "Captures", "Obj": []}"#,
            br#"{"Type": "SyncDone", "Obj": {"Generation": 1}}"#,
            br#"{"Type": "Error", "Obj": {"Error": "x", "Seq": 3}}"#,
            br#"{"Type": "Later"}"#,
        ];
        for s in seeds {
            analyzer_message(s);
        }
    }

    #[test]
    fn committed_agent_corpus_goes_through() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/corpus/agent_message");
        let entries = std::fs::read_dir(&dir).expect("the agent_message seed corpus");
        for e in entries.flatten() {
            let data = std::fs::read(e.path()).unwrap();
            agent_message(&data);
        }
    }

    #[test]
    fn committed_corpus_goes_through() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/ws_message");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        for e in entries.flatten() {
            let data = std::fs::read(e.path()).unwrap();
            ws_message(&data);
        }
    }
}
