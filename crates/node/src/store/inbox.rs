//! The inbox: verified messages received, stored once per (sender,
//! message id) thanks to the dedup record (which outlives any sender's
//! retries, see [`DEDUP_RETENTION_SECS`](super::DEDUP_RETENTION_SECS)).

use chainmail_core::wire::MessageProof;
use chainmail_core::{Address, Signature};
use rusqlite::params;

use super::sealing::ReceivedColumns;
use super::{MAX_BATCH_PATH, MAX_BODY_BYTES, MessageId, Store, StoreError, address, fixed, i, u};

/// A verified message received from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// The sender's id.
    pub message_id: MessageId,
    /// The peer authenticated in the session that carried it.
    pub from: Address,
    /// This identity.
    pub to: Address,
    /// Sender's send time, Unix seconds.
    pub sent_at: u64,
    /// The text.
    pub body: String,
    /// Why the sender cannot deny it: the proof the receiver checked.
    pub proof: ReceivedProof,
}

/// The proof kept with a received message, as one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceivedProof {
    /// Signed alone: a `Message` signature.
    Single {
        /// Over `Message(from, to, id, sentAt, bodyHash)`.
        signature: Signature,
    },
    /// Signed with the others of its `Deliver` under one `MessageBatch`
    /// signature over their Merkle root.
    Batch {
        /// Over `MessageBatch(from, to, root, count)`.
        signature: Signature,
        /// The root the signature covers.
        root: [u8; 32],
        /// Sibling hashes from this message's leaf to the root.
        path: Vec<[u8; 32]>,
        /// This message's leaf index and the batch's size; `None` for rows
        /// stored before schema 2 kept them (verified by this node before
        /// it acked, but not provable to a third party).
        place: Option<(u32, u32)>,
    },
}

impl ReceivedProof {
    /// What the core verified, as it keeps it.
    pub fn new(proof: MessageProof, batch_root: Option<[u8; 32]>) -> Result<Self, StoreError> {
        Ok(match proof {
            MessageProof::Single { signature } => ReceivedProof::Single { signature },
            MessageProof::Batch {
                signature,
                count,
                index,
                path,
            } => ReceivedProof::Batch {
                signature,
                root: batch_root.ok_or(StoreError::Invalid("batch proof without its root"))?,
                path,
                place: Some((index, count)),
            },
        })
    }

    /// The signature (the message's, or its batch's).
    pub fn signature(&self) -> &Signature {
        match self {
            ReceivedProof::Single { signature } | ReceivedProof::Batch { signature, .. } => {
                signature
            }
        }
    }

    /// The core's proof, which anyone checks with the sender's key
    /// (`wire::verify_stored`); `None` for a batch row without its place.
    pub fn message_proof(&self) -> Option<MessageProof> {
        match self {
            ReceivedProof::Single { signature } => Some(MessageProof::Single {
                signature: *signature,
            }),
            ReceivedProof::Batch {
                signature,
                path,
                place: Some((index, count)),
                ..
            } => Some(MessageProof::Batch {
                signature: *signature,
                count: *count,
                index: *index,
                path: path.clone(),
            }),
            ReceivedProof::Batch { place: None, .. } => None,
        }
    }
}

/// An inbox row: the message and its place in the inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    /// Monotonic position in this inbox (a cursor for `inbox --follow`).
    pub seq: i64,
    /// When this node stored it (Unix seconds).
    pub received_at: u64,
    /// The message.
    pub message: ReceivedMessage,
}

/// Whether an incoming message was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// First time seen: now in the inbox.
    New,
    /// Seen before (a resend after a lost ack): not stored again. Ack it anyway.
    Duplicate,
}

impl Store {
    /// Stores a verified message unless (from, message_id) was seen before.
    /// The caller acks only after this returns `Ok` (either variant): the
    /// row is committed, fsynced, by then.
    pub fn store_received(&self, m: &ReceivedMessage, now: u64) -> Result<Stored, StoreError> {
        Ok(self.store_received_all(std::slice::from_ref(m), now)?[0])
    }

    /// [`Store::store_received`] for several messages in one transaction
    /// (one fsync for a whole batch); all are stored or none.
    pub fn store_received_all(
        &self,
        messages: &[ReceivedMessage],
        now: u64,
    ) -> Result<Vec<Stored>, StoreError> {
        let stored = self.store_received_within(messages, now, None)?;
        Ok(stored.into_iter().flatten().collect())
    }

    /// [`Store::store_received_all`] under a quota: with `Some(quota)` the
    /// inbox holds at most `quota` messages from each message's sender
    /// (counted in the same transaction), and a message past it is not
    /// stored (`None` in its place). The quota is for strangers: a node
    /// passes `None` for a contact.
    pub fn store_received_within(
        &self,
        messages: &[ReceivedMessage],
        now: u64,
        quota: Option<usize>,
    ) -> Result<Vec<Option<Stored>>, StoreError> {
        let mut columns = Vec::with_capacity(messages.len());
        for m in messages {
            if m.body.len() > MAX_BODY_BYTES {
                return Err(StoreError::Invalid("message body above the body limit"));
            }
            if let ReceivedProof::Batch { path, .. } = &m.proof
                && path.len() > MAX_BATCH_PATH
            {
                return Err(StoreError::Invalid("batch path longer than 32"));
            }
            columns.push(self.received_columns(m)?);
        }
        self.write(|tx| {
            let mut held = std::collections::HashMap::new();
            let mut out = Vec::with_capacity(messages.len());
            for (m, cols) in messages.iter().zip(columns) {
                if let Some(quota) = quota {
                    let n = match held.get(&m.from) {
                        Some(n) => *n,
                        None => Self::inbox_count_from(tx, &cols.sender)?,
                    };
                    if n >= quota {
                        out.push(None);
                        continue;
                    }
                    let stored = Self::insert_received(tx, m, cols, now)?;
                    held.insert(m.from, n + usize::from(stored == Stored::New));
                    out.push(Some(stored));
                } else {
                    out.push(Some(Self::insert_received(tx, m, cols, now)?));
                }
            }
            Ok(out)
        })
    }

    /// Messages in the inbox whose sender column is `sender` (an ID, or
    /// its tag in a sealed store).
    fn inbox_count_from(
        tx: &rusqlite::Transaction<'_>,
        sender: &[u8; 20],
    ) -> Result<usize, StoreError> {
        let n: i64 = tx.query_row(
            "SELECT COUNT(*) FROM inbox WHERE sender = ?1",
            params![&sender[..]],
            |r| r.get(0),
        )?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    fn insert_received(
        tx: &rusqlite::Transaction<'_>,
        m: &ReceivedMessage,
        cols: ReceivedColumns,
        now: u64,
    ) -> Result<Stored, StoreError> {
        let (signature, root, path, place) = match &cols.proof {
            None => (None, None, None, None),
            Some(ReceivedProof::Single { signature }) => {
                (Some(signature.to_bytes()), None, None, None)
            }
            Some(ReceivedProof::Batch {
                signature,
                root,
                path,
                place,
            }) => (
                Some(signature.to_bytes()),
                Some(&root[..]),
                Some(path.iter().flatten().copied().collect::<Vec<u8>>()),
                *place,
            ),
        };
        let fresh = tx.execute(
            "INSERT OR IGNORE INTO dedup (sender, message_id, received_at) VALUES (?1, ?2, ?3)",
            params![&cols.sender[..], &m.message_id[..], i(now)],
        )?;
        if fresh == 0 {
            return Ok(Stored::Duplicate);
        }
        // The inbox's own UNIQUE (sender, message_id) also holds after the
        // dedup row is pruned, as long as the inbox row is kept.
        let inserted = tx.execute(
            "INSERT OR IGNORE INTO inbox (message_id, sender, recipient, sent_at, received_at,
                body, signature, batch_root, batch_path, batch_index, batch_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                &m.message_id[..],
                &cols.sender[..],
                &m.to.0[..],
                i(m.sent_at),
                i(now),
                cols.body,
                signature.as_ref().map(|s| &s[..]),
                root,
                path,
                place.map(|p| p.0),
                place.map(|p| p.1),
            ],
        )?;
        if inserted == 0 {
            return Ok(Stored::Duplicate);
        }
        super::events::append_received(tx, tx.last_insert_rowid(), now)?;
        Ok(Stored::New)
    }

    /// Which of `ids` from `sender` this store already holds (a dedup row,
    /// or an inbox row kept past it): asked before any signature is
    /// checked, so a replayed `Deliver` costs lookups, not verifications.
    pub fn seen_ids(
        &self,
        sender: &Address,
        ids: &[[u8; 16]],
    ) -> Result<std::collections::HashSet<[u8; 16]>, StoreError> {
        let sender = self.peer_column(sender);
        self.with(|conn| {
            let mut dedup =
                conn.prepare_cached("SELECT 1 FROM dedup WHERE sender = ?1 AND message_id = ?2")?;
            let mut inbox =
                conn.prepare_cached("SELECT 1 FROM inbox WHERE sender = ?1 AND message_id = ?2")?;
            let mut seen = std::collections::HashSet::new();
            for id in ids {
                let key = params![&sender[..], &id[..]];
                if dedup.exists(key)? || inbox.exists(key)? {
                    seen.insert(*id);
                }
            }
            Ok(seen)
        })
    }

    /// Inbox rows with `seq > after`, oldest first, up to `limit`. Start
    /// with `after = 0`; for `--follow` pass the last `seq` seen.
    pub fn inbox_after(&self, after: i64, limit: u32) -> Result<Vec<InboxEntry>, StoreError> {
        self.inbox_rows(
            "SELECT seq, message_id, sender, recipient, sent_at, received_at, body, signature,
                    batch_root, batch_path, batch_index, batch_count
             FROM inbox WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            after,
            limit,
        )
    }

    /// The `limit` newest inbox rows with `seq < before`, oldest first: a
    /// page back through history (`i64::MAX` for the newest).
    pub fn inbox_before(&self, before: i64, limit: u32) -> Result<Vec<InboxEntry>, StoreError> {
        let mut rows = self.inbox_rows(
            "SELECT seq, message_id, sender, recipient, sent_at, received_at, body, signature,
                    batch_root, batch_path, batch_index, batch_count
             FROM inbox WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
            before,
            limit,
        )?;
        rows.reverse();
        Ok(rows)
    }

    /// Deletes every inbox message from `sender` (a message request the
    /// user threw away); the number deleted. Their dedup records are
    /// renewed in the same transaction, so a resend of one is acked and
    /// not stored again. `secure_delete` overwrites the freed pages.
    pub fn delete_inbox_from(&self, sender: &Address, now: u64) -> Result<usize, StoreError> {
        let sender = self.peer_column(sender);
        self.write(|tx| {
            tx.execute(
                "INSERT INTO dedup (sender, message_id, received_at)
                 SELECT sender, message_id, ?2 FROM inbox WHERE sender = ?1
                 ON CONFLICT (sender, message_id) DO UPDATE SET received_at = excluded.received_at",
                params![&sender[..], i(now)],
            )?;
            Ok(tx.execute("DELETE FROM inbox WHERE sender = ?1", params![&sender[..]])?)
        })
    }

    fn inbox_rows(&self, sql: &str, bound: i64, limit: u32) -> Result<Vec<InboxEntry>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            let rows = stmt.query_map(params![bound, limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, Vec<u8>>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, rusqlite::types::Value>(6)?,
                    r.get::<_, Option<Vec<u8>>>(7)?,
                    r.get::<_, Option<Vec<u8>>>(8)?,
                    r.get::<_, Option<Vec<u8>>>(9)?,
                    r.get::<_, Option<u32>>(10)?,
                    r.get::<_, Option<u32>>(11)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, id, from, to, sent, recv, body, sig, root, path, index, count) = row?;
                let id: MessageId = fixed(id, "message id length")?;
                let (from, proof, body) = self.open_received(&id, from, body, || {
                    let path = path.unwrap_or_default();
                    stored_proof(
                        sig.ok_or(StoreError::Corrupt("inbox row without signature"))?,
                        root,
                        &path,
                        index,
                        count,
                    )
                })?;
                out.push(InboxEntry {
                    seq,
                    received_at: u(recv),
                    message: ReceivedMessage {
                        message_id: id,
                        from,
                        to: address(to)?,
                        sent_at: u(sent),
                        body,
                        proof,
                    },
                });
            }
            Ok(out)
        })
    }
}

/// A row's proof columns as one value (`Corrupt` if they do not fit).
pub(super) fn stored_proof(
    signature: Vec<u8>,
    root: Option<Vec<u8>>,
    path: &[u8],
    index: Option<u32>,
    count: Option<u32>,
) -> Result<ReceivedProof, StoreError> {
    if !path.len().is_multiple_of(32) {
        return Err(StoreError::Corrupt("batch path length"));
    }
    let signature: [u8; 65] = fixed(signature, "signature length")?;
    let signature =
        Signature::from_bytes(&signature).map_err(|_| StoreError::Corrupt("signature"))?;
    let Some(root) = root else {
        return Ok(ReceivedProof::Single { signature });
    };
    let place = match (index, count) {
        (Some(i), Some(c)) => Some((i, c)),
        (None, None) => None,
        _ => return Err(StoreError::Corrupt("batch index without count")),
    };
    Ok(ReceivedProof::Batch {
        signature,
        root: fixed(root, "batch root length")?,
        path: path
            .chunks_exact(32)
            .map(|c| fixed(c.to_vec(), "batch path"))
            .collect::<Result<_, _>>()?,
        place,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testutil::*;
    use crate::store::{DEDUP_RETENTION_SECS, Store};

    #[test]
    fn deleting_a_senders_messages_keeps_them_deduped_and_leaves_others() {
        let (_dir, s) = open();
        let mut other = received(3);
        other.from = addr(4);
        for m in [received(1), other.clone(), received(2)] {
            assert_eq!(s.store_received(&m, 60).unwrap(), Stored::New);
        }
        assert_eq!(s.delete_inbox_from(&addr(9), 70).unwrap(), 2);
        let left = s.inbox_after(0, 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].message, other);
        // A resend of a deleted message is acked, not stored again, even
        // past the retention its first receipt started.
        s.prune(60 + DEDUP_RETENTION_SECS + 5).unwrap();
        assert_eq!(
            s.store_received(&received(1), 80).unwrap(),
            Stored::Duplicate
        );
        assert_eq!(s.delete_inbox_from(&addr(9), 90).unwrap(), 0);
    }

    #[test]
    fn pages_back_through_history() {
        let (_dir, s) = open();
        for id in 1..=5 {
            s.store_received(&received(id), 60).unwrap();
        }
        let newest = s.inbox_before(i64::MAX, 2).unwrap();
        let ids: Vec<u8> = newest.iter().map(|e| e.message.message_id[0]).collect();
        assert_eq!(ids, [4, 5]);
        let older = s.inbox_before(newest[0].seq, 10).unwrap();
        let ids: Vec<u8> = older.iter().map(|e| e.message.message_id[0]).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert!(s.inbox_before(older[0].seq, 10).unwrap().is_empty());
    }

    #[test]
    fn inbox_dedup_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.db");
        {
            let s = Store::open(&path).unwrap();
            assert_eq!(s.store_received(&received(1), 60).unwrap(), Stored::New);
            assert_eq!(
                s.store_received(&received(1), 61).unwrap(),
                Stored::Duplicate
            );
        }
        let s = Store::open(&path).unwrap();
        assert_eq!(
            s.store_received(&received(1), 62).unwrap(),
            Stored::Duplicate
        );
        assert_eq!(s.store_received(&received(2), 62).unwrap(), Stored::New);
        let rows = s.inbox_after(0, 10).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].message, received(1));
        assert_eq!(rows[0].received_at, 60);
        assert_eq!(s.inbox_after(rows[0].seq, 10).unwrap().len(), 1);
        // After the dedup record is pruned, the inbox row still dedups.
        assert!(s.prune(62 + DEDUP_RETENTION_SECS + 100).unwrap() >= 2);
        assert_eq!(
            s.store_received(&received(1), 70).unwrap(),
            Stored::Duplicate
        );
    }
}
