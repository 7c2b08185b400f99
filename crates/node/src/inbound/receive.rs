//! Receiving one `Deliver` on an open session: the sender admitted as a
//! new handshake would be (still valid on the chain; not blocked, nor a
//! stranger in contacts-only mode, checked in the store call that commits),
//! every signature verified by the core, text bodies committed, and only
//! then the ack. A body that is not UTF-8 text is refused for good with
//! `Close(NotText)`, a `sentAt` outside the window with
//! `Close(SentAtOutOfWindow)`.

use chainmail_core::wire::{Ack, CloseReason, Deliver, VerifiedMessage, Wire, sent_at_in_window};
use tracing::{debug, info};

use super::connection::{ConnectionError, ended, send_close};
use super::recheck::SessionStatus;
use crate::handshake::SessionError;
use crate::node::{Node, NodeError};
use crate::store::{ReceivedMessage, ReceivedProof, Stored};
use crate::transport::SecureStream;

/// Admits, verifies, stores and acks `deliver`. An error ends the
/// connection (after a `Close` where the peer is owed one).
pub(super) async fn receive(
    node: &Node,
    session: &mut SecureStream,
    known: &mut SessionStatus,
    deliver: Deliver,
) -> Result<(), ConnectionError> {
    let from = session.peer();
    // A session outlives single deliveries (senders keep it for the next
    // message), so each `Deliver` is admitted as a new handshake would be
    // (riding out one failed lookup, as a re-check does), and our own ID
    // must still be valid.
    let verdict = known
        .judge(
            node,
            crate::handshake::policy::sender_status(node, from).await,
        )
        .await;
    ended(node, session, verdict).await?;
    // Dedup first: a message this store holds is acked again without its
    // signature being checked, so a replayed `Deliver` costs lookups only.
    let ids: Vec<[u8; 16]> = deliver.messages.iter().map(|e| e.id).collect();
    let seen = node.db(move |s| s.seen_ids(&from, &ids)).await?;
    // The peer's verification budget: past it, this session waits (the
    // others, and other peers, go on) — a registered peer cannot keep a
    // core busy with signatures.
    let unseen = deliver.messages.len().saturating_sub(seen.len());
    let wait = node
        .inbound()
        .verify_wait(from, unseen, node.clock().instant());
    if !wait.is_zero() {
        debug!(peer = %from, ?wait, "over its verification budget; waiting");
        tokio::time::sleep(wait).await;
    }
    // The core checks `from` is the peer this session authenticated, `to`
    // is us, and every new message's signature (each, or the batch's over
    // the Merkle root) is the peer's — off the async workers: a frame can
    // carry hundreds of signatures.
    let (domain, key, local) = (*node.domain(), session.peer_key(), node.address());
    let (deliver, verified) = tokio::task::spawn_blocking(move || {
        let v = deliver.verify_unseen(&domain, &key, &local, |id| seen.contains(id));
        (deliver, v.map(|v| (v, seen)))
    })
    .await
    .map_err(|e| NodeError::Task(e.to_string()))?;
    let (verified, seen) = match verified {
        Ok(v) => v,
        Err(e) => {
            send_close(session, CloseReason::ProtocolError).await;
            return Err(e.into());
        }
    };
    node.inbound().count_verified(verified.len());
    // Bodies are UTF-8 text (chainmail is a text messenger). A signed
    // message that is not text is refused for good, one by one: the others
    // are stored and acked, then `Close(NotText)` tells the sender that
    // whatever it did not get an ack for is refused (so it stops retrying
    // it), rather than refusing the whole `Deliver` and leaving the sender
    // to retry it until it expires.
    // A `sentAt` outside the window (300 s ahead, a week and 300 s behind)
    // is refused for good the same way: the dedup rows that stop a replay
    // are kept longer than that window, so an old message replayed after
    // its row is pruned is refused here instead of being stored again.
    let now = node.now();
    let mut rows = Vec::with_capacity(verified.len());
    let (mut not_text, mut out_of_window) = (0usize, 0usize);
    for v in verified {
        if !sent_at_in_window(v.message.sent_at, now) {
            out_of_window += 1;
            continue;
        }
        match row(v)? {
            Some(r) => rows.push(r),
            None => not_text += 1,
        }
    }
    // Commit first, ack after: an ack means "stored for good". A stranger
    // (not a named contact) gets at most its quota of inbox rows.
    let contacts_only = node.options().contacts_only;
    let quota = node.options().limits.stranger_inbox_quota;
    let stored = node
        .db(move |s| {
            let contact = s.contact(&from)?;
            if !s.admits(&from, contacts_only)? {
                return Ok(None);
            }
            let stranger = contact.is_none_or(|c| c.name.is_none());
            let stored = s.store_received_within(&rows, now, stranger.then_some(quota))?;
            let ids: Vec<_> = rows
                .iter()
                .zip(&stored)
                .filter_map(|(r, s)| s.map(|s| (r.message_id, s)))
                .collect();
            Ok(Some((ids, stored.len())))
        })
        .await?;
    let Some((stored, offered)) = stored else {
        // Told nothing, as at the handshake: the connection closes.
        return Err(SessionError::NotAdmitted(from).into());
    };
    let over_quota = offered - stored.len();
    // Acked: what was stored now, and what this store already held (a
    // resend after a lost ack), in the `Deliver`'s order.
    let acked: std::collections::HashSet<[u8; 16]> = stored.iter().map(|(id, _)| *id).collect();
    let ids: Vec<[u8; 16]> = deliver
        .messages
        .iter()
        .map(|e| e.id)
        .filter(|id| acked.contains(id) || seen.contains(id))
        .collect();
    if !ids.is_empty() {
        let new = stored.iter().filter(|(_, s)| *s == Stored::New).count();
        info!(from = %from, new, duplicates = ids.len() - new, "messages stored");
        // A peer that stops reading must not pin this task on a full
        // socket buffer: the write gets the idle timeout too.
        let idle_timeout = node.options().limits.idle_timeout;
        match tokio::time::timeout(idle_timeout, session.send(&Wire::Ack(Ack { ids }))).await {
            Ok(r) => r?,
            Err(_) => return Err(ConnectionError::Idle),
        }
    }
    if over_quota > 0 {
        send_close(session, CloseReason::QuotaFull).await;
        return Err(ConnectionError::QuotaFull {
            count: over_quota,
            from,
        });
    }
    if out_of_window > 0 {
        send_close(session, CloseReason::SentAtOutOfWindow).await;
        return Err(ConnectionError::SentAtOutOfWindow {
            count: out_of_window + not_text,
            from,
        });
    }
    if not_text > 0 {
        send_close(session, CloseReason::NotText).await;
        return Err(ConnectionError::NotText {
            count: not_text,
            from,
        });
    }
    Ok(())
}

/// The inbox row of a verified message, `None` when its body is not text.
fn row(v: VerifiedMessage) -> Result<Option<ReceivedMessage>, ConnectionError> {
    let Ok(body) = String::from_utf8(v.body) else {
        return Ok(None);
    };
    Ok(Some(ReceivedMessage {
        message_id: v.message.id,
        from: v.message.from,
        to: v.message.to,
        sent_at: v.message.sent_at,
        body,
        proof: ReceivedProof::new(v.proof, v.batch_root).map_err(NodeError::from)?,
    }))
}
