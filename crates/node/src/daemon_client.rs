//! A client of the daemon API (`chainmail serve`'s JSON-RPC 2.0 socket,
//! documented in `crates/cli/schema/api.openrpc.json`) for Rust programs:
//! connect to the socket, call methods, subscribe and read notifications.
//! Results and notification params are `serde_json::Value`s shaped as the
//! CLI's `--json` output; an error response is [`DaemonError::Rpc`] with the
//! CLI's error kind. Lines longer than [`MAX_LINE`] are refused, so a daemon
//! (or whatever answers on the socket) cannot make the client allocate
//! without bound.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// The longest line read (an `inbox` page of 500 bodies of 32,000 bytes,
/// each escaped, fits).
pub const MAX_LINE: u64 = 128 << 20;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DaemonError {
    /// No daemon answers on the socket.
    #[error("cannot connect to the daemon at {path}: {source}")]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or writing the socket failed.
    #[error("daemon connection: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon closed the connection.
    #[error("the daemon closed the connection")]
    Closed,
    /// The daemon answered something that is not the API.
    #[error("the daemon's answer is not the API: {0}")]
    Protocol(&'static str),
    /// The daemon answered with an error.
    #[error("{message}")]
    Rpc {
        /// The JSON-RPC code (-32700 … -32000).
        code: i64,
        /// One line for a human (it ends in what to do).
        message: String,
        /// The CLI's error kind (`UnknownContact`, `CursorExpired`…).
        kind: String,
        /// The CLI's exit code for it, when the daemon says.
        exit: Option<u8>,
    },
}

/// A notification: `method` is the event's name (`message.received`…).
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The event's name.
    pub method: String,
    /// Its params (the CLI's object for the message, with `cursor`).
    pub params: Value,
}

/// One connection to the daemon.
#[derive(Debug)]
pub struct DaemonClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    /// Notifications read while waiting for a response.
    pending: VecDeque<Notification>,
    line: Vec<u8>,
}

impl DaemonClient {
    /// Connects to the socket at `path`.
    pub async fn connect(path: &Path) -> Result<Self, DaemonError> {
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| DaemonError::Connect {
                path: path.to_owned(),
                source,
            })?;
        let (r, writer) = stream.into_split();
        Ok(DaemonClient {
            reader: BufReader::new(r),
            writer,
            next_id: 1,
            pending: VecDeque::new(),
            line: Vec::new(),
        })
    }

    /// Calls `method` with `params` (an object) and returns its result.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, DaemonError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut req =
            json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }).to_string();
        req.push('\n');
        self.writer.write_all(req.as_bytes()).await?;
        loop {
            let mut v = self.read().await?;
            if v.get("id").is_none() {
                self.pending.push_back(notification(v)?);
                continue;
            }
            // An error with a null id answers a line the daemon could not
            // read as a request, or refuses the connection (TooManyClients).
            if let Some(e) = v
                .get("error")
                .filter(|_| v["id"] == id || v["id"].is_null())
            {
                return Err(rpc_error(e));
            }
            if v["id"] != id {
                return Err(DaemonError::Protocol("a response to another request"));
            }
            return v
                .get_mut("result")
                .map(Value::take)
                .ok_or(DaemonError::Protocol(
                    "a response with neither result nor error",
                ));
        }
    }

    /// Subscribes to events after `cursor` (None: from now); the cursor
    /// the stream starts after.
    pub async fn subscribe(&mut self, cursor: Option<i64>) -> Result<i64, DaemonError> {
        let params = match cursor {
            Some(c) => json!({ "cursor": c }),
            None => json!({}),
        };
        self.call("subscribe", params).await?["cursor"]
            .as_i64()
            .ok_or(DaemonError::Protocol("subscribe's result has no cursor"))
    }

    /// The next notification (after [`DaemonClient::subscribe`]).
    pub async fn next_notification(&mut self) -> Result<Notification, DaemonError> {
        if let Some(n) = self.pending.pop_front() {
            return Ok(n);
        }
        let v = self.read().await?;
        if v.get("id").is_some() {
            return Err(DaemonError::Protocol("a response nobody asked for"));
        }
        notification(v)
    }

    async fn read(&mut self) -> Result<Value, DaemonError> {
        self.line.clear();
        let n = (&mut self.reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut self.line)
            .await?;
        if n == 0 {
            return Err(DaemonError::Closed);
        }
        if self.line.last() != Some(&b'\n') {
            return Err(if n as u64 == MAX_LINE {
                DaemonError::Protocol("a line longer than the client reads")
            } else {
                DaemonError::Closed
            });
        }
        let v: Value =
            serde_json::from_slice(&self.line).map_err(|_| DaemonError::Protocol("not JSON"))?;
        if v.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
            return Err(DaemonError::Protocol("not JSON-RPC 2.0"));
        }
        Ok(v)
    }
}

fn notification(mut v: Value) -> Result<Notification, DaemonError> {
    let method = v["method"]
        .as_str()
        .ok_or(DaemonError::Protocol("a notification without a method"))?
        .to_owned();
    Ok(Notification {
        method,
        params: v.get_mut("params").map(Value::take).unwrap_or(Value::Null),
    })
}

fn rpc_error(e: &Value) -> DaemonError {
    DaemonError::Rpc {
        code: e["code"].as_i64().unwrap_or(0),
        message: e["message"]
            .as_str()
            .unwrap_or("an error without a message")
            .to_owned(),
        kind: e["data"]["kind"]
            .as_str()
            .unwrap_or("DaemonError")
            .to_owned(),
        exit: e["data"]["exit"]
            .as_u64()
            .and_then(|c| u8::try_from(c).ok()),
    }
}
