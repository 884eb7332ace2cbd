//! JSON-RPC 1.0 as OVSDB speaks it (RFC 7047 §4): the framing of an unframed stream of JSON
//! objects, and the three message shapes. No I/O here (the client drives it), so it is what
//! the `ovsdb_jsonrpc` fuzz target exercises.
//!
//! # Framing
//!
//! OVSDB sends JSON objects back to back with no length prefix or separator (whitespace
//! between them is allowed). [`Framer`] finds the end of each object with an incremental
//! scanner (braces and brackets outside strings, string escapes), resuming where it stopped
//! when more bytes arrive, so each byte is scanned once:
//!
//! ```text
//! INPUT:   {"id":1,"result":["x"],"error":null}{"id":null,"method":"update","par
//! FRAMES:  {"id":1,"result":["x"],"error":null}    (second one: waiting for more bytes)
//! ```
//!
//! Bounds, checked before anything is parsed: a message is at most `max_bytes` long and nests
//! at most `max_depth` arrays/objects; anything but whitespace between messages, or a top-level
//! value that is not an object, is an error. Every [`FrameError`] leaves the stream
//! unrecoverable (the caller drops the connection); a frame that is delimited but not valid
//! JSON, or not a JSON-RPC message, is a [`DecodeError`] and only that message is lost.
//!
//! # Messages
//!
//! | shape | fields |
//! |---|---|
//! | request | `method`, `params` (array), `id` (not null) |
//! | notification | `method`, `params`, `id: null` |
//! | response | `result`, `error` (one of them null), `id` of the request |

use serde_json::{Map, Value};

/// Default bound on one message (the initial monitor reply of a large switch is the biggest).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 << 20;
/// Default bound on nesting (OVSDB's deepest messages nest about 8 levels).
pub const DEFAULT_MAX_DEPTH: u32 = 32;

/// The stream cannot be split into messages any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("message longer than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("message nested deeper than {limit} levels")]
    TooDeep { limit: u32 },
    #[error("unexpected byte 0x{byte:02x} between messages (expected `{{`)")]
    Unexpected { byte: u8 },
    #[error("unbalanced `{found}` in a message")]
    Unbalanced { found: char },
}

/// A delimited message that is not a JSON-RPC message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("not a JSON-RPC message: {0}")]
    Shape(&'static str),
}

/// Splits a byte stream into JSON objects. See the module docs.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    /// Start of the unconsumed data in `buf`.
    start: usize,
    /// Next byte to scan.
    pos: usize,
    /// Scanner state for the message being scanned.
    in_message: bool,
    depth: u32,
    in_string: bool,
    escaped: bool,
    max_bytes: usize,
    max_depth: u32,
}

impl Framer {
    pub fn new(max_bytes: usize, max_depth: u32) -> Self {
        Framer {
            buf: Vec::new(),
            start: 0,
            pos: 0,
            in_message: false,
            depth: 0,
            in_string: false,
            escaped: false,
            max_bytes: max_bytes.max(2),
            max_depth: max_depth.max(1),
        }
    }

    /// Appends received bytes.
    pub fn extend(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.pos -= self.start;
            self.start = 0;
        } else if self.start > self.buf.len() / 2 && self.start > 4096 {
            self.buf.drain(..self.start);
            self.pos -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// Bytes received and not yet returned as a frame.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        while self.pos < self.buf.len() {
            let b = self.buf[self.pos];
            if !self.in_message {
                match b {
                    b' ' | b'\t' | b'\r' | b'\n' => {
                        self.pos += 1;
                        self.start = self.pos;
                        continue;
                    }
                    b'{' => {
                        self.in_message = true;
                        self.depth = 0;
                        self.in_string = false;
                        self.escaped = false;
                    }
                    _ => return Err(FrameError::Unexpected { byte: b }),
                }
            }
            self.pos += 1;
            if self.pos - self.start > self.max_bytes {
                return Err(FrameError::TooLarge {
                    limit: self.max_bytes,
                });
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => {
                    self.depth += 1;
                    if self.depth > self.max_depth {
                        return Err(FrameError::TooDeep {
                            limit: self.max_depth,
                        });
                    }
                }
                b'}' | b']' => {
                    if self.depth == 0 {
                        return Err(FrameError::Unbalanced { found: b as char });
                    }
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.in_message = false;
                        let frame = self.start..self.pos;
                        self.start = self.pos;
                        return Ok(Some(&self.buf[frame]));
                    }
                }
                _ => {}
            }
        }
        // Incomplete: bound what is buffered for it already.
        if self.in_message && self.pos - self.start > self.max_bytes {
            return Err(FrameError::TooLarge {
                limit: self.max_bytes,
            });
        }
        Ok(None)
    }
}

/// One JSON-RPC message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// The peer asks something and waits for a response with the same `id`.
    Request {
        id: Value,
        method: String,
        params: Value,
    },
    /// The peer tells something; no response.
    Notification { method: String, params: Value },
    /// The answer to a request: `error` is null on success.
    Response {
        id: Value,
        result: Value,
        error: Value,
    },
}

impl Message {
    /// Parses one frame.
    pub fn decode(frame: &[u8]) -> Result<Message, DecodeError> {
        let v: Value =
            serde_json::from_slice(frame).map_err(|e| DecodeError::Json(e.to_string()))?;
        Self::from_value(v)
    }

    pub fn from_value(v: Value) -> Result<Message, DecodeError> {
        let Value::Object(mut m) = v else {
            return Err(DecodeError::Shape("not an object"));
        };
        let id = m.remove("id").unwrap_or(Value::Null);
        match m.remove("method") {
            Some(Value::String(method)) => {
                let params = m.remove("params").unwrap_or(Value::Null);
                if !params.is_array() {
                    return Err(DecodeError::Shape("`params` is not an array"));
                }
                Ok(if id.is_null() {
                    Message::Notification { method, params }
                } else {
                    Message::Request { id, method, params }
                })
            }
            Some(_) => Err(DecodeError::Shape("`method` is not a string")),
            None => {
                if !m.contains_key("result") && !m.contains_key("error") {
                    return Err(DecodeError::Shape("neither `method` nor `result`/`error`"));
                }
                if id.is_null() {
                    return Err(DecodeError::Shape("response without an `id`"));
                }
                Ok(Message::Response {
                    id,
                    result: m.remove("result").unwrap_or(Value::Null),
                    error: m.remove("error").unwrap_or(Value::Null),
                })
            }
        }
    }

    /// The message as JSON text.
    pub fn encode(&self) -> Vec<u8> {
        let mut m = Map::new();
        match self {
            Message::Request { id, method, params } => {
                m.insert("method".into(), Value::from(method.as_str()));
                m.insert("params".into(), params.clone());
                m.insert("id".into(), id.clone());
            }
            Message::Notification { method, params } => {
                m.insert("method".into(), Value::from(method.as_str()));
                m.insert("params".into(), params.clone());
                m.insert("id".into(), Value::Null);
            }
            Message::Response { id, result, error } => {
                m.insert("id".into(), id.clone());
                m.insert("result".into(), result.clone());
                m.insert("error".into(), error.clone());
            }
        }
        serde_json::to_vec(&Value::Object(m)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn frames(f: &mut Framer) -> Result<Vec<String>, FrameError> {
        let mut out = Vec::new();
        while let Some(fr) = f.next_frame()? {
            out.push(String::from_utf8(fr.to_vec()).unwrap());
        }
        Ok(out)
    }

    #[test]
    fn splits_back_to_back_messages_fed_byte_by_byte() {
        let input = br#" {"a":"}{\"]"} {"b":[1,{"c":2}]}
{"x":"\\"}"#;
        for chunk in [1, 2, 3, 7, input.len()] {
            let mut f = Framer::new(1024, 8);
            let mut got = Vec::new();
            for part in input.chunks(chunk) {
                f.extend(part);
                got.extend(frames(&mut f).unwrap());
            }
            assert_eq!(
                got,
                [r#"{"a":"}{\"]"}"#, r#"{"b":[1,{"c":2}]}"#, r#"{"x":"\\"}"#],
                "chunk {chunk}"
            );
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn bounds_size_depth_and_garbage() {
        let mut f = Framer::new(16, 8);
        f.extend(br#"{"a":"0123456789abcdef"}"#);
        assert_eq!(f.next_frame(), Err(FrameError::TooLarge { limit: 16 }));

        let mut f = Framer::new(16, 8);
        f.extend(br#"{"a":"01234567891"#);
        assert_eq!(f.next_frame(), Err(FrameError::TooLarge { limit: 16 }));

        let mut f = Framer::new(1024, 3);
        f.extend(b"{[[[1]]]}");
        assert_eq!(f.next_frame(), Err(FrameError::TooDeep { limit: 3 }));

        let mut f = Framer::new(1024, 3);
        f.extend(b"[1]");
        assert_eq!(f.next_frame(), Err(FrameError::Unexpected { byte: b'[' }));

        let mut f = Framer::new(1024, 3);
        f.extend(b"{]}");
        assert!(f.next_frame().is_ok(), "brackets are not type-checked");
    }

    #[test]
    fn decodes_the_three_shapes() {
        let m = Message::decode(br#"{"id":"echo","method":"echo","params":[]}"#).unwrap();
        assert_eq!(
            m,
            Message::Request {
                id: json!("echo"),
                method: "echo".into(),
                params: json!([])
            }
        );
        let m = Message::decode(br#"{"id":null,"method":"update","params":["m",{}]}"#).unwrap();
        assert!(matches!(m, Message::Notification { ref method, .. } if method == "update"));
        let m = Message::decode(br#"{"id":3,"result":["x"],"error":null}"#).unwrap();
        assert_eq!(
            m,
            Message::Response {
                id: json!(3),
                result: json!(["x"]),
                error: Value::Null
            }
        );
        let m = Message::decode(br#"{"id":9,"error":"unknown method"}"#).unwrap();
        assert!(matches!(m, Message::Response { ref error, .. } if error == "unknown method"));
        for bad in [
            &br#"{"id":1}"#[..],
            br#"{"method":1,"params":[]}"#,
            br#"{"method":"x","params":{}}"#,
            br#"{"result":1,"error":null}"#,
            b"{nope}",
        ] {
            assert!(
                Message::decode(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let back = Message::decode(&m.encode()).unwrap();
        assert_eq!(back, m);
    }
}
