//! What a secure stream runs over: any ordered byte stream ([`Link`]) — a
//! TCP connection in production, an in-memory pipe in tests — and how the
//! node reaches an endpoint ([`Dialer`]) and takes connections in
//! ([`Accept`]).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

/// An ordered, reliable byte stream.
pub trait Link: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Link for T {}

/// A connection of any kind.
pub type BoxLink = Box<dyn Link>;

/// What a dial returns.
pub type DialFuture = Pin<Box<dyn Future<Output = io::Result<BoxLink>> + Send>>;

/// How the node reaches an endpoint (`HOST:PORT` from the registry). Cheap
/// to clone.
#[derive(Clone)]
pub struct Dialer {
    dial: Arc<dyn Fn(String) -> DialFuture + Send + Sync>,
    name: &'static str,
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Dialer({})", self.name)
    }
}

impl Default for Dialer {
    fn default() -> Self {
        Self::tcp()
    }
}

impl Dialer {
    /// TCP (with Nagle off: records are small and latency matters).
    pub fn tcp() -> Self {
        Self::from_fn("tcp", |endpoint| {
            Box::pin(async move {
                let stream = TcpStream::connect(endpoint.as_str()).await?;
                let _ = stream.set_nodelay(true);
                Ok(Box::new(stream) as BoxLink)
            })
        })
    }

    /// A dialer calling `dial` with the endpoint.
    pub fn from_fn(
        name: &'static str,
        dial: impl Fn(String) -> DialFuture + Send + Sync + 'static,
    ) -> Self {
        Self {
            dial: Arc::new(dial),
            name,
        }
    }

    /// Opens a connection to `endpoint`.
    pub async fn dial(&self, endpoint: &str) -> io::Result<BoxLink> {
        (self.dial)(endpoint.to_owned()).await
    }
}

/// A source of incoming connections, each with the address it came from
/// (the rate limit is per source IP).
pub trait Accept: Send {
    /// The next connection.
    fn accept(&mut self) -> impl Future<Output = io::Result<(BoxLink, SocketAddr)>> + Send;

    /// The address listened on, for the log.
    fn local_addr(&self) -> Option<String>;
}

impl Accept for TcpListener {
    async fn accept(&mut self) -> io::Result<(BoxLink, SocketAddr)> {
        let (stream, peer) = TcpListener::accept(self).await?;
        let _ = stream.set_nodelay(true);
        Ok((Box::new(stream), peer))
    }

    fn local_addr(&self) -> Option<String> {
        TcpListener::local_addr(self).ok().map(|a| a.to_string())
    }
}
