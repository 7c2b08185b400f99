//! The methods: each parses its params (by name, unknown ones refused),
//! does what the CLI command of the same name does on the running node,
//! and returns the object that command prints with `--json`.

use std::time::Duration;

use chainmail_core::Address;
use chainmail_node::store::Store;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::rpc::RpcError;
use super::{Api, VERSION};
use crate::commands::contacts::{self, Change};
use crate::commands::{lookup, messaging};
use crate::error::Failure;
use crate::output::{InboxReport, OutboxReport};
use crate::peer::{self, Peer};

/// `send`'s timeout when none is given (the CLI's default).
const DEFAULT_SEND_TIMEOUT: f64 = 10.0;
/// The longest `send` timeout accepted, in seconds.
const MAX_SEND_TIMEOUT: f64 = 3600.0;
/// `inbox`'s page when no limit is given.
const DEFAULT_INBOX_LIMIT: u32 = 100;

fn params<T: DeserializeOwned>(p: Value) -> Result<T, RpcError> {
    serde_json::from_value(p).map_err(RpcError::invalid_params)
}

fn to_value(v: impl serde::Serialize) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| {
        Failure::new(
            "Internal",
            format!("cannot encode the result: {e}"),
            "report this bug",
        )
        .into()
    })
}

fn peer_param(text: &str) -> Result<Peer, RpcError> {
    peer::parse(text).map_err(RpcError::invalid_params)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NoParams {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendParams {
    to: String,
    body: String,
    timeout: Option<f64>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Filter {
    #[default]
    All,
    Requests,
    Contacts,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InboxParams {
    #[serde(default)]
    after: i64,
    /// A page back through history instead: the newest messages with
    /// `seq < before`.
    before: Option<i64>,
    limit: Option<u32>,
    #[serde(default)]
    filter: Filter,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxParams {
    limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdParams {
    id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerParams {
    peer: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddParams {
    name: String,
    id: String,
}

fn limit(given: Option<u32>, default: u32, max: u32) -> Result<u32, RpcError> {
    match given.unwrap_or(default) {
        0 => Err(RpcError::invalid_params("limit must be at least 1")),
        n if n > max => Err(RpcError::invalid_params(format!("limit is at most {max}"))),
        n => Ok(n),
    }
}

impl Api {
    /// Answers one request (`subscribe` is the server's, not here).
    pub async fn call(&self, method: &str, p: Value) -> Result<Value, RpcError> {
        let store = self.node.store();
        match method {
            "status" => {
                params::<NoParams>(p)?;
                to_value(self.status()?)
            }
            "send" => {
                let p: SendParams = params(p)?;
                let timeout = p.timeout.unwrap_or(DEFAULT_SEND_TIMEOUT);
                if !(0.0..=MAX_SEND_TIMEOUT).contains(&timeout) {
                    return Err(RpcError::invalid_params(format!(
                        "timeout is seconds from 0 to {MAX_SEND_TIMEOUT}"
                    )));
                }
                let to = peer_param(&p.to)?.resolve(store)?;
                let outcome =
                    chainmail_node::send(&self.node, to, &p.body, Duration::from_secs_f64(timeout))
                        .await
                        .map_err(Failure::from)?;
                to_value(messaging::send_report(outcome))
            }
            // Pages of up to 500 bodies of 32,000 bytes: read off the async
            // workers, which the node's sessions share.
            "inbox" => {
                let p: InboxParams = params(p)?;
                let limit = limit(p.limit, DEFAULT_INBOX_LIMIT, messaging::INBOX_PAGE)?;
                let store = store.clone();
                match p.before {
                    Some(_) if p.after != 0 => Err(RpcError::invalid_params(
                        "give either after or before, not both",
                    )),
                    Some(before) => {
                        blocking(move || inbox_page_before(&store, before, limit, p.filter)).await
                    }
                    None => blocking(move || inbox_page(&store, p.after, limit, p.filter)).await,
                }
            }
            "inbox.delete" => {
                let p: PeerParams = params(p)?;
                let peer = peer_param(&p.peer)?.resolve(store)?;
                let (store, now) = (store.clone(), self.node.clock().now_unix());
                blocking(move || {
                    let deleted = store.delete_inbox_from(&peer, now).map_err(Failure::from)?;
                    Ok(json!({ "peer": peer.to_string(), "deleted": deleted }))
                })
                .await
            }
            "outbox" => {
                let p: OutboxParams = params(p)?;
                let limit = limit(p.limit, messaging::OUTBOX_LIMIT, messaging::OUTBOX_LIMIT)?;
                let store = store.clone();
                blocking(move || {
                    let messages = store
                        .outbox(limit)
                        .map_err(Failure::from)?
                        .into_iter()
                        .map(messaging::outbox_report)
                        .collect();
                    to_value(OutboxReport { messages })
                })
                .await
            }
            "lookup" => {
                let p: IdParams = params(p)?;
                let id = peer_param(&p.id)?.resolve(store)?;
                let report = lookup::lookup_with(&**self.node.registry(), id)
                    .await
                    .map_err(Failure::from)?;
                to_value(report)
            }
            "safety_number" => {
                let p: PeerParams = params(p)?;
                let peer = peer_param(&p.peer)?;
                let own = self.node.public_key();
                let report =
                    contacts::verify_report(&own, store, &**self.node.registry(), &peer, false)
                        .await?;
                to_value(report)
            }
            "contacts.list" => {
                params::<NoParams>(p)?;
                to_value(contacts::list_report(store)?)
            }
            "contacts.add" => {
                let p: AddParams = params(p)?;
                chainmail_node::contacts::check_name(&p.name).map_err(RpcError::invalid_params)?;
                let id: Address = p.id.parse().map_err(RpcError::invalid_params)?;
                to_value(contacts::apply(store, Change::Add(&p.name, id))?)
            }
            "contacts.remove" | "contacts.verify" | "contacts.block" | "contacts.unblock" => {
                let p: PeerParams = params(p)?;
                let peer = peer_param(&p.peer)?;
                let change = match method {
                    "contacts.remove" => Change::Remove(&peer),
                    "contacts.verify" => Change::Verify(&peer),
                    "contacts.block" => Change::Block(&peer, true),
                    _ => Change::Block(&peer, false),
                };
                to_value(contacts::apply(store, change)?)
            }
            other => Err(RpcError::method_not_found(other)),
        }
    }

    fn status(&self) -> Result<Value, RpcError> {
        let cursor = self.node.store().last_event_id().map_err(Failure::from)?;
        Ok(json!({
            "version": VERSION,
            "id": self.node.address().to_string(),
            "chain": self.chain,
            "trust": self.trust,
            "listen": self.listen,
            "api": self.socket.display().to_string(),
            "connections": self.node.open_connections(),
            "clients": self.clients(),
            "messages_verified": self.node.messages_verified(),
            "cursor": cursor,
        }))
    }
}

/// Runs `f` on the blocking pool.
async fn blocking(
    f: impl FnOnce() -> Result<Value, RpcError> + Send + 'static,
) -> Result<Value, RpcError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
        Err(Failure::new("Internal", format!("a task failed: {e}"), "report this bug").into())
    })
}

/// The messages among the `limit` newest with `seq < before` that pass
/// `filter`, and the `before` of the page further back (the oldest row
/// read, shown or not; `before` itself when nothing is left).
fn inbox_page_before(
    store: &Store,
    before: i64,
    limit: u32,
    filter: Filter,
) -> Result<Value, RpcError> {
    let names = messaging::Names::new(store);
    let page = store.inbox_before(before, limit).map_err(Failure::from)?;
    let next_before = page.first().map_or(before, |e| e.seq);
    let messages = page
        .iter()
        .map(|e| names.report(e))
        .filter(|m| filter.keeps(m))
        .collect();
    let mut v = to_value(InboxReport { messages })?;
    v["next_before"] = json!(next_before);
    Ok(v)
}

impl Filter {
    fn keeps(self, m: &crate::output::MessageReport) -> bool {
        match self {
            Filter::All => true,
            Filter::Requests => m.contact.is_none(),
            Filter::Contacts => m.contact.is_some(),
        }
    }
}

/// Up to `limit` messages with `seq > after` passing `filter`, and the
/// `after` of the next page (the last row read, shown or not).
fn inbox_page(
    store: &Store,
    mut after: i64,
    limit: u32,
    filter: Filter,
) -> Result<Value, RpcError> {
    let names = messaging::Names::new(store);
    let mut messages = Vec::new();
    while messages.len() < limit as usize {
        let page = store
            .inbox_after(after, messaging::INBOX_PAGE)
            .map_err(Failure::from)?;
        let Some(last) = page.last() else { break };
        let end = last.seq;
        for entry in &page {
            let m = names.report(entry);
            after = entry.seq;
            if filter.keeps(&m) {
                messages.push(m);
                if messages.len() == limit as usize {
                    break;
                }
            }
        }
        if after != end {
            break;
        }
    }
    let mut v = to_value(InboxReport { messages })?;
    v["next_after"] = json!(after);
    Ok(v)
}
