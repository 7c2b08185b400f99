//! `chainmail chat [NAME|ID]`: a terminal chat on the daemon API (issue 17).
//! It holds no key and opens no store: everything goes through the `serve`
//! of this home, over two connections to its socket — one subscribed to
//! events (messages arriving, delivery states, revoked peers), one per
//! request the user makes (a `send` waits for its ack without freezing the
//! screen). [`model`] is the state and the keys, [`view`] the drawing; this
//! file connects them to the daemon and the terminal.
//!
//! The terminal is restored however the chat ends: `q` or Ctrl-C, a lost
//! daemon (a message, exit 1), an error, or a panic (ratatui's hook).

pub mod model;
pub mod view;

use std::io::IsTerminal;
use std::time::Duration;

use chainmail_node::daemon_client::{DaemonClient, DaemonError, Notification};
use ratatui::crossterm::event::{self, Event, KeyEventKind};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use self::model::{Action, Chat};
use crate::context::Context;
use crate::error::{Failure, exit};
use crate::output::{ContactListReport, MessageReport, OutboxReport, SendReport, VerifyReport};
use crate::peer::Peer;

/// How long one `send` waits for the recipient's ack before it is left
/// to the daemon's retries (the state then moves on by events).
const SEND_TIMEOUT_SECS: u64 = 10;
/// Messages loaded at start (the newest), and per page back.
const PAGE: u32 = 500;
/// Outbox messages loaded at start (the newest).
const OUTBOX_PAGE: u32 = 1000;

/// What reaches the loop besides keys.
enum Update {
    /// A daemon event.
    Event(Notification),
    /// The events connection ended.
    Lost(String),
    /// The answer to an action.
    Done(Action, Result<Value, Failure>),
    /// The contact list, read again after a change.
    Contacts(Result<Value, Failure>),
}

/// Runs the chat; the exit code.
pub fn run(ctx: &Context, open: Option<&Peer>) -> Result<u8, Failure> {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Failure::usage(
            "NotATerminal",
            "chat needs a terminal",
            "in scripts use `chainmail inbox --follow` and `chainmail send`, or the daemon API",
        ));
    }
    let settings = ctx.settings();
    let socket = crate::api::socket::path(&settings.home)?;
    let home = settings.home.root().display().to_string();
    let no_daemon = || {
        Failure::new(
            "NoDaemon",
            format!("no daemon runs for the home {home}"),
            format!(
                "start one in another terminal (or as a service): `chainmail --home {home} serve`, then run `chainmail chat` again"
            ),
        )
    };
    if !crate::api::socket::ours(&socket) {
        return Err(no_daemon());
    }
    let chain = settings.chain().to_owned();
    let trust = settings.trust();
    ctx.block_on(async move {
        let mut calls = DaemonClient::connect(&socket)
            .await
            .map_err(|_| no_daemon())?;
        let status = calls.call("status", json!({})).await.map_err(failure)?;
        if status["chain"].as_str() != Some(chain.as_str())
            || status["trust"].as_str() != Some(trust.as_str())
        {
            return Err(Failure::new(
                "DaemonOnAnotherChain",
                format!(
                    "the daemon of this home serves {} ({}), not {chain} ({trust})",
                    crate::output::printable(status["chain"].as_str().unwrap_or("?")),
                    crate::output::printable(status["trust"].as_str().unwrap_or("?")),
                ),
                "pass the daemon's --chain, or restart `serve` on this chain",
            ));
        }
        let me = status["id"].as_str().unwrap_or_default().to_owned();
        // Subscribed before anything is loaded: nothing falls in between
        // (what is both loaded and streamed is kept once).
        let mut events = DaemonClient::connect(&socket).await.map_err(failure)?;
        let cursor = status["cursor"].as_i64();
        events.subscribe(cursor).await.map_err(failure)?;
        let today = crate::output::fmt_time(chainmail_node::clock::unix_now());
        let mut chat = Chat::new(me, chain, today.get(..10).unwrap_or("").to_owned());
        load(&mut calls, &mut chat).await?;
        if let Some(peer) = open {
            let id = match peer {
                Peer::Id(id) => id.to_string(),
                Peer::Name(name) => chat
                    .peers
                    .values()
                    .find(|p| p.name.as_deref() == Some(name))
                    .map(|p| p.id.clone())
                    .ok_or_else(|| {
                        Failure::new(
                            "UnknownContact",
                            format!("no contact named {name}"),
                            "`chainmail contact list` shows them; pass an ID to write to a stranger",
                        )
                    })?,
            };
            if id == chat.me {
                return Err(Failure::usage(
                    "SendToSelf",
                    "that is this identity",
                    "open a conversation with someone else",
                ));
            }
            chat.open_conversation(&id);
        }
        drop(calls);
        ui(chat, events, socket).await
    })
}

/// Loads contacts, the newest outbox and inbox messages.
async fn load(calls: &mut DaemonClient, chat: &mut Chat) -> Result<(), Failure> {
    let contacts: ContactListReport = call(calls, "contacts.list", json!({})).await?;
    chat.on_contacts(contacts.contacts);
    let outbox: OutboxReport = call(calls, "outbox", json!({ "limit": OUTBOX_PAGE })).await?;
    for m in outbox.messages {
        chat.on_outbox(m);
    }
    let page = calls
        .call("inbox", json!({ "before": i64::MAX, "limit": PAGE }))
        .await
        .map_err(failure)?;
    let (messages, next) = inbox_page(page)?;
    chat.on_older(messages, next);
    if let Some(model::Row::Peer(id)) = chat.rows().get(1) {
        chat.selected = Some(id.clone());
    }
    Ok(())
}

/// An `inbox` page's messages and its `next_before`.
fn inbox_page(mut page: Value) -> Result<(Vec<MessageReport>, i64), Failure> {
    let next = page["next_before"]
        .as_i64()
        .ok_or_else(|| unexpected("inbox"))?;
    let messages =
        serde_json::from_value(page["messages"].take()).map_err(|_| unexpected("inbox"))?;
    Ok((messages, next))
}

async fn call<T: DeserializeOwned>(
    client: &mut DaemonClient,
    method: &str,
    params: Value,
) -> Result<T, Failure> {
    let v = client.call(method, params).await.map_err(failure)?;
    serde_json::from_value(v).map_err(|_| unexpected(method))
}

fn unexpected(method: &str) -> Failure {
    Failure::new(
        "DaemonError",
        format!("the daemon's answer to {method} is not what this chainmail expects"),
        "run the same version of chainmail for `serve` and `chat`",
    )
}

fn failure(e: DaemonError) -> Failure {
    crate::daemon::failure(e)
}

/// Restores the terminal when dropped (also on an early return or a
/// panic unwinding through; ratatui's panic hook restores it before the
/// panic message is printed).
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// The screen loop: keys and daemon updates in, frames out.
async fn ui(
    mut chat: Chat,
    mut events: DaemonClient,
    socket: std::path::PathBuf,
) -> Result<u8, Failure> {
    let mut terminal = ratatui::try_init().map_err(|e| {
        Failure::new(
            "Terminal",
            format!("cannot set up the terminal: {e}"),
            "run chat in a terminal emulator (TERM set)",
        )
    })?;
    let _guard = TerminalGuard;
    let (update_tx, mut updates) = mpsc::channel::<Update>(256);
    let (key_tx, mut keys) = mpsc::channel::<Event>(64);
    // crossterm's reads block: a thread of their own, which ends when the
    // loop has gone (its channel closed).
    std::thread::spawn(move || {
        while !key_tx.is_closed() {
            match event::poll(Duration::from_millis(200)) {
                Ok(true) => match event::read() {
                    Ok(ev) => {
                        if key_tx.blocking_send(ev).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                },
                Ok(false) => {}
                Err(_) => break,
            }
        }
    });
    let events_tx = update_tx.clone();
    let reader = tokio::spawn(async move {
        loop {
            match events.next_notification().await {
                Ok(n) => {
                    if events_tx.send(Update::Event(n)).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let why = match e {
                        DaemonError::Closed => "the daemon stopped".to_owned(),
                        e => format!("the daemon connection failed: {e}"),
                    };
                    let _ = events_tx.send(Update::Lost(why)).await;
                    return;
                }
            }
        }
    });
    let draw_failed = |e: std::io::Error| {
        Failure::new(
            "Terminal",
            format!("cannot draw: {e}"),
            "check the terminal",
        )
    };
    let result = loop {
        terminal
            .draw(|f| view::draw(f, &chat))
            .map_err(draw_failed)?;
        tokio::select! {
            Some(ev) = keys.recv() => {
                let Event::Key(key) = ev else { continue };
                if key.kind != KeyEventKind::Press {
                    continue;
                }
                match chat.on_key(key) {
                    Some(Action::Quit) => break Ok(exit::OK),
                    Some(action) => spawn_action(&socket, action, update_tx.clone()),
                    None => {}
                }
            }
            Some(update) = updates.recv() => match update {
                Update::Event(n) => on_event(&mut chat, n),
                Update::Done(action, result) => on_done(&mut chat, &socket, action, result, &update_tx),
                Update::Contacts(Ok(v)) => match serde_json::from_value::<ContactListReport>(v) {
                    Ok(list) => chat.on_contacts(list.contacts),
                    Err(_) => chat.error(unexpected("contacts.list").line()),
                },
                Update::Contacts(Err(f)) => chat.error(f.line()),
                Update::Lost(why) => {
                    break Err(Failure::new(
                        "DaemonStopped",
                        format!("{why} while the chat was open; nothing typed was lost that was not shown as sent"),
                        "start `chainmail serve` again, then `chainmail chat`",
                    ));
                }
            },
            else => break Ok(exit::OK),
        }
    };
    reader.abort();
    drop(terminal);
    result
}

/// Carries out `action` on a connection of its own.
fn spawn_action(socket: &std::path::Path, action: Action, tx: mpsc::Sender<Update>) {
    let socket = socket.to_owned();
    tokio::spawn(async move {
        let (method, params) = match &action {
            Action::Send { to, body, .. } => (
                "send",
                json!({ "to": to, "body": body, "timeout": SEND_TIMEOUT_SECS }),
            ),
            Action::Accept { name, id } => ("contacts.add", json!({ "name": name, "id": id })),
            Action::Block { id } => ("contacts.block", json!({ "peer": id })),
            Action::Delete { id } => ("inbox.delete", json!({ "peer": id })),
            Action::Verify { id } => ("contacts.verify", json!({ "peer": id })),
            Action::SafetyNumber { id } => ("safety_number", json!({ "peer": id })),
            Action::LoadOlder { before } => ("inbox", json!({ "before": before, "limit": PAGE })),
            Action::Quit => return,
        };
        let result = async {
            let mut client = DaemonClient::connect(&socket).await.map_err(failure)?;
            client.call(method, params).await.map_err(failure)
        }
        .await;
        let _ = tx.send(Update::Done(action, result)).await;
    });
}

fn on_event(chat: &mut Chat, n: Notification) {
    let p = n.params;
    match n.method.as_str() {
        "message.received" => {
            if let Ok(m) = serde_json::from_value::<MessageReport>(p) {
                chat.on_received(m, true);
            }
        }
        "message.delivered" | "message.rejected" | "message.expired" => {
            if let Ok(m) = serde_json::from_value(p) {
                chat.on_outbox(m);
            }
        }
        "peer.revoked" => {
            if let Some(id) = p["id"].as_str() {
                chat.on_revoked(id);
            }
        }
        "subscription.dropped" => chat.error(format!(
            "the daemon stopped sending events ({}): restart the chat",
            p["reason"].as_str().unwrap_or("?")
        )),
        _ => {}
    }
}

fn on_done(
    chat: &mut Chat,
    socket: &std::path::Path,
    action: Action,
    result: Result<Value, Failure>,
    tx: &mpsc::Sender<Update>,
) {
    let refresh = |tx: &mpsc::Sender<Update>| {
        // Names and marks changed: read the list again.
        let tx = tx.clone();
        let socket = socket.to_owned();
        tokio::spawn(async move {
            let result = async {
                let mut c = DaemonClient::connect(&socket).await.map_err(failure)?;
                c.call("contacts.list", json!({})).await.map_err(failure)
            }
            .await;
            let _ = tx.send(Update::Contacts(result)).await;
        });
    };
    match (action, result) {
        (Action::Send { local, to, .. }, result) => {
            let result = result.and_then(|v| {
                serde_json::from_value::<SendReport>(v).map_err(|_| unexpected("send"))
            });
            chat.on_sent(local, &to, result.map_err(|f| f.line()));
        }
        (Action::Accept { name, .. }, Ok(_)) => {
            chat.info(format!("added {name} to your contacts"));
            refresh(tx);
        }
        (Action::Block { id }, Ok(_)) => {
            chat.info(format!("blocked {}", chat.display_name(&id)));
            refresh(tx);
        }
        (Action::Verify { id }, Ok(_)) => {
            chat.info(format!("{} marked verified", chat.display_name(&id)));
            refresh(tx);
        }
        (Action::Delete { id }, Ok(_)) => chat.on_deleted(&id),
        (Action::SafetyNumber { .. }, Ok(v)) => match serde_json::from_value::<VerifyReport>(v) {
            Ok(report) => {
                let qr = crate::safety::qr_text(&report.qr_payload);
                chat.on_safety(report, qr);
            }
            Err(_) => chat.error(unexpected("safety_number").line()),
        },
        (Action::LoadOlder { .. }, Ok(v)) => match inbox_page(v) {
            Ok((messages, next)) => chat.on_older(messages, next),
            Err(f) => chat.error(f.line()),
        },
        (Action::Quit, _) => {}
        (_, Err(f)) => chat.error(f.line()),
    }
}
