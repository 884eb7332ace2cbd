//! Harnesses for `cargo fuzz` (`fuzz/fuzz_targets/*.rs` call these in one line each).
//!
//! `ws_message`: one WebSocket frame through the decoder; whatever decodes must re-encode
//! and decode again to the same message type, with the same payload.

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
