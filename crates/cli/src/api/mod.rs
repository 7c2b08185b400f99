//! The daemon API (issue 16): JSON-RPC 2.0 over a Unix socket, one object
//! per line, served by `chainmail serve` beside its node. A client gets
//! what the CLI prints (the same field names, the same error kinds) without
//! a password or an unlock per command, and streams durable events (the
//! store's `events` table) from a cursor it keeps.
//!
//! [`socket`] decides where the socket lives and who may open it, [`rpc`]
//! frames lines and errors, [`methods`] answers each method, [`server`]
//! accepts clients, bounds them and fans events out. The methods and their
//! results are documented in `crates/cli/schema/api.openrpc.json`.

pub mod methods;
pub mod rpc;
pub mod server;
pub mod socket;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use chainmail_node::Node;

/// The API's version, in `status` and the OpenRPC document; a change that
/// breaks a client bumps it.
pub const VERSION: &str = "chainmail-api/1";
/// The longest request line read (a 32,000-byte body escaped fits).
pub const MAX_REQUEST_BYTES: usize = 1 << 20;
/// Clients connected at once; one more is refused with `TooManyClients`.
pub const MAX_CLIENTS: usize = 128;
/// Requests of one client answered at once; further lines wait unread.
pub const MAX_IN_FLIGHT: usize = 16;
/// Bytes queued for one client (responses and notifications not yet
/// written). A subscriber that lets this fill is dropped with a notice.
pub const MAX_QUEUED_BYTES: usize = 4 << 20;

/// What the API serves: the running node and what `status` reports.
pub struct Api {
    node: Node,
    /// Clients connected now (for `status`).
    clients: AtomicUsize,
    listen: String,
    chain: String,
    trust: String,
    socket: PathBuf,
}

impl Api {
    /// The API of `node`, listening for peers on `listen`, on `chain` (as
    /// given: `embedded`, `embedded:PATH` or the (first) RPC URL), with its
    /// socket at `socket`. `status`'s `trust` is what the node's registry
    /// says its reads rest on (`embedded`, `single-rpc`, `quorum K/n`).
    pub fn new(node: Node, listen: String, chain_text: String, socket: PathBuf) -> Self {
        let trust = node.registry().trust().to_string();
        Api {
            node,
            clients: AtomicUsize::new(0),
            listen,
            chain: chain_text,
            trust,
            socket,
        }
    }
}

impl Api {
    /// Clients connected now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }
}
