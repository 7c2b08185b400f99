//! The socket's server: accepts clients of this user (up to
//! [`MAX_CLIENTS`]), reads their requests line by line, answers up to
//! [`MAX_IN_FLIGHT`] of each at once, and streams events to subscribers.
//!
//! Every byte queued for a client is counted against [`MAX_QUEUED_BYTES`]:
//! a response waits for room (its client stops being read meanwhile), a
//! notification that finds none drops the subscriber with a
//! `subscription.dropped` notice — the daemon never buffers without bound
//! and a stuck client never stalls the node or the other clients. A write
//! that does not complete within [`WRITE_TIMEOUT`] closes the connection.
//!
//! Events come from the store's `events` table, written by whichever
//! process changed the store: one poller watches its last id and wakes the
//! subscribers, each of which reads the rows after its own cursor.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chainmail_node::store::{Event, EventSubject, EventsError};
use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use super::rpc::{self, Line, RpcError};
use super::{Api, MAX_CLIENTS, MAX_IN_FLIGHT, MAX_QUEUED_BYTES, MAX_REQUEST_BYTES, socket};
use crate::commands::messaging;
use crate::error::Failure;

/// How often the poller looks at the events table's last id.
const POLL: Duration = Duration::from_millis(100);
/// A write to a client that takes longer closes its connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Events read per query by a subscriber.
const EVENT_PAGE: u32 = 100;

/// One line on its way to a client, holding its share of the budget.
struct Outgoing {
    line: String,
    _room: OwnedSemaphorePermit,
}

/// The sending side of one client's queue.
#[derive(Clone)]
struct Queue {
    tx: mpsc::UnboundedSender<Outgoing>,
    room: Arc<Semaphore>,
    /// Set to the notice to write before closing when a subscriber is dropped.
    dropped: watch::Sender<Option<String>>,
}

fn cost(line: &str) -> u32 {
    // A line bigger than the whole budget takes all of it.
    u32::try_from(line.len().min(MAX_QUEUED_BYTES)).unwrap_or(u32::MAX)
}

impl Queue {
    /// Queues a response, waiting for room.
    async fn respond(&self, line: String) {
        if let Ok(room) = self.room.clone().acquire_many_owned(cost(&line)).await {
            let _ = self.tx.send(Outgoing { line, _room: room });
        }
    }

    /// Queues a notification if there is room.
    fn notify(&self, line: String) -> bool {
        match self.room.clone().try_acquire_many_owned(cost(&line)) {
            Ok(room) => self.tx.send(Outgoing { line, _room: room }).is_ok(),
            Err(_) => false,
        }
    }

    /// Ends the connection after the lines already queued and `notice`.
    fn drop_with(&self, method: &str, params: Value) {
        let _ = self.dropped.send(Some(rpc::notification(method, params)));
    }
}

impl Api {
    /// Serves `listener` until `stop` completes, then removes the socket.
    pub async fn serve(self, listener: UnixListener, stop: impl Future<Output = ()>) {
        let api = Arc::new(self);
        let head = api.node.store().last_event_id().unwrap_or(0);
        let (head_tx, head_rx) = watch::channel(head);
        let poller = tokio::spawn(poll_events(api.clone(), head_tx));
        let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
        let mut clients = JoinSet::new();
        tokio::pin!(stop);
        tracing::info!(socket = %api.socket.display(), "API listening");
        loop {
            tokio::select! {
                () = &mut stop => break,
                Some(_) = clients.join_next(), if !clients.is_empty() => {}
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        if !socket::same_user(&stream) {
                            tracing::warn!("refused an API client of another user");
                            clients.spawn(refuse(stream, Failure::new(
                                "Forbidden",
                                "this daemon serves only the user who runs it",
                                "run the client as the daemon's user",
                            )));
                        } else if let Ok(slot) = slots.clone().try_acquire_owned() {
                            clients.spawn(client(api.clone(), stream, head_rx.clone(), slot));
                        } else {
                            clients.spawn(refuse(stream, Failure::new(
                                "TooManyClients",
                                format!("{MAX_CLIENTS} API clients are connected already"),
                                "retry later, or close idle clients",
                            )));
                        }
                    }
                    Err(e) => {
                        // Out of file descriptors or the like: the socket stays.
                        tracing::warn!(error = %e, "API accept failed");
                        tokio::time::sleep(POLL).await;
                    }
                },
            }
        }
        poller.abort();
        clients.shutdown().await;
        if let Err(e) = std::fs::remove_file(&api.socket) {
            tracing::warn!(socket = %api.socket.display(), error = %e, "cannot remove the API socket");
        }
    }

    /// The notification of `event` (`params` is the CLI's object for the
    /// message, with the event's `cursor`, and for a received message its
    /// inbox `seq`), or None if the row is gone.
    fn event_params(&self, event: &Event) -> Result<Option<Value>, Failure> {
        let store = self.node.store();
        let mut v = match event.subject {
            EventSubject::Inbox(seq) => {
                let Some(entry) = store
                    .inbox_after(seq - 1, 1)?
                    .into_iter()
                    .find(|e| e.seq == seq)
                else {
                    return Ok(None);
                };
                serde_json::to_value(messaging::Names::new(store).report(&entry)).map(|mut v| {
                    v["seq"] = json!(seq);
                    v
                })
            }
            EventSubject::Peer(row) => {
                let Some((peer, revoked_at)) = store.revoked_peer(row)? else {
                    return Ok(None);
                };
                let contact = store.contact(&peer)?.and_then(|c| c.name);
                Ok(json!({ "id": peer.to_string(), "revoked_at": revoked_at, "contact": contact }))
            }
            EventSubject::Outbox(id) => {
                let Some(entry) = store.outbox_entry(&id)? else {
                    return Ok(None);
                };
                serde_json::to_value(messaging::outbox_report(entry))
            }
        }
        .map_err(|e| {
            Failure::new(
                "Internal",
                format!("cannot encode an event: {e}"),
                "report this bug",
            )
        })?;
        v["cursor"] = json!(event.id);
        Ok(Some(v))
    }
}

/// Publishes the events table's last id whenever it moves.
async fn poll_events(api: Arc<Api>, head: watch::Sender<i64>) {
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match api.node.store().last_event_id() {
            Ok(id) => {
                head.send_if_modified(|h| {
                    let moved = *h != id;
                    *h = id;
                    moved
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the events table"),
        }
    }
}

/// Answers one error line to a client that is refused, then closes.
async fn refuse(mut stream: UnixStream, why: Failure) {
    let line = rpc::response(Value::Null, Err(RpcError::from(why)));
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(line.as_bytes())).await;
}

/// Decrements a client count when the client ends (however it ends).
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One client: its reader (this task), its writer and its subscription.
async fn client(
    api: Arc<Api>,
    stream: UnixStream,
    head: watch::Receiver<i64>,
    _slot: OwnedSemaphorePermit,
) {
    api.clients.fetch_add(1, Ordering::Relaxed);
    let _counted = Counted(&api.clients);
    let (rd, wr) = stream.into_split();
    let (tx, rx) = mpsc::unbounded_channel();
    let (dropped, dropped_rx) = watch::channel(None);
    let queue = Queue {
        tx,
        room: Arc::new(Semaphore::new(MAX_QUEUED_BYTES)),
        dropped,
    };
    // Requests being answered; the subscription apart (it never ends).
    let mut tasks = JoinSet::new();
    let mut subscription: Option<tokio::task::JoinHandle<()>> = None;
    let writer = tokio::spawn(write_lines(wr, rx, dropped_rx));
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut reader = BufReader::new(rd);
    let mut buf = Vec::new();
    loop {
        let read = tokio::select! {
            read = rpc::read_line(&mut reader, &mut buf, MAX_REQUEST_BYTES) => read,
            // The writer ended (a write failed or the client was dropped).
            () = queue.tx.closed() => break,
        };
        match read {
            Ok(Line::Complete) => {}
            Ok(Line::TooLong) => {
                let why = format!("request longer than {MAX_REQUEST_BYTES} bytes");
                queue
                    .respond(rpc::response(
                        Value::Null,
                        Err(RpcError::invalid_request(why)),
                    ))
                    .await;
                continue;
            }
            Ok(Line::Eof) | Err(_) => break,
        }
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let request = match rpc::parse_request(&buf) {
            Ok(r) => r,
            Err((id, e)) => {
                queue.respond(rpc::response(id, Err(e))).await;
                continue;
            }
        };
        if request.method == "subscribe" {
            let result = if subscription.is_some() {
                Err(RpcError::invalid_request(
                    "this connection is subscribed already",
                ))
            } else {
                subscribe(&api, request.params, &head).map(|cursor| {
                    subscription = Some(tokio::spawn(stream_events(
                        api.clone(),
                        cursor,
                        head.clone(),
                        queue.clone(),
                    )));
                    json!({ "cursor": cursor })
                })
            };
            if let Some(id) = request.id {
                queue.respond(rpc::response(id, result)).await;
            }
            continue;
        }
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (api, queue) = (api.clone(), queue.clone());
        tasks.spawn(async move {
            let result = api.call(&request.method, request.params).await;
            if let Some(id) = request.id {
                queue.respond(rpc::response(id, result)).await;
            }
            drop(permit);
        });
    }
    // The client sends no more (it closed, or only half-closed as `socat`
    // does after its last line): what it asked is still answered, unless
    // the connection is gone for good (the writer ended), which cuts the
    // requests short — a `send` cut short stays in the outbox, delivered by
    // the worker. Then the writer drains what was queued.
    if let Some(s) = subscription {
        s.abort();
    }
    tokio::select! {
        () = async { while tasks.join_next().await.is_some() {} } => {}
        () = queue.tx.closed() => {}
    }
    tasks.shutdown().await;
    drop(queue);
    let _ = writer.await;
}

/// Checks `subscribe`'s params; the cursor to stream after.
fn subscribe(api: &Api, params: Value, head: &watch::Receiver<i64>) -> Result<i64, RpcError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Params {
        cursor: Option<i64>,
    }
    let p: Params = serde_json::from_value(params).map_err(RpcError::invalid_params)?;
    let store = api.node.store();
    let last = store
        .last_event_id()
        .map_err(Failure::from)?
        .max(*head.borrow());
    let Some(cursor) = p.cursor else {
        return Ok(last);
    };
    if cursor < 0 || cursor > last {
        return Err(RpcError::invalid_params(format!(
            "cursor {cursor} is not an event of this home (the last is {last})"
        )));
    }
    store.events_after(cursor, 1).map_err(Failure::from)?;
    Ok(cursor)
}

/// Streams the events after `cursor` to `queue` until the client goes.
async fn stream_events(
    api: Arc<Api>,
    mut cursor: i64,
    mut head: watch::Receiver<i64>,
    queue: Queue,
) {
    loop {
        let events = match api.node.store().events_after(cursor, EVENT_PAGE) {
            Ok(events) => events,
            Err(e) => {
                let reason = match e {
                    EventsError::CursorExpired { .. } => "cursor_expired",
                    _ => "store_error",
                };
                tracing::warn!(error = %e, "a subscription ends");
                queue.drop_with(
                    "subscription.dropped",
                    json!({ "reason": reason, "cursor": cursor }),
                );
                return;
            }
        };
        if events.is_empty() {
            if head.changed().await.is_err() {
                return;
            }
            continue;
        }
        for event in events {
            let params = match api.event_params(&event) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e.line(), "cannot read an event's message");
                    None
                }
            };
            if let Some(params) = params
                && !queue.notify(rpc::notification(event.kind.as_str(), params))
            {
                tracing::warn!("dropped an API subscriber that does not read its events");
                queue.drop_with(
                    "subscription.dropped",
                    json!({ "reason": "too_slow", "cursor": cursor }),
                );
                return;
            }
            cursor = event.id;
        }
    }
}

/// Writes queued lines until the queue closes or a subscriber is dropped
/// (then the notice, and the connection ends).
async fn write_lines(
    mut wr: OwnedWriteHalf,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    mut dropped: watch::Receiver<Option<String>>,
) {
    loop {
        let next = tokio::select! {
            biased;
            next = rx.recv() => next,
            _ = dropped.changed() => None,
        };
        let Some(out) = next else { break };
        match tokio::time::timeout(WRITE_TIMEOUT, wr.write_all(out.line.as_bytes())).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
    let notice = dropped.borrow().clone();
    if let Some(notice) = notice {
        let _ = tokio::time::timeout(Duration::from_secs(1), wr.write_all(notice.as_bytes())).await;
    }
    let _ = wr.shutdown().await;
}
