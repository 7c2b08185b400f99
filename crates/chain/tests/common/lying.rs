//! A lying Ethereum RPC provider for tests: a real HTTP/1.1 JSON-RPC proxy on
//! a loopback port in front of a real anvil, which passes every request on
//! and lets the test rewrite the answers of chosen methods (a forged storage
//! value, a header whose state root was swapped, other code) — what a
//! malicious or compromised provider can do. It also records every answer it
//! passed on, so a test can replay an old, honest answer later.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Rewrites the `result` of a call to `method` with `params`.
pub type Tamper = Box<dyn Fn(&str, &Value, &mut Value) + Send + Sync>;

/// Largest request or response the proxy accepts (it is a test tool; the
/// bound keeps a broken client from making it allocate without limit).
const MAX_BODY: usize = 16 << 20;

/// The proxy: stopped when dropped.
pub struct LyingRpc {
    /// Its URL, to give chainmail as the RPC provider.
    pub url: String,
    tamper: Arc<Mutex<Option<Tamper>>>,
    seen: Arc<Mutex<Vec<(String, Value, Value)>>>,
    task: JoinHandle<()>,
}

impl Drop for LyingRpc {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LyingRpc {
    /// Starts a proxy in front of `upstream` (an `http://host:port` URL),
    /// passing everything through unchanged until [`LyingRpc::lie`].
    pub async fn start(upstream: &str) -> LyingRpc {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("http upstream")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tamper: Arc<Mutex<Option<Tamper>>> = Arc::new(Mutex::new(None));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (t, s) = (tamper.clone(), seen.clone());
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let (t, s, up) = (t.clone(), s.clone(), upstream.clone());
                tokio::spawn(async move {
                    let _ = serve(conn, &up, &t, &s).await;
                });
            }
        });
        LyingRpc {
            url,
            tamper,
            seen,
            task,
        }
    }

    /// From now on, rewrites answers with `tamper`.
    pub fn lie(&self, tamper: impl Fn(&str, &Value, &mut Value) + Send + Sync + 'static) {
        *self.tamper.lock().unwrap() = Some(Box::new(tamper));
    }

    /// Back to passing answers through.
    pub fn honest(&self) {
        *self.tamper.lock().unwrap() = None;
    }

    /// The (method, params, result) of every answer passed on so far.
    pub fn seen(&self) -> Vec<(String, Value, Value)> {
        self.seen.lock().unwrap().clone()
    }
}

/// One client connection: requests in, each forwarded on a fresh upstream
/// connection, the answer (tampered with) back, keep-alive.
async fn serve(
    conn: TcpStream,
    upstream: &str,
    tamper: &Mutex<Option<Tamper>>,
    seen: &Mutex<Vec<(String, Value, Value)>>,
) -> std::io::Result<()> {
    let mut conn = BufReader::new(conn);
    loop {
        let Some(body) = read_message(&mut conn).await? else {
            return Ok(());
        };
        let request: Value = serde_json::from_slice(&body).map_err(std::io::Error::other)?;
        let mut answer = forward(upstream, &body).await?;
        // A single call or a batch: rewrite each answer by its request.
        let pairs: Vec<(&Value, &mut Value)> = match (&request, &mut answer) {
            (Value::Array(reqs), Value::Array(answers)) => reqs.iter().zip(answers).collect(),
            (req, ans) => vec![(req, ans)],
        };
        for (req, ans) in pairs {
            let method = req["method"].as_str().unwrap_or_default().to_string();
            let params = req["params"].clone();
            if let Some(result) = ans.get_mut("result") {
                if let Some(t) = tamper.lock().unwrap().as_ref() {
                    t(&method, &params, result);
                }
                seen.lock().unwrap().push((method, params, result.clone()));
            }
        }
        let out = serde_json::to_vec(&answer).map_err(std::io::Error::other)?;
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            out.len()
        );
        let w = conn.get_mut();
        w.write_all(head.as_bytes()).await?;
        w.write_all(&out).await?;
        w.flush().await?;
    }
}

/// Sends `body` upstream and returns the JSON answer.
async fn forward(upstream: &str, body: &[u8]) -> std::io::Result<Value> {
    let mut up = BufReader::new(TcpStream::connect(upstream).await?);
    let head = format!(
        "POST / HTTP/1.1\r\nhost: {upstream}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    up.get_mut().write_all(head.as_bytes()).await?;
    up.get_mut().write_all(body).await?;
    let answer = read_message(&mut up)
        .await?
        .ok_or_else(|| std::io::Error::other("upstream closed without answering"))?;
    serde_json::from_slice(&answer).map_err(std::io::Error::other)
}

/// Reads one HTTP/1.1 message (request or response) with a
/// `content-length` body; `None` at a clean end of stream.
async fn read_message(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Vec<u8>>> {
    let mut len = None;
    let mut first = true;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return if first {
                Ok(None)
            } else {
                Err(std::io::Error::other("truncated HTTP headers"))
            };
        }
        first = false;
        if line.len() > 8192 {
            return Err(std::io::Error::other("HTTP header line too long"));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            len = Some(
                value
                    .trim()
                    .parse::<usize>()
                    .map_err(std::io::Error::other)?,
            );
        }
    }
    let len = len.ok_or_else(|| std::io::Error::other("no content-length"))?;
    if len > MAX_BODY {
        return Err(std::io::Error::other("HTTP body too large"));
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await?;
    Ok(Some(body))
}
