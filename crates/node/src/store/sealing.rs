//! The sealed form of store rows: which values a sealed store encrypts
//! with its [`StoreKey`](crate::seal::StoreKey), bound to which row, and
//! resealing rows written in clear. The cryptography is in [`crate::seal`].
//!
//! In a sealed store no row names a peer or carries anything that would
//! let a reader of the file test a guess at a body: an outbox row seals
//! `recipient ‖ body`, an inbox row `sender ‖ signature ‖ batch proof ‖
//! body`, and every peer column (outbox recipient, inbox sender, dedup,
//! replay cache) holds the peer's keyed tag ([`StoreKey::peer_tag`]), so
//! one peer's rows still group and dedup without saying who the peer is.
//! Delivery errors (`last_error`, which name the peer) are sealed too.
//! What stays in clear: message ids, times, states, this identity's own ID,
//! and sizes to [`PAD`](crate::seal::PAD) bytes.

use chainmail_core::{Address, Signature};
use rusqlite::params;
use rusqlite::types::Value;
use zeroize::Zeroizing;

use super::inbox::{ReceivedMessage, ReceivedProof};
use super::{MAX_BATCH_PATH, MessageId, Store, StoreError, address, fixed};
use crate::seal::{INBOX, OUTBOX, SealError, StoreKey};

impl Store {
    /// Whether this store seals bodies and contacts.
    pub fn is_sealed(&self) -> bool {
        self.seal.is_some()
    }

    /// Writes a consistent copy of the whole store to `path` (which must not
    /// exist), e.g. for `export --with-messages`. Sealed values stay sealed.
    pub fn snapshot_to(&self, path: &std::path::Path) -> Result<(), StoreError> {
        let target = path
            .to_str()
            .ok_or(StoreError::Invalid("snapshot path is not UTF-8"))?
            .to_owned();
        self.with(|c| {
            c.execute("VACUUM INTO ?1", [target])?;
            Ok(())
        })
    }

    /// Brings every row to the sealed form, once per store (`meta`
    /// records it): rows written in clear (an unsealed store, now opened
    /// with a key) and rows of the first sealed form (body sealed, sender,
    /// signature and proof in clear) are resealed, and every peer column
    /// (outbox recipient, inbox sender, dedup, replay cache) gets the peer's
    /// tag. Then the file is rewritten (`VACUUM`) and the WAL emptied, so no
    /// freed page keeps the old cleartext. Returns how many rows changed.
    pub(crate) fn seal_legacy_rows(&self) -> Result<usize, StoreError> {
        let Some(key) = self.seal.clone() else {
            return Ok(0);
        };
        let n = self.write(|tx| {
            if peers_tagged(tx)? {
                return Ok(0);
            }
            let mut n = 0;
            let outbox: Vec<FirstFormOutboxRow> = {
                let mut stmt =
                    tx.prepare("SELECT message_id, recipient, body, last_error FROM outbox")?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                    .collect::<Result<_, _>>()?
            };
            for (id, to, body, error) in outbox {
                let id: MessageId = fixed(id, "message id length")?;
                let to = address(to)?;
                let body = open_first_form(&key, OUTBOX, &id, &to, body)?;
                let tag = key.peer_tag(&to);
                let sealed = key.seal(OUTBOX, &row_key(&id, &tag), &outgoing_record(&to, &body))?;
                let error = match error {
                    Some(e) => Value::Blob(key.seal(OUTBOX_ERROR, &id, e.as_bytes())?),
                    None => Value::Null,
                };
                tx.execute(
                    "UPDATE outbox SET recipient = ?1, body = ?2, last_error = ?3
                     WHERE message_id = ?4",
                    params![&tag[..], sealed, error, &id[..]],
                )?;
                n += 1;
            }
            let inbox: Vec<InboxColumns> = {
                let mut stmt = tx.prepare(
                    "SELECT seq, message_id, sender, body, signature, batch_root, batch_path,
                            batch_index, batch_count FROM inbox",
                )?;
                stmt.query_map([], |r| {
                    Ok(InboxColumns {
                        seq: r.get(0)?,
                        message_id: r.get(1)?,
                        sender: r.get(2)?,
                        body: r.get(3)?,
                        signature: r.get(4)?,
                        root: r.get(5)?,
                        path: r.get(6)?,
                        index: r.get(7)?,
                        count: r.get(8)?,
                    })
                })?
                .collect::<Result<_, _>>()?
            };
            for row in inbox {
                let id: MessageId = fixed(row.message_id, "message id length")?;
                let from = address(row.sender)?;
                let body = open_first_form(&key, INBOX, &id, &from, row.body)?;
                let proof = super::inbox::stored_proof(
                    row.signature.ok_or(StoreError::Corrupt("inbox row without signature"))?,
                    row.root,
                    &row.path.unwrap_or_default(),
                    row.index,
                    row.count,
                )?;
                let tag = key.peer_tag(&from);
                let sealed = key.seal(
                    INBOX,
                    &row_key(&id, &tag),
                    &received_record(&from, &proof, &body),
                )?;
                tx.execute(
                    "UPDATE inbox SET sender = ?1, body = ?2, signature = NULL, batch_root = NULL,
                        batch_path = NULL, batch_index = NULL, batch_count = NULL
                     WHERE seq = ?3",
                    params![&tag[..], sealed, row.seq],
                )?;
                n += 1;
            }
            for (table, peer_col, other_col, time_col) in [
                ("dedup", "sender", "message_id", "received_at"),
                ("replay_cache", "initiator", "ephemeral_hash", "expires_at"),
            ] {
                let rows: Vec<(Vec<u8>, Vec<u8>, i64)> = {
                    let mut stmt =
                        tx.prepare(&format!("SELECT {peer_col}, {other_col}, {time_col} FROM {table}"))?;
                    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<Result<_, _>>()?
                };
                tx.execute(&format!("DELETE FROM {table}"), [])?;
                let mut insert = tx.prepare(&format!(
                    "INSERT OR IGNORE INTO {table} ({peer_col}, {other_col}, {time_col}) VALUES (?1, ?2, ?3)"
                ))?;
                for (peer, other, time) in rows {
                    let tag = key.peer_tag(&address(peer)?);
                    insert.execute(params![&tag[..], other, time])?;
                    n += 1;
                }
            }
            // Peers found revoked (an unsealed store keeps their ID in clear).
            let revoked: Vec<(i64, Vec<u8>)> = {
                let mut stmt = tx.prepare("SELECT id, peer FROM revoked_peers")?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?
            };
            for (row, peer) in revoked {
                let peer = address(peer)?;
                let tag = key.peer_tag(&peer);
                let sealed = key.seal(super::events::REVOKED, &tag, &peer.0)?;
                tx.execute(
                    "UPDATE revoked_peers SET lookup = ?1, peer = ?2 WHERE id = ?3",
                    params![&tag[..], sealed, row],
                )?;
                n += 1;
            }
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('peers_tagged', 1)",
                [],
            )?;
            Ok(n)
        })?;
        if n > 0 {
            // Freed pages and old WAL frames may still hold the cleartext
            // (secure_delete zeroes what is deleted from now on, not what an
            // UPDATE moved before): rewrite the file, then empty the WAL.
            self.with(|c| {
                c.execute_batch("VACUUM;")?;
                let _: (i64, i64, i64) =
                    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?;
                Ok(())
            })?;
        }
        Ok(n)
    }

    /// Refuses to open a store whose rows are sealed without its key.
    pub(crate) fn check_not_sealed(&self) -> Result<(), StoreError> {
        if self.seal.is_none() && self.with(|c| peers_tagged(c))? {
            return Err(SealError::NoKey.into());
        }
        Ok(())
    }

    /// How many messages the inbox and the outbox hold.
    pub fn counts(&self) -> Result<(u64, u64), StoreError> {
        self.with(|c| {
            let inbox: i64 = c.query_row("SELECT COUNT(*) FROM inbox", [], |r| r.get(0))?;
            let outbox: i64 = c.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
            Ok((inbox.max(0) as u64, outbox.max(0) as u64))
        })
    }

    /// What stands for `peer` in this store's peer columns: its tag in a
    /// sealed store, the ID itself in an unsealed one.
    pub(crate) fn peer_column(&self, peer: &Address) -> [u8; 20] {
        match &self.seal {
            Some(key) => key.peer_tag(peer),
            None => peer.0,
        }
    }

    /// An outgoing message's `(recipient, body)` columns: in a sealed store
    /// the recipient's tag and the sealed `to ‖ body`, else both in clear.
    pub(crate) fn outgoing_columns(
        &self,
        message_id: &MessageId,
        to: &Address,
        body: &str,
    ) -> Result<([u8; 20], Value), StoreError> {
        Ok(match &self.seal {
            Some(key) => {
                let tag = key.peer_tag(to);
                let record = Zeroizing::new(outgoing_record(to, body));
                (
                    tag,
                    Value::Blob(key.seal(OUTBOX, &row_key(message_id, &tag), &record)?),
                )
            }
            None => (to.0, Value::Text(body.to_owned())),
        })
    }

    /// The recipient and body of an outbox row.
    pub(crate) fn open_outgoing(
        &self,
        message_id: &MessageId,
        recipient: Vec<u8>,
        body: Value,
    ) -> Result<(Address, String), StoreError> {
        match body {
            Value::Text(t) => Ok((address(recipient)?, t)),
            Value::Blob(b) => {
                let key = self.seal.as_ref().ok_or(SealError::NoKey)?;
                let tag: [u8; 20] = fixed(recipient, "recipient tag length")?;
                let plain = Zeroizing::new(key.open(OUTBOX, &row_key(message_id, &tag), &b)?);
                let (to, body) = plain
                    .split_first_chunk::<20>()
                    .ok_or(StoreError::Corrupt("sealed outbox record"))?;
                let to = Address(*to);
                if key.peer_tag(&to) != tag {
                    return Err(StoreError::Corrupt(
                        "outbox recipient does not match its tag",
                    ));
                }
                Ok((to, utf8(body)?))
            }
            _ => Err(StoreError::Corrupt("message body type")),
        }
    }

    /// An outbox row's `last_error` as stored: sealed (bound to the message
    /// id) in a sealed store — delivery errors name the peer and its
    /// endpoint — else in clear.
    pub(crate) fn error_value(
        &self,
        message_id: &MessageId,
        text: &str,
    ) -> Result<Value, StoreError> {
        Ok(match &self.seal {
            Some(key) => Value::Blob(key.seal(OUTBOX_ERROR, message_id, text.as_bytes())?),
            None => Value::Text(text.to_owned()),
        })
    }

    /// An outbox row's `last_error`, opened.
    pub(crate) fn open_error(
        &self,
        message_id: &MessageId,
        value: Value,
    ) -> Result<Option<String>, StoreError> {
        match value {
            Value::Null => Ok(None),
            Value::Text(t) => Ok(Some(t)),
            Value::Blob(b) => {
                let key = self.seal.as_ref().ok_or(SealError::NoKey)?;
                Ok(Some(utf8(&key.open(OUTBOX_ERROR, message_id, &b)?)?))
            }
            _ => Err(StoreError::Corrupt("outbox error type")),
        }
    }

    /// A received message's columns: in a sealed store the sender's tag, the
    /// sealed `from ‖ proof ‖ body`, and no proof columns; else all in clear.
    pub(crate) fn received_columns(
        &self,
        m: &ReceivedMessage,
    ) -> Result<ReceivedColumns, StoreError> {
        Ok(match &self.seal {
            Some(key) => {
                let tag = key.peer_tag(&m.from);
                let record = Zeroizing::new(received_record(&m.from, &m.proof, &m.body));
                ReceivedColumns {
                    sender: tag,
                    body: Value::Blob(key.seal(INBOX, &row_key(&m.message_id, &tag), &record)?),
                    proof: None,
                }
            }
            None => ReceivedColumns {
                sender: m.from.0,
                body: Value::Text(m.body.clone()),
                proof: Some(m.proof.clone()),
            },
        })
    }

    /// The sender, proof and body of an inbox row; `clear_proof` reads the
    /// proof columns of a row stored in clear.
    pub(crate) fn open_received(
        &self,
        message_id: &MessageId,
        sender: Vec<u8>,
        body: Value,
        clear_proof: impl FnOnce() -> Result<ReceivedProof, StoreError>,
    ) -> Result<(Address, ReceivedProof, String), StoreError> {
        match body {
            Value::Text(t) => Ok((address(sender)?, clear_proof()?, t)),
            Value::Blob(b) => {
                let key = self.seal.as_ref().ok_or(SealError::NoKey)?;
                let tag: [u8; 20] = fixed(sender, "sender tag length")?;
                let plain = Zeroizing::new(key.open(INBOX, &row_key(message_id, &tag), &b)?);
                let (from, proof, body) = parse_received_record(&plain)?;
                if key.peer_tag(&from) != tag {
                    return Err(StoreError::Corrupt("inbox sender does not match its tag"));
                }
                Ok((from, proof, body))
            }
            _ => Err(StoreError::Corrupt("message body type")),
        }
    }
}

/// The columns a received message is stored under (see
/// [`Store::received_columns`]).
pub(crate) struct ReceivedColumns {
    /// The sender's ID, or its tag.
    pub sender: [u8; 20],
    /// The body in clear, or the sealed record.
    pub body: Value,
    /// The proof for the clear columns; `None` when sealed in `body`.
    pub proof: Option<ReceivedProof>,
}

/// An outbox row as read for resealing: id, recipient, body, last error.
type FirstFormOutboxRow = (Vec<u8>, Vec<u8>, Value, Option<String>);

/// An inbox row as read for resealing.
struct InboxColumns {
    seq: i64,
    message_id: Vec<u8>,
    sender: Vec<u8>,
    body: Value,
    signature: Option<Vec<u8>>,
    root: Option<Vec<u8>>,
    path: Option<Vec<u8>>,
    index: Option<u32>,
    count: Option<u32>,
}

/// Whether this store's peer columns hold tags (`meta.peers_tagged`).
fn peers_tagged(c: &rusqlite::Connection) -> Result<bool, StoreError> {
    use rusqlite::OptionalExtension;
    let v: Option<i64> = c
        .query_row(
            "SELECT value FROM meta WHERE key = 'peers_tagged'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(v == Some(1))
}

/// A body from a row written before peers were tagged: in clear (TEXT), or
/// sealed alone under the row key `message_id ‖ peer ID` (BLOB).
fn open_first_form(
    key: &StoreKey,
    table: &str,
    message_id: &MessageId,
    peer: &Address,
    value: Value,
) -> Result<String, StoreError> {
    match value {
        Value::Text(t) => Ok(t),
        Value::Blob(b) => utf8(&key.open(table, &row_key(message_id, &peer.0), &b)?),
        _ => Err(StoreError::Corrupt("message body type")),
    }
}

fn utf8(b: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(b.to_vec()).map_err(|_| StoreError::Corrupt("sealed body is not UTF-8"))
}

/// A sealed outbox row's plaintext: `to (20) ‖ body`.
fn outgoing_record(to: &Address, body: &str) -> Vec<u8> {
    let mut r = Vec::with_capacity(20 + body.len());
    r.extend_from_slice(&to.0);
    r.extend_from_slice(body.as_bytes());
    r
}

/// Table label (AAD) of a sealed outbox `last_error`.
const OUTBOX_ERROR: &str = "outbox-error";

// Kinds of proof in a sealed inbox record.
const SINGLE: u8 = 0;
const BATCH_UNPLACED: u8 = 1;
const BATCH: u8 = 2;

/// A sealed inbox row's plaintext: `from (20) ‖ signature (65) ‖ kind (1)
/// ‖ [root (32) ‖ (index u32 LE ‖ count u32 LE, kind 2 only) ‖ n (1) ‖
/// path (32·n)] ‖ body`, kind 0 single, 1 batch without its place, 2 batch.
fn received_record(from: &Address, proof: &ReceivedProof, body: &str) -> Vec<u8> {
    let mut r = Vec::with_capacity(20 + 65 + 1 + 32 + 9 + 32 * MAX_BATCH_PATH + body.len());
    r.extend_from_slice(&from.0);
    r.extend_from_slice(&proof.signature().to_bytes());
    match proof {
        ReceivedProof::Single { .. } => r.push(SINGLE),
        ReceivedProof::Batch {
            root, path, place, ..
        } => {
            match place {
                Some((index, count)) => {
                    r.push(BATCH);
                    r.extend_from_slice(root);
                    r.extend_from_slice(&index.to_le_bytes());
                    r.extend_from_slice(&count.to_le_bytes());
                }
                None => {
                    r.push(BATCH_UNPLACED);
                    r.extend_from_slice(root);
                }
            }
            // The store refuses longer paths before sealing.
            r.push(u8::try_from(path.len()).unwrap_or(u8::MAX));
            for h in path {
                r.extend_from_slice(h);
            }
        }
    }
    r.extend_from_slice(body.as_bytes());
    r
}

fn parse_received_record(r: &[u8]) -> Result<(Address, ReceivedProof, String), StoreError> {
    const BAD: StoreError = StoreError::Corrupt("sealed inbox record");
    let (from, r) = r.split_first_chunk::<20>().ok_or(BAD)?;
    let (sig, r) = r.split_first_chunk::<65>().ok_or(BAD)?;
    let signature = Signature::from_bytes(sig).map_err(|_| StoreError::Corrupt("signature"))?;
    let (kind, r) = r.split_first().ok_or(BAD)?;
    let (proof, r) = match *kind {
        SINGLE => (ReceivedProof::Single { signature }, r),
        BATCH_UNPLACED | BATCH => {
            let (root, mut r) = r.split_first_chunk::<32>().ok_or(BAD)?;
            let mut place = None;
            if *kind == BATCH {
                let (index, rest) = r.split_first_chunk::<4>().ok_or(BAD)?;
                let (count, rest) = rest.split_first_chunk::<4>().ok_or(BAD)?;
                place = Some((u32::from_le_bytes(*index), u32::from_le_bytes(*count)));
                r = rest;
            }
            let (n, r) = r.split_first().ok_or(BAD)?;
            let n = usize::from(*n);
            if n > MAX_BATCH_PATH || r.len() < 32 * n {
                return Err(BAD);
            }
            let (path, r) = r.split_at(32 * n);
            let path = path
                .chunks_exact(32)
                .map(|c| fixed(c.to_vec(), "batch path"))
                .collect::<Result<_, _>>()?;
            (
                ReceivedProof::Batch {
                    signature,
                    root: *root,
                    path,
                    place,
                },
                r,
            )
        }
        _ => return Err(BAD),
    };
    Ok((Address(*from), proof, utf8(r)?))
}

/// The AAD row key: `message_id ‖ peer column` (the tag in a sealed store).
fn row_key(message_id: &MessageId, peer: &[u8; 20]) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..16].copy_from_slice(message_id);
    k[16..].copy_from_slice(peer);
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{OutboxState, OutgoingMessage, ReceivedMessage, Stored};
    use chainmail_core::SecretKey;

    fn me() -> SecretKey {
        SecretKey::from_bytes(&[5; 32]).unwrap()
    }

    fn peer(n: u8) -> Address {
        SecretKey::from_bytes(&[n; 32]).unwrap().address()
    }

    /// A batch-signed message from `from`, and the byte strings no reader
    /// of a sealed store may find: its sender, signature, root and path.
    fn batch_message(id: u8, from: Address) -> (ReceivedMessage, Vec<Vec<u8>>) {
        let signature = SecretKey::from_bytes(&[id; 32])
            .unwrap()
            .sign_digest(&[id; 32]);
        let (root, path) = ([id.wrapping_add(100); 32], vec![[id.wrapping_add(150); 32]]);
        let secrets = vec![
            from.0.to_vec(),
            signature.to_bytes().to_vec(),
            root.to_vec(),
            path[0].to_vec(),
            format!("body of message {id}").into_bytes(),
        ];
        let m = ReceivedMessage {
            message_id: [id; 16],
            from,
            to: me().address(),
            sent_at: 50,
            body: format!("body of message {id}"),
            proof: ReceivedProof::Batch {
                signature,
                root,
                path,
                place: Some((0, 2)),
            },
        };
        (m, secrets)
    }

    fn outgoing(id: u8, to: Address) -> OutgoingMessage {
        OutgoingMessage {
            message_id: [id; 16],
            from: me().address(),
            to,
            body: format!("body of message {id}"),
            sent_at: 1,
        }
    }

    /// Every needle absent from the store file and its WAL (read while the
    /// store is open, then again after it closed).
    fn assert_absent(dir: &std::path::Path, needles: &[Vec<u8>], when: &str) {
        let mut bytes = std::fs::read(dir.join("s.db")).unwrap();
        if let Ok(wal) = std::fs::read(dir.join("s.db-wal")) {
            bytes.extend(wal);
        }
        for needle in needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == &needle[..]),
                "{when}: {} found in the store",
                hex::encode(needle)
            );
        }
    }

    /// Writes, in `store`, a message of each kind to and from `p`.
    fn fill(s: &Store, p: Address, base: u8) -> Vec<Vec<u8>> {
        s.enqueue(&outgoing(base, p), 1).unwrap();
        s.enqueue(&outgoing(base + 5, p), 1).unwrap();
        // Errors name the peer (as delivery errors do).
        s.record_failure(&p, &format!("cannot reach {p} at host-{base}.example"), 1)
            .unwrap();
        assert_eq!(
            s.reject_messages(&[[base + 5; 16]], &format!("{p} refused it"), 1)
                .unwrap(),
            1
        );
        let (m, mut needles) = batch_message(base + 1, p);
        assert_eq!(s.store_received(&m, 2).unwrap(), Stored::New);
        assert!(s.check_and_insert_replay(&p, &[base; 32], 10_000).unwrap());
        needles.push(outgoing(base, p).body.into_bytes());
        needles.push(p.to_string().into_bytes());
        needles.push(hex::encode(p.0).into_bytes());
        needles.push(format!("host-{base}.example").into_bytes());
        needles
    }

    #[test]
    fn a_sealed_store_names_no_peer_and_keeps_no_signature_in_clear() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let s = Store::open_sealed(&path, StoreKey::derive(&me())).unwrap();
        let (p, q) = (peer(40), peer(41));
        let mut needles = fill(&s, p, 1);
        needles.extend(fill(&s, q, 11));
        assert_absent(dir.path(), &needles, "open");
        // Everything still works on tags: grouping, dedup, per-peer reads.
        assert_eq!(s.queued_for(&p, 10).unwrap()[0].message.to, p);
        assert_eq!(s.due_peers(100, 10).unwrap().len(), 2);
        assert!(s.due_peers(100, 10).unwrap().contains(&q));
        let (m, _) = batch_message(2, p);
        assert_eq!(s.store_received(&m, 3).unwrap(), Stored::Duplicate);
        assert_eq!(s.seen_ids(&p, &[[2; 16], [12; 16]]).unwrap().len(), 1);
        assert!(!s.check_and_insert_replay(&p, &[1; 32], 10_000).unwrap());
        let rows = s.inbox_after(0, 10).unwrap();
        assert_eq!(rows[0].message, m);
        s.record_failure(&q, "unreachable", 5).unwrap();
        assert_eq!(s.reject_peer(&p, "revoked", 6).unwrap(), 1);
        assert_eq!(
            s.outbox_entry(&[11; 16]).unwrap().unwrap().state,
            OutboxState::Queued
        );
        assert_eq!(
            s.store_received_within(&[batch_message(3, p).0], 7, Some(1))
                .unwrap(),
            vec![None],
            "the quota counts p's one message under its tag"
        );
        drop(s);
        assert_absent(dir.path(), &needles, "closed");
        // Without its key the store is refused, not read half-sealed.
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::Sealed(SealError::NoKey))
        ));
    }

    #[test]
    fn a_store_of_the_first_sealed_form_is_resealed_with_nothing_left_behind() {
        // Schema 4 as released: bodies sealed under `message_id ‖ peer ID`,
        // sender, signature and batch proof in clear; plus a store written
        // wholly in clear (no key). Both open sealed with nothing of the old
        // rows left in the file or the WAL.
        for first_form_sealed in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s.db");
            let key = StoreKey::derive(&me());
            let p = peer(40);
            let (m, mut needles) = batch_message(2, p);
            {
                let mut c = rusqlite::Connection::open(&path).unwrap();
                c.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
                    .unwrap();
                let tx = c.transaction().unwrap();
                for sql in &crate::store::MIGRATIONS[..4] {
                    tx.execute_batch(sql).unwrap();
                }
                tx.pragma_update(None, "user_version", 4).unwrap();
                let body = |table, id: &[u8; 16], text: &str| -> Value {
                    if first_form_sealed {
                        Value::Blob(
                            key.seal(table, &row_key(id, &p.0), text.as_bytes())
                                .unwrap(),
                        )
                    } else {
                        Value::Text(text.to_owned())
                    }
                };
                tx.execute(
                    "INSERT INTO outbox (message_id, sender, recipient, body, sent_at, state,
                        attempts, next_attempt_at, created_at)
                     VALUES (?1, ?2, ?3, ?4, 1, 'queued', 0, 1, 1)",
                    params![
                        &[1u8; 16][..],
                        &me().address().0[..],
                        &p.0[..],
                        body(OUTBOX, &[1; 16], "body of message 1")
                    ],
                )
                .unwrap();
                let ReceivedProof::Batch {
                    signature,
                    root,
                    path: batch_path,
                    ..
                } = &m.proof
                else {
                    unreachable!()
                };
                tx.execute(
                    "INSERT INTO inbox (message_id, sender, recipient, sent_at, received_at, body,
                        signature, batch_root, batch_path, batch_index, batch_count)
                     VALUES (?1, ?2, ?3, 50, 2, ?4, ?5, ?6, ?7, 0, 2)",
                    params![
                        &m.message_id[..],
                        &p.0[..],
                        &m.to.0[..],
                        body(INBOX, &m.message_id, &m.body),
                        &signature.to_bytes()[..],
                        &root[..],
                        &batch_path[0][..]
                    ],
                )
                .unwrap();
                tx.execute(
                    "INSERT INTO dedup (sender, message_id, received_at) VALUES (?1, ?2, 2)",
                    params![&p.0[..], &m.message_id[..]],
                )
                .unwrap();
                tx.execute(
                    "INSERT INTO replay_cache (initiator, ephemeral_hash, expires_at)
                     VALUES (?1, ?2, 10000)",
                    params![&p.0[..], &[3u8; 32][..]],
                )
                .unwrap();
                tx.commit().unwrap();
            }
            needles.push(b"body of message 1".to_vec());
            let s = Store::open_sealed(&path, StoreKey::derive(&me())).unwrap();
            assert_absent(dir.path(), &needles, "migrated, open");
            let out = &s.outbox(10).unwrap()[0].message;
            assert_eq!((out.to, out.body.as_str()), (p, "body of message 1"));
            assert_eq!(s.inbox_after(0, 10).unwrap()[0].message, m);
            assert_eq!(s.store_received(&m, 3).unwrap(), Stored::Duplicate);
            assert!(!s.check_and_insert_replay(&p, &[3; 32], 10_000).unwrap());
            assert_eq!(s.due_peers(5, 10).unwrap(), vec![p]);
            drop(s);
            assert_absent(dir.path(), &needles, "migrated, closed");
            // Opening again changes nothing (the conversion ran once).
            let s = Store::open_sealed(&path, StoreKey::derive(&me())).unwrap();
            assert_eq!(s.inbox_after(0, 10).unwrap()[0].message, m);
        }
    }

    #[test]
    fn a_row_moved_to_another_peer_does_not_open() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_sealed(&dir.path().join("s.db"), StoreKey::derive(&me())).unwrap();
        fill(&s, peer(40), 1);
        let other = s.peer_column(&peer(41));
        s.with(|c| {
            c.execute("UPDATE inbox SET sender = ?1", params![&other[..]])?;
            Ok(())
        })
        .unwrap();
        assert!(matches!(
            s.inbox_after(0, 10),
            Err(StoreError::Sealed(SealError::WrongKeyOrTampered))
        ));
    }

    #[test]
    fn sealed_inbox_records_round_trip_and_truncations_are_refused() {
        let from = peer(40);
        let single = ReceivedProof::Single {
            signature: me().sign_digest(&[1; 32]),
        };
        let unplaced = ReceivedProof::Batch {
            signature: me().sign_digest(&[2; 32]),
            root: [3; 32],
            path: vec![[4; 32]; MAX_BATCH_PATH],
            place: None,
        };
        for proof in [single, unplaced, batch_message(7, from).0.proof] {
            let r = received_record(&from, &proof, "héllo");
            let (f, p, b) = parse_received_record(&r).unwrap();
            assert_eq!((f, &p, b.as_str()), (from, &proof, "héllo"));
            // Every cut inside the fixed part is refused; cuts in the body
            // either parse (to a shorter body) or are refused, never panic.
            for n in 0..r.len() {
                let _ = parse_received_record(&r[..n]);
            }
            assert!(parse_received_record(&r[..85]).is_err());
        }
        let mut r = received_record(&from, &batch_message(7, from).0.proof, "");
        r[85] = 9;
        assert!(parse_received_record(&r).is_err(), "unknown kind");
    }
}
