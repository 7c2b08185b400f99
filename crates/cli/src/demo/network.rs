//! The demo's network: real TCP on 127.0.0.1. A small relay stands for "the
//! path to Alice's endpoint": it forwards each connection to a target that
//! the demo can switch (to show Mallory taking over Alice's address) and
//! records what the dialer sent (to replay a captured T_B1 later). It is the
//! attacker's tool of the story, not part of chainmail.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Most bytes recorded per connection: the demo replays only the start.
const MAX_RECORD: usize = 64 * 1024;

/// What one relayed connection carried.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    /// Bytes the dialer sent (T_B1, key confirmation, frames), up to MAX_RECORD.
    pub to_server: Vec<u8>,
    /// How many bytes came back (T_A2, frames).
    pub to_client: usize,
}

/// A relay listening on loopback.
pub struct Relay {
    /// Where dialers connect.
    pub addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    recorded: Arc<Mutex<Vec<Arc<Mutex<Recorded>>>>>,
}

impl Relay {
    /// Starts a relay forwarding to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Relay> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let target = Arc::new(Mutex::new(target));
        let recorded: Arc<Mutex<Vec<Arc<Mutex<Recorded>>>>> = Arc::default();
        let (t, r) = (target.clone(), recorded.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let to = *t.lock().unwrap_or_else(|p| p.into_inner());
                let record = Arc::new(Mutex::new(Recorded::default()));
                r.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(record.clone());
                tokio::spawn(relay(client, to, record));
            }
        });
        Ok(Relay {
            addr,
            target,
            recorded,
        })
    }

    /// Sends later connections to `target`.
    pub fn redirect(&self, target: SocketAddr) {
        *self.target.lock().unwrap_or_else(|p| p.into_inner()) = target;
    }

    /// What connection number `i` (0-based) carried so far.
    pub fn recorded(&self, i: usize) -> Option<Recorded> {
        let all = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        all.get(i)
            .map(|r| r.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

async fn relay(client: TcpStream, to: SocketAddr, record: Arc<Mutex<Recorded>>) {
    let Ok(server) = TcpStream::connect(to).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let rec = record.clone();
    let upstream = async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = cr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            {
                let mut r = rec.lock().unwrap_or_else(|p| p.into_inner());
                let room = MAX_RECORD.saturating_sub(r.to_server.len());
                r.to_server.extend_from_slice(&buf[..n.min(room)]);
            }
            if sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = sw.shutdown().await;
    };
    let downstream = async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = sr.read(&mut buf).await {
            if n == 0 {
                break;
            }
            record.lock().unwrap_or_else(|p| p.into_inner()).to_client += n;
            if cw.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = cw.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}
