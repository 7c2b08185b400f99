//! The messaging commands over the node crate: `serve` (the node: accept
//! sessions, deliver the outbox), `send` (outbox first, then deliver and wait
//! for the ack), `inbox` (the verified messages this node stored) and
//! `outbox` (what it sent, and where each message stands).

use std::time::Duration;

use crate::peer::Peer;
use chainmail_node::store::{InboxEntry, OutboxEntry, OutboxState, ReceivedProof, Store};
use chainmail_node::{SendOutcome, SendStatus};

use serde_json::json;

use crate::context::Context;
use crate::daemon;
use crate::error::{Failure, exit};
use crate::output::{
    self, InboxReport, MessageReport, OutboxMessageReport, OutboxReport, SendReport, ServeReport,
};
use crate::progress::Spinner;

/// Where `serve` listens when neither `--listen` nor config.toml says.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7400";

/// `send ID TEXT [--timeout DUR]`: exit 0 delivered, 75 queued, 69 rejected.
pub fn send(ctx: &Context, to: &Peer, text: &str, timeout: Duration) -> Result<u8, Failure> {
    if let Some(mut daemon) = daemon::connect(ctx) {
        let report: SendReport = {
            let _spin = Spinner::start(format!("delivering to {}", output::printable(&to.text())));
            daemon.call(
                "send",
                json!({
                    "to": to.text(),
                    "body": text,
                    // The daemon's bound; a longer wait is no use to a command.
                    "timeout": timeout.as_secs_f64().min(3600.0),
                }),
            )?
        };
        let code = send_exit(&report.status);
        output::print(&report, ctx.json());
        return Ok(code);
    }
    ctx.block_on(async {
        // `send` answers no handshakes: verify_on_chain would do nothing.
        let node = ctx.node(false, false).await?;
        let to = to.resolve(node.store())?;
        let outcome = {
            let _spin = Spinner::start(format!("delivering to {to}"));
            chainmail_node::send(&node, to, text, timeout).await?
        };
        // This process ends here: part with the recipient cleanly.
        chainmail_node::close_idle_sessions(&node, Duration::ZERO).await;
        let report = send_report(outcome);
        let code = send_exit(&report.status);
        output::print(&report, ctx.json());
        Ok(code)
    })
}

/// `send`'s exit code for a status: 0 delivered, 75 queued, 69 rejected.
fn send_exit(status: &str) -> u8 {
    if status == SendStatus::Delivered.as_str() {
        exit::OK
    } else if status == SendStatus::Rejected.as_str() {
        exit::REJECTED
    } else {
        exit::QUEUED
    }
}

/// A send's outcome as `send` prints it.
pub fn send_report(outcome: SendOutcome) -> SendReport {
    SendReport {
        message_id: format!("0x{}", hex::encode(outcome.message_id)),
        to: outcome.to.to_string(),
        status: outcome.status.as_str().to_owned(),
        reason: outcome.reason,
    }
}

/// `serve [--listen HOST:PORT] [--contacts-only] [--verify-on-chain]
/// [--no-api]`: the listener, the outbox worker and the daemon API until
/// Ctrl-C or SIGTERM.
pub fn serve(
    ctx: &Context,
    listen: Option<&str>,
    contacts_only: bool,
    verify_on_chain: bool,
    api: bool,
) -> Result<u8, Failure> {
    let listen = listen
        .map(str::to_owned)
        .or_else(|| ctx.settings().config.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
    // One daemon per home: taken before anything is unlocked or bound.
    let _lock = crate::api::socket::lock(&ctx.settings().home)?;
    // A bad chain spec is a usage error before anything is unlocked.
    ctx.chain_spec()?;
    ctx.block_on(async {
        let node = ctx.node(contacts_only, verify_on_chain).await?;
        let api_socket = if api {
            let path = crate::api::socket::path(&ctx.settings().home)?;
            Some((crate::api::socket::bind(&path)?, path))
        } else {
            None
        };
        let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| {
            Failure::new(
                "CannotListen",
                format!("cannot listen on {listen}: {e}"),
                "pick another --listen HOST:PORT (or stop what uses it)",
            )
        })?;
        let bound = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_else(|_| listen.clone());
        match node.registry().endpoint(node.address()).await {
            Ok(Some(e)) if e.endpoint == bound => {}
            Ok(Some(e)) => tracing::warn!(
                published = %e.endpoint, %bound,
                "the chain sends peers to another endpoint; run `chainmail endpoint HOST:PORT` if this one is right"
            ),
            Ok(None) => tracing::warn!("no endpoint published: peers cannot reach you; run `chainmail endpoint HOST:PORT`"),
            Err(e) => tracing::warn!(error = %e, "could not read the published endpoint"),
        }
        output::print(
            &ServeReport {
                id: node.address().to_string(),
                listen: bound.clone(),
                api: api_socket.as_ref().map(|(_, p)| p.display().to_string()),
            },
            ctx.json(),
        );
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let api_task = api_socket.map(|(listener, path)| {
            let api = crate::api::Api::new(node.clone(), bound, ctx.settings().chain().to_owned(), path);
            tokio::spawn(api.serve(listener, until_stopped(stopped.clone())))
        });
        let served = chainmail_node::serve(listener, node, until_stopped(stopped)).await;
        if let Some(task) = api_task {
            // Stopped by the same signal; it removes its socket.
            let _ = task.await;
        }
        served?;
        Ok(exit::OK)
    })
}

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// How many inbox rows are read per query (bounded memory for big inboxes).
pub const INBOX_PAGE: u32 = 500;
/// How often `inbox --follow` looks for new rows. Polling a local SQLite
/// file is cheap, and it sees messages stored by any process (`serve` or a
/// `send` of the same home).
const FOLLOW_POLL: Duration = Duration::from_millis(300);

/// Which senders `inbox` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboxFilter {
    /// Everyone.
    All,
    /// Only IDs that are not named contacts (first contact: requests).
    Requests,
    /// Only named contacts.
    Contacts,
}

/// `inbox [--follow] [--requests|--contacts]`.
pub fn inbox(ctx: &Context, follow: bool, filter: InboxFilter) -> Result<u8, Failure> {
    if let Some(daemon) = daemon::connect(ctx) {
        return inbox_through(ctx, daemon, follow, filter);
    }
    let store = ctx.store()?;
    let names = Names::new(store);
    let keep = |m: &MessageReport| match filter {
        InboxFilter::All => true,
        InboxFilter::Requests => m.contact.is_none(),
        InboxFilter::Contacts => m.contact.is_some(),
    };
    let mut after = 0i64;
    if !follow {
        let mut messages = Vec::new();
        loop {
            let page = store.inbox_after(after, INBOX_PAGE)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            messages.extend(page.iter().map(|e| names.report(e)).filter(|m| keep(m)));
        }
        output::print(&InboxReport { messages }, ctx.json());
        return Ok(exit::OK);
    }
    loop {
        let page = store.inbox_after(after, INBOX_PAGE)?;
        for entry in &page {
            // One bare message object per line (issue 6), flushed at once
            // so a reader of the pipe sees each message as it arrives.
            let m = names.report(entry);
            if keep(&m) {
                output::print(&m, ctx.json());
            }
            after = entry.seq;
        }
        if page.is_empty() {
            std::thread::sleep(FOLLOW_POLL);
        }
    }
}

/// One page of the API's `inbox`.
#[derive(serde::Deserialize)]
struct InboxPage {
    messages: Vec<MessageReport>,
    next_after: i64,
}

/// `inbox` through the daemon: its pages, then (`--follow`) the
/// `message.received` events after the last row paged.
fn inbox_through(
    ctx: &Context,
    mut daemon: daemon::Daemon<'_>,
    follow: bool,
    filter: InboxFilter,
) -> Result<u8, Failure> {
    let name = match filter {
        InboxFilter::All => "all",
        InboxFilter::Requests => "requests",
        InboxFilter::Contacts => "contacts",
    };
    // Subscribed before paging: a message stored meanwhile is in a page or
    // in the stream (or both: its seq tells).
    if follow {
        daemon.subscribe()?;
    }
    let mut after = 0i64;
    let mut messages = Vec::new();
    loop {
        let page: InboxPage = daemon.call(
            "inbox",
            json!({ "after": after, "limit": INBOX_PAGE, "filter": name }),
        )?;
        if follow {
            for m in &page.messages {
                output::print(m, ctx.json());
            }
        } else {
            messages.extend(page.messages);
        }
        if page.next_after == after {
            break;
        }
        after = page.next_after;
    }
    if !follow {
        output::print(&InboxReport { messages }, ctx.json());
        return Ok(exit::OK);
    }
    loop {
        let n = daemon.next_notification()?;
        match n.method.as_str() {
            "message.received" if n.params["seq"].as_i64().is_some_and(|s| s > after) => {
                let m: MessageReport = serde_json::from_value(n.params).map_err(|e| {
                    Failure::new(
                        "DaemonError",
                        format!("the daemon's event is not what this chainmail expects: {e}"),
                        "run the same version of chainmail for `serve` and the command",
                    )
                })?;
                let keep = match filter {
                    InboxFilter::All => true,
                    InboxFilter::Requests => m.contact.is_none(),
                    InboxFilter::Contacts => m.contact.is_some(),
                };
                if keep {
                    output::print(&m, ctx.json());
                }
            }
            "subscription.dropped" => {
                return Err(Failure::new(
                    "DaemonDropped",
                    "the daemon ended this subscription",
                    "run `inbox --follow` again",
                ));
            }
            _ => {}
        }
    }
}

/// Contact names of senders, read from the store as messages are listed
/// (so `inbox --follow` sees a contact added meanwhile).
pub struct Names<'a> {
    store: &'a Store,
}

impl<'a> Names<'a> {
    /// Names from `store`'s contacts.
    pub fn new(store: &'a Store) -> Self {
        Names { store }
    }

    /// The row as `inbox` prints it, with its sender's contact name.
    pub fn report(&self, entry: &InboxEntry) -> MessageReport {
        let mut m = message_report(entry);
        // A sender whose record cannot be read shows as a stranger.
        m.contact = self
            .store
            .contact(&entry.message.from)
            .ok()
            .flatten()
            .and_then(|c| c.name);
        m
    }
}

/// An inbox row as `inbox` prints it.
pub fn message_report(entry: &InboxEntry) -> MessageReport {
    let m = &entry.message;
    let hex32 = |h: &[u8; 32]| format!("0x{}", hex::encode(h));
    let (batch_root, batch_path, place) = match &m.proof {
        ReceivedProof::Single { .. } => (None, None, None),
        ReceivedProof::Batch {
            root, path, place, ..
        } => (
            Some(hex32(root)),
            Some(path.iter().map(hex32).collect()),
            *place,
        ),
    };
    MessageReport {
        message_id: format!("0x{}", hex::encode(m.message_id)),
        from: m.from.to_string(),
        to: m.to.to_string(),
        sent_at: m.sent_at,
        received_at: entry.received_at,
        body: m.body.clone(),
        signature: format!("0x{}", hex::encode(m.proof.signature().to_bytes())),
        batch_root,
        batch_path,
        batch_index: place.map(|p| p.0),
        batch_count: place.map(|p| p.1),
        contact: None,
    }
}

/// An outbox row as `outbox` prints it.
pub fn outbox_report(e: OutboxEntry) -> OutboxMessageReport {
    let queued = e.state == OutboxState::Queued;
    OutboxMessageReport {
        message_id: format!("0x{}", hex::encode(e.message.message_id)),
        to: e.message.to.to_string(),
        status: e.state.as_str().to_owned(),
        reason: if e.state == OutboxState::Delivered {
            None
        } else {
            e.last_error
        },
        attempts: e.attempts,
        created_at: e.created_at,
        next_attempt_at: queued.then_some(e.next_attempt_at),
        finished_at: e.finished_at,
        body: e.message.body,
    }
}

/// How many outbox rows `outbox` shows at most (the newest): bodies are up
/// to 32,000 bytes, so this bounds the memory a big outbox can take (≤ 32 MB).
pub const OUTBOX_LIMIT: u32 = 1000;

/// `outbox`: what this identity sent and where each message stands.
pub fn outbox(ctx: &Context) -> Result<u8, Failure> {
    if let Some(mut daemon) = daemon::connect(ctx) {
        let report: OutboxReport = daemon.call("outbox", json!({}))?;
        output::print(&report, ctx.json());
        return Ok(exit::OK);
    }
    let store = ctx.store()?;
    let rows = store.outbox(OUTBOX_LIMIT)?;
    let messages = rows.into_iter().map(outbox_report).collect();
    output::print(&OutboxReport { messages }, ctx.json());
    Ok(exit::OK)
}
