//! The messaging commands over the node crate: `serve` (the node: accept
//! sessions, deliver the outbox), `send` (outbox first, then deliver and wait
//! for the ack) and `inbox` (the verified messages this node stored).

use std::time::Duration;

use chainmail_node::store::{InboxEntry, Store};

use crate::error::{Failure, exit};
use crate::output::{self, InboxReport, MessageReport};
use crate::settings::Settings;

/// How many inbox rows are read per query (bounded memory for big inboxes).
const INBOX_PAGE: u32 = 500;
/// How often `inbox --follow` looks for new rows. Polling a local SQLite
/// file is cheap, and it sees messages stored by any process (`serve` or a
/// `send` of the same home).
const FOLLOW_POLL: Duration = Duration::from_millis(300);

/// `inbox [--follow]`.
pub fn inbox(settings: &Settings, follow: bool) -> Result<u8, Failure> {
    let store = open_store(settings)?;
    let mut after = 0i64;
    if !follow {
        let mut messages = Vec::new();
        loop {
            let page = store
                .inbox_after(after, INBOX_PAGE)
                .map_err(store_failure)?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            messages.extend(page.iter().map(message_report));
        }
        output::print(&InboxReport { messages }, settings.json);
        return Ok(exit::OK);
    }
    loop {
        let page = store
            .inbox_after(after, INBOX_PAGE)
            .map_err(store_failure)?;
        for entry in &page {
            // One bare message object per line (issue 6), flushed at once
            // so a reader of the pipe sees each message as it arrives.
            output::print(&message_report(entry), settings.json);
            after = entry.seq;
        }
        if page.is_empty() {
            std::thread::sleep(FOLLOW_POLL);
        }
    }
}

/// Opens this home's message store; the identity must exist.
pub fn open_store(settings: &Settings) -> Result<Store, Failure> {
    if !settings.home.keystore().exists() {
        return Err(Failure::new(
            "NoIdentity",
            format!("no identity in {}", settings.home.root().display()),
            "run `chainmail init` first, or pass the right --home",
        ));
    }
    Store::open(&settings.home.store()).map_err(store_failure)
}

/// A store error as the user sees it.
pub fn store_failure(e: chainmail_node::store::StoreError) -> Failure {
    Failure::new(
        crate::error::variant_name(&format!("{e:?}")),
        format!("message store: {e}"),
        "",
    )
}

/// An inbox row as `inbox` prints it.
pub fn message_report(entry: &InboxEntry) -> MessageReport {
    let m = &entry.message;
    MessageReport {
        message_id: format!("0x{}", hex::encode(m.message_id)),
        from: m.from.to_string(),
        to: m.to.to_string(),
        sent_at: m.sent_at,
        received_at: entry.received_at,
        body: m.body.clone(),
        signature: format!("0x{}", hex::encode(m.signature)),
        batch_root: m.batch_root.map(|r| format!("0x{}", hex::encode(r))),
        batch_path: m.batch_root.map(|_| {
            m.batch_path
                .iter()
                .map(|h| format!("0x{}", hex::encode(h)))
                .collect()
        }),
    }
}
