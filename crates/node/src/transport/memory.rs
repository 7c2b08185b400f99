//! An in-memory network: listeners named by endpoint strings, connections
//! that are `tokio::io::duplex` pipes. With it (and a virtual
//! [`Clock`](crate::Clock)) nodes talk to each other under tokio's paused
//! time, so timeouts, backoff and expiry are tested in milliseconds of real
//! time: no socket ever makes the runtime wait for the outside world.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::DuplexStream;
use tokio::sync::mpsc;

use super::link::{Accept, BoxLink, Dialer};

/// Bytes each direction of a pipe buffers before a writer waits.
const PIPE_BUFFER: usize = 256 * 1024;
/// Connections a listener queues before dialers are refused.
const BACKLOG: usize = 1024;

type Incoming = (DuplexStream, SocketAddr);

/// Listeners by endpoint. Cheap to clone (shared).
#[derive(Clone, Default)]
pub struct MemoryNetwork {
    listeners: Arc<Mutex<HashMap<String, mpsc::Sender<Incoming>>>>,
    next_port: Arc<AtomicU16>,
}

impl std::fmt::Debug for MemoryNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryNetwork").finish_non_exhaustive()
    }
}

/// The listening end of an endpoint; dropping it makes dials to it fail.
#[derive(Debug)]
pub struct MemoryListener {
    endpoint: String,
    incoming: mpsc::Receiver<Incoming>,
}

impl MemoryNetwork {
    /// An empty network.
    pub fn new() -> Self {
        Self::default()
    }

    /// Listens on `endpoint` (replacing whoever listened there).
    pub fn listen(&self, endpoint: &str) -> MemoryListener {
        let (tx, rx) = mpsc::channel(BACKLOG);
        self.lock().insert(endpoint.to_owned(), tx);
        MemoryListener {
            endpoint: endpoint.to_owned(),
            incoming: rx,
        }
    }

    /// A raw connection to `endpoint` from `from` (tests write hostile bytes
    /// into it). Refused when nobody listens there.
    pub fn connect(&self, endpoint: &str, from: IpAddr) -> io::Result<DuplexStream> {
        let tx = self.lock().get(endpoint).cloned().ok_or_else(|| {
            io::Error::new(io::ErrorKind::ConnectionRefused, "nobody listens there")
        })?;
        let port = self
            .next_port
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        let (ours, theirs) = tokio::io::duplex(PIPE_BUFFER);
        tx.try_send((theirs, SocketAddr::new(from, port)))
            .map_err(|_| io::Error::new(io::ErrorKind::ConnectionRefused, "listener gone"))?;
        Ok(ours)
    }

    /// A dialer whose connections come from `from`.
    pub fn dialer(&self, from: IpAddr) -> Dialer {
        let net = self.clone();
        Dialer::from_fn("memory", move |endpoint| {
            let r = net.connect(&endpoint, from).map(|s| Box::new(s) as BoxLink);
            Box::pin(async move { r })
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::Sender<Incoming>>> {
        self.listeners.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Accept for MemoryListener {
    async fn accept(&mut self) -> io::Result<(BoxLink, SocketAddr)> {
        match self.incoming.recv().await {
            Some((stream, peer)) => Ok((Box::new(stream), peer)),
            // Unreachable while we hold the receiver and the network holds a
            // sender; if the network replaced us, wait forever like an idle
            // socket (shutdown still stops the loop).
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> Option<String> {
        Some(self.endpoint.clone())
    }
}
