//! Receiving one `Deliver` on an open session: the sender admitted as a
//! new handshake would be (still valid on the chain; not blocked, nor a
//! stranger in contacts-only mode, checked in the store call that commits),
//! every signature verified by the core, text bodies committed, and only
//! then the ack. A body that is not UTF-8 text is refused for good with
//! `Close(NotText)`.

use chainmail_core::wire::{Ack, CloseReason, Deliver, VerifiedMessage, Wire};
use tracing::info;

use super::connection::{ConnectionError, send_close};
use super::recheck::KnownStatus;
use crate::handshake::SessionError;
use crate::node::{Node, NodeError};
use crate::store::{ReceivedMessage, ReceivedProof, Stored};
use crate::transport::SecureStream;

/// Admits, verifies, stores and acks `deliver`. An error ends the
/// connection (after a `Close` where the peer is owed one).
pub(super) async fn receive(
    node: &Node,
    session: &mut SecureStream,
    known: &mut KnownStatus,
    deliver: Deliver,
) -> Result<(), ConnectionError> {
    let from = session.peer();
    // A session outlives single deliveries (senders keep it for the next
    // message), so each `Deliver` is admitted as a new handshake would be
    // (riding out one failed lookup, as a re-check does).
    let status = known
        .update(crate::handshake::policy::sender_status(node, from).await)
        .map_err(NodeError::from)?;
    if let Err(e) = status.check(node.now()) {
        send_close(session, CloseReason::PeerRevoked).await;
        return Err(ConnectionError::PeerRevoked(from, e));
    }
    // The core checks `from` is the peer this session authenticated, `to`
    // is us, and every signature (each, or the batch's over the Merkle
    // root) is the peer's.
    let verified = match deliver.verify(node.domain(), &session.peer_key(), &node.address()) {
        Ok(v) => v,
        Err(e) => {
            send_close(session, CloseReason::ProtocolError).await;
            return Err(e.into());
        }
    };
    // Bodies are UTF-8 text (chainmail is a text messenger). A signed
    // message that is not text is refused for good, one by one: the others
    // are stored and acked, then `Close(NotText)` tells the sender that
    // whatever it did not get an ack for is refused (so it stops retrying
    // it), rather than refusing the whole `Deliver` and leaving the sender
    // to retry it until it expires.
    let mut rows = Vec::with_capacity(verified.len());
    let mut not_text = 0usize;
    for v in verified {
        match row(v)? {
            Some(r) => rows.push(r),
            None => not_text += 1,
        }
    }
    let now = node.now();
    // Commit first, ack after: an ack means "stored for good".
    let ids: Vec<[u8; 16]> = rows.iter().map(|r| r.message_id).collect();
    let contacts_only = node.options().contacts_only;
    let stored = node
        .db(move |s| {
            if !s.admits(&from, contacts_only)? {
                return Ok(None);
            }
            if rows.is_empty() {
                return Ok(Some(Vec::new()));
            }
            s.store_received_all(&rows, now).map(Some)
        })
        .await?;
    let Some(stored) = stored else {
        // Told nothing, as at the handshake: the connection closes.
        return Err(SessionError::NotAdmitted(from).into());
    };
    if !ids.is_empty() {
        let new = stored.iter().filter(|s| **s == Stored::New).count();
        info!(from = %from, new, duplicates = stored.len() - new, "messages stored");
        // A peer that stops reading must not pin this task on a full
        // socket buffer: the write gets the idle timeout too.
        let idle_timeout = node.options().limits.idle_timeout;
        match tokio::time::timeout(idle_timeout, session.send(&Wire::Ack(Ack { ids }))).await {
            Ok(r) => r?,
            Err(_) => return Err(ConnectionError::Idle),
        }
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
