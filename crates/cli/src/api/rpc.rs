//! JSON-RPC 2.0 framing of the daemon API: one JSON object per line (`\n`),
//! read with a hard bound on the line's length; requests parsed strictly
//! (no batches); errors with the standard codes and, for application
//! errors, the CLI's `kind` and hint in `data`.

use serde::Serialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

use crate::error::Failure;

/// Invalid JSON.
pub const PARSE_ERROR: i64 = -32700;
/// Not a JSON-RPC 2.0 request object (or a batch, which is not served).
pub const INVALID_REQUEST: i64 = -32600;
/// No such method.
pub const METHOD_NOT_FOUND: i64 = -32601;
/// The method's parameters are wrong.
pub const INVALID_PARAMS: i64 = -32602;
/// The method ran and failed: `data.kind` is the CLI's error kind.
pub const APPLICATION_ERROR: i64 = -32000;

/// A JSON-RPC error object.
#[derive(Debug, Clone, Serialize)]
pub struct RpcError {
    /// One of the codes above.
    pub code: i64,
    /// One line for a human.
    pub message: String,
    /// `{"kind": …, "hint": …}`, and for a method's failure the CLI's
    /// `exit` code for it.
    pub data: Value,
}

impl RpcError {
    fn new(code: i64, kind: &str, message: impl Into<String>, hint: &str) -> Self {
        RpcError {
            code,
            message: message.into(),
            data: json!({ "kind": kind, "hint": hint }),
        }
    }

    /// -32700.
    pub fn parse(detail: impl std::fmt::Display) -> Self {
        Self::new(
            PARSE_ERROR,
            "ParseError",
            format!("not JSON: {detail}"),
            "send one JSON-RPC 2.0 object per line",
        )
    }

    /// -32600.
    pub fn invalid_request(why: impl Into<String>) -> Self {
        Self::new(
            INVALID_REQUEST,
            "InvalidRequest",
            why,
            "send {\"jsonrpc\":\"2.0\",\"id\":…,\"method\":…,\"params\":{…}}, one per line",
        )
    }

    /// -32601.
    pub fn method_not_found(method: &str) -> Self {
        Self::new(
            METHOD_NOT_FOUND,
            "MethodNotFound",
            format!("no method `{}`", bounded(&crate::output::printable(method))),
            "see crates/cli/schema/api.openrpc.json for the methods",
        )
    }

    /// -32602.
    pub fn invalid_params(why: impl std::fmt::Display) -> Self {
        Self::new(
            INVALID_PARAMS,
            "InvalidParams",
            format!(
                "bad params: {}",
                bounded(&crate::error::one_line(&why.to_string()))
            ),
            "see the method's params in crates/cli/schema/api.openrpc.json",
        )
    }
}

/// How much of a client's own text an error quotes back.
const QUOTE_MAX: usize = 200;

/// `text`, cut to [`QUOTE_MAX`] characters (a request of 1 MiB must not
/// come back as a 1 MiB error).
fn bounded(text: &str) -> String {
    match text.char_indices().nth(QUOTE_MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

impl From<Failure> for RpcError {
    fn from(f: Failure) -> Self {
        RpcError {
            code: APPLICATION_ERROR,
            message: f.line(),
            data: json!({
                "kind": f.kind,
                "hint": crate::error::one_line(&f.hint),
                "exit": f.code,
            }),
        }
    }
}

/// A parsed request. `id` is `None` for a notification (no response).
#[derive(Debug)]
pub struct Request {
    /// The request id (a number or a string), echoed in the response.
    pub id: Option<Value>,
    /// The method name.
    pub method: String,
    /// The params: an object (a missing `params` is `{}`).
    pub params: Value,
}

/// Parses one line into a request, or the error to answer it with (and the
/// id to answer it under, `null` when the id could not be read).
pub fn parse_request(line: &[u8]) -> Result<Request, (Value, RpcError)> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| (Value::Null, RpcError::parse(e)))?;
    let Value::Object(mut obj) = value else {
        let why = if value.is_array() {
            "batches are not served: send one request per line"
        } else {
            "a request is a JSON object"
        };
        return Err((Value::Null, RpcError::invalid_request(why)));
    };
    let id = match obj.remove("id") {
        None => None,
        Some(id @ (Value::Number(_) | Value::String(_) | Value::Null)) => Some(id),
        Some(_) => {
            return Err((
                Value::Null,
                RpcError::invalid_request("`id` must be a number, a string or null"),
            ));
        }
    };
    let answer_to = id.clone().unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err((
            answer_to,
            RpcError::invalid_request("`jsonrpc` must be \"2.0\""),
        ));
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        _ => {
            return Err((
                answer_to,
                RpcError::invalid_request("`method` must be a string"),
            ));
        }
    };
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(p @ Value::Object(_)) => p,
        Some(_) => {
            return Err((
                answer_to,
                RpcError::invalid_params("params are by name: an object"),
            ));
        }
    };
    Ok(Request { id, method, params })
}

/// A response line (with its `\n`).
pub fn response(id: Value, result: Result<Value, RpcError>) -> String {
    let v = match result {
        Ok(result) => json!({ "jsonrpc": "2.0", "id": id, "result": result }),
        Err(error) => json!({ "jsonrpc": "2.0", "id": id, "error": error }),
    };
    line(&v)
}

/// A notification line (with its `\n`).
pub fn notification(method: &str, params: Value) -> String {
    line(&json!({ "jsonrpc": "2.0", "method": method, "params": params }))
}

fn line(v: &Value) -> String {
    let mut s = v.to_string();
    s.push('\n');
    s
}

/// What [`read_line`] read.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A complete line (without its `\n`).
    Complete,
    /// The line exceeded the limit; its bytes up to the next `\n` (or the
    /// end) were discarded without being stored.
    TooLong,
    /// The peer closed the connection (a partial last line is dropped).
    Eof,
}

/// Reads one `\n`-terminated line into `buf` (cleared first), never holding
/// more than `max` bytes: a longer line is skipped to its end and reported
/// as [`Line::TooLong`], so a 100 MB line costs no memory.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    buf.clear();
    let mut too_long = false;
    loop {
        let chunk = reader.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(Line::Eof);
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > max {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        reader.consume(take + usize::from(done));
        if done {
            return Ok(if too_long {
                Line::TooLong
            } else {
                Line::Complete
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked() {
        let ok = parse_request(br#"{"jsonrpc":"2.0","id":7,"method":"status"}"#).unwrap();
        assert_eq!((ok.id, ok.method.as_str()), (Some(json!(7)), "status"));
        assert!(ok.params.is_object());
        let code = |l: &[u8]| parse_request(l).unwrap_err().1.code;
        assert_eq!(code(b"{not json"), PARSE_ERROR);
        assert_eq!(code(b"[]"), INVALID_REQUEST);
        assert_eq!(code(br#"{"id":1,"method":"status"}"#), INVALID_REQUEST);
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":{},"method":"x"}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":5}"#),
            INVALID_REQUEST
        );
        assert_eq!(
            code(br#"{"jsonrpc":"2.0","id":1,"method":"x","params":[1]}"#),
            INVALID_PARAMS
        );
        // A client's text is quoted back bounded.
        let long = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"{}"}}"#,
            "m".repeat(100_000)
        );
        let e = parse_request(long.as_bytes())
            .map(|r| RpcError::method_not_found(&r.method))
            .unwrap();
        assert!(e.message.len() < 300, "{}", e.message.len());
        // The id survives an error after it was read.
        let (id, _) = parse_request(br#"{"jsonrpc":"1.0","id":"a","method":"x"}"#).unwrap_err();
        assert_eq!(id, json!("a"));
    }

    #[tokio::test]
    async fn long_lines_cost_no_memory() {
        let mut data = vec![b'x'; 10_000];
        data.extend_from_slice(b"\nshort\npartial");
        let mut r = tokio::io::BufReader::with_capacity(64, &data[..]);
        let mut buf = Vec::new();
        assert_eq!(
            read_line(&mut r, &mut buf, 100).await.unwrap(),
            Line::TooLong
        );
        assert!(buf.capacity() <= 200, "{}", buf.capacity());
        assert_eq!(
            read_line(&mut r, &mut buf, 100).await.unwrap(),
            Line::Complete
        );
        assert_eq!(buf, b"short");
        assert_eq!(read_line(&mut r, &mut buf, 100).await.unwrap(), Line::Eof);
    }
}
