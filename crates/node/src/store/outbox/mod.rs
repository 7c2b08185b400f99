//! The outbox: signed messages waiting for the recipient's ack, their
//! retry schedule ([`backoff`]), and how they end (delivered, rejected,
//! expired).

use std::time::Duration;

use chainmail_core::Address;
use rusqlite::params;

use super::events::{EventKind, append_outbox};
use super::{MAX_BODY_BYTES, MessageId, Store, StoreError, address, fixed, i, u};

/// State of an outbox message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    /// Not yet acked; will be retried.
    Queued,
    /// Acked by the recipient.
    Delivered,
    /// Refused for good (recipient revoked, unknown, expired).
    Rejected,
    /// Not delivered within the maximum age; no longer retried.
    Expired,
}

impl OutboxState {
    /// The lowercase name used in the database and in `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Delivered => "delivered",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "queued" => Self::Queued,
            "delivered" => Self::Delivered,
            "rejected" => Self::Rejected,
            "expired" => Self::Expired,
            _ => return Err(StoreError::Corrupt("unknown outbox state")),
        })
    }
}

/// A message to send (what goes into the outbox). It is signed when it goes
/// out, once, with the others of its `Deliver` (see `outbound::attempt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Random 128-bit id.
    pub message_id: MessageId,
    /// This identity.
    pub from: Address,
    /// The recipient.
    pub to: Address,
    /// The text.
    pub body: String,
    /// Unix seconds, as signed.
    pub sent_at: u64,
}

/// An outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The message.
    pub message: OutgoingMessage,
    /// Where it stands.
    pub state: OutboxState,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// Earliest time (Unix seconds) of the next attempt.
    pub next_attempt_at: u64,
    /// Why the last attempt failed, or why it was rejected.
    pub last_error: Option<String>,
    /// When it was queued (Unix seconds).
    pub created_at: u64,
    /// When it was delivered, rejected or expired.
    pub finished_at: Option<u64>,
}

impl Store {
    /// Puts a message in the outbox, due now.
    pub fn enqueue(&self, msg: &OutgoingMessage, now: u64) -> Result<(), StoreError> {
        if msg.body.len() > MAX_BODY_BYTES {
            return Err(StoreError::Invalid("message body above the body limit"));
        }
        let (recipient, body) = self.outgoing_columns(&msg.message_id, &msg.to, &msg.body)?;
        self.write(|tx| {
            let n = tx.execute(
                "INSERT OR IGNORE INTO outbox (message_id, sender, recipient, body, sent_at,
                    state, attempts, next_attempt_at, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'queued', 0, ?6, ?6)",
                params![
                    &msg.message_id[..],
                    &msg.from.0[..],
                    &recipient[..],
                    body,
                    i(msg.sent_at),
                    i(now)
                ],
            )?;
            if n == 0 {
                return Err(StoreError::DuplicateId);
            }
            Ok(())
        })
    }

    const OUTBOX_COLS: &'static str = "message_id, sender, recipient, body, sent_at, state,
        attempts, next_attempt_at, last_error, created_at, finished_at";

    fn outbox_row(
        &self,
        r: &rusqlite::Row<'_>,
    ) -> rusqlite::Result<Result<OutboxEntry, StoreError>> {
        let state: String = r.get(5)?;
        let raw = (
            r.get::<_, Vec<u8>>(0)?,
            r.get::<_, Vec<u8>>(1)?,
            r.get::<_, Vec<u8>>(2)?,
        );
        let (body, sent_at, attempts, next, last_error, created, finished): (
            rusqlite::types::Value,
            i64,
            i64,
            i64,
            rusqlite::types::Value,
            i64,
            Option<i64>,
        ) = (
            r.get(3)?,
            r.get(4)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
            r.get(10)?,
        );
        Ok((|| {
            let message_id = fixed(raw.0, "message id length")?;
            let (to, body) = self.open_outgoing(&message_id, raw.2, body)?;
            Ok(OutboxEntry {
                message: OutgoingMessage {
                    body,
                    message_id,
                    from: address(raw.1)?,
                    to,
                    sent_at: u(sent_at),
                },
                state: OutboxState::parse(&state)?,
                attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                next_attempt_at: u(next),
                last_error: self.open_error(&message_id, last_error)?,
                created_at: u(created),
                finished_at: finished.map(u),
            })
        })())
    }

    fn outbox_query(
        &self,
        where_clause: &str,
        p: impl rusqlite::Params,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.with(|c| {
            let sql = format!("SELECT {} FROM outbox {where_clause}", Self::OUTBOX_COLS);
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(p, |r| self.outbox_row(r))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(row??);
            }
            Ok(out)
        })
    }

    /// One outbox message by id.
    pub fn outbox_entry(&self, id: &MessageId) -> Result<Option<OutboxEntry>, StoreError> {
        Ok(self
            .outbox_query("WHERE message_id = ?1", params![&id[..]])?
            .pop())
    }

    /// Queued messages for `to`, oldest first (all of them, due or not: once
    /// a session with the peer is up, everything waiting for it goes).
    pub fn queued_for(&self, to: &Address, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_query(
            "WHERE recipient = ?1 AND state = 'queued' ORDER BY created_at, rowid LIMIT ?2",
            params![&self.peer_column(to)[..], limit],
        )
    }

    /// [`Store::queued_for`] without the message `except` (the one a
    /// `send` holds in memory, so its body is not opened straight back).
    pub fn queued_for_except(
        &self,
        to: &Address,
        limit: u32,
        except: &MessageId,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_query(
            "WHERE recipient = ?1 AND state = 'queued' AND message_id != ?3
             ORDER BY created_at, rowid LIMIT ?2",
            params![&self.peer_column(to)[..], limit, &except[..]],
        )
    }

    /// Where one outbox message stands and its last error, without opening
    /// its body; `None` if there is no such message.
    pub fn outbox_state(
        &self,
        id: &MessageId,
    ) -> Result<Option<(OutboxState, Option<String>)>, StoreError> {
        let row = self.with(|c| {
            use rusqlite::OptionalExtension;
            Ok(
                c.prepare_cached("SELECT state, last_error FROM outbox WHERE message_id = ?1")?
                    .query_row(params![&id[..]], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, rusqlite::types::Value>(1)?,
                        ))
                    })
                    .optional()?,
            )
        })?;
        row.map(|(state, error)| Ok((OutboxState::parse(&state)?, self.open_error(id, error)?)))
            .transpose()
    }

    /// Recipients that have at least one queued message due at `now`,
    /// earliest due first.
    pub fn due_peers(&self, now: u64, limit: u32) -> Result<Vec<Address>, StoreError> {
        self.with(|c| {
            // One row per recipient: SQLite takes the bare columns from the
            // row holding the MIN, whose record names the recipient (in a
            // sealed store the column holds only its tag).
            let mut stmt = c.prepare_cached(
                "SELECT recipient, MIN(next_attempt_at) AS due, message_id, body FROM outbox
                 WHERE state = 'queued' AND next_attempt_at <= ?1
                 GROUP BY recipient ORDER BY due LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![i(now), limit], |r| {
                Ok((
                    r.get::<_, Vec<u8>>(0)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, rusqlite::types::Value>(3)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (recipient, id, body) = row?;
                let id = fixed(id, "message id length")?;
                out.push(self.open_outgoing(&id, recipient, body)?.0);
            }
            Ok(out)
        })
    }

    /// Earliest `next_attempt_at` of any queued message (for the worker's
    /// sleep), or `None` when nothing is queued.
    pub fn next_due(&self) -> Result<Option<u64>, StoreError> {
        self.with(|c| {
            let v: Option<i64> = c.query_row(
                "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'queued'",
                [],
                |r| r.get(0),
            )?;
            Ok(v.map(u))
        })
    }

    /// Marks messages delivered (acked). Only queued ones change: a message
    /// already delivered stays as it was.
    /// Not fsynced on its own (see `write_relaxed`): losing it to a power
    /// cut only resends the messages, which the receiver acks again.
    pub fn mark_delivered(&self, ids: &[MessageId], now: u64) -> Result<(), StoreError> {
        self.write_relaxed(|tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET state = 'delivered', finished_at = ?2, last_error = NULL
                 WHERE message_id = ?1 AND state = 'queued'",
            )?;
            for id in ids {
                if stmt.execute(params![&id[..], i(now)])? > 0 {
                    append_outbox(tx, EventKind::Delivered, id, now)?;
                }
            }
            Ok(())
        })
    }

    /// Rejects for good every queued message to `to` (recipient revoked,
    /// unknown or expired), with the reason. Returns how many.
    pub fn reject_peer(&self, to: &Address, reason: &str, now: u64) -> Result<usize, StoreError> {
        let to = self.peer_column(to);
        self.write(|tx| {
            let ids = Self::queued_ids(tx, &to, None)?;
            self.reject_in(tx, &ids, reason, now)
        })
    }

    /// Rejects for good the queued messages `ids` (the recipient refused
    /// them, e.g. a body it does not accept), with the reason. Messages not
    /// queued (already delivered, rejected or expired) stay as they were.
    /// Returns how many changed.
    pub fn reject_messages(
        &self,
        ids: &[MessageId],
        reason: &str,
        now: u64,
    ) -> Result<usize, StoreError> {
        self.write(|tx| self.reject_in(tx, ids, reason, now))
    }

    fn reject_in(
        &self,
        tx: &rusqlite::Transaction<'_>,
        ids: &[MessageId],
        reason: &str,
        now: u64,
    ) -> Result<usize, StoreError> {
        let mut stmt = tx.prepare_cached(
            "UPDATE outbox SET state = 'rejected', last_error = ?2, finished_at = ?3
             WHERE message_id = ?1 AND state = 'queued'",
        )?;
        let reason = bounded(reason);
        let mut n = 0;
        for id in ids {
            let changed = stmt.execute(params![&id[..], self.error_value(id, &reason)?, i(now)])?;
            if changed > 0 {
                append_outbox(tx, EventKind::Rejected, id, now)?;
            }
            n += changed;
        }
        Ok(n)
    }

    /// The queued messages whose recipient column is `to`, with their
    /// attempts, those due at `due` only when given.
    fn queued_ids(
        tx: &rusqlite::Transaction<'_>,
        to: &[u8; 20],
        due: Option<u64>,
    ) -> Result<Vec<MessageId>, StoreError> {
        Ok(Self::queued_attempts(tx, to, due)?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    fn queued_attempts(
        tx: &rusqlite::Transaction<'_>,
        to: &[u8; 20],
        due: Option<u64>,
    ) -> Result<Vec<(MessageId, u32)>, StoreError> {
        let mut select = tx.prepare_cached(
            "SELECT message_id, attempts FROM outbox
             WHERE recipient = ?1 AND state = 'queued' AND next_attempt_at <= ?2",
        )?;
        let rows: Vec<(Vec<u8>, i64)> = select
            .query_map(params![&to[..], i(due.unwrap_or(u64::MAX))], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?;
        rows.into_iter()
            .map(|(id, attempts)| {
                Ok((
                    fixed(id, "message id length")?,
                    u32::try_from(attempts).unwrap_or(u32::MAX),
                ))
            })
            .collect()
    }

    /// Records a failed attempt to `to`: every queued message to it that
    /// was due gets attempts + 1 and its next attempt after [`backoff`];
    /// messages not yet due keep their schedule (an attempt made early, e.g.
    /// by a new `send`, does not inflate their backoff). All get the error.
    pub fn record_failure(&self, to: &Address, error: &str, now: u64) -> Result<(), StoreError> {
        let to = self.peer_column(to);
        let error = bounded(error);
        self.write(|tx| {
            let mut set_error =
                tx.prepare_cached("UPDATE outbox SET last_error = ?2 WHERE message_id = ?1")?;
            for id in Self::queued_ids(tx, &to, None)? {
                set_error.execute(params![&id[..], self.error_value(&id, &error)?])?;
            }
            let mut update = tx.prepare_cached(
                "UPDATE outbox SET attempts = ?2, next_attempt_at = ?3 WHERE message_id = ?1",
            )?;
            for (id, attempts) in Self::queued_attempts(tx, &to, Some(now))? {
                let attempts = attempts.saturating_add(1);
                let next = now.saturating_add(backoff(attempts).as_secs());
                update.execute(params![&id[..], attempts, i(next)])?;
            }
            Ok(())
        })
    }

    /// Marks expired every queued message created before `now - max_age`,
    /// its last error kept after the reason. Returns how many.
    pub fn expire(&self, now: u64, max_age: Duration) -> Result<usize, StoreError> {
        let cutoff = now.saturating_sub(max_age.as_secs());
        self.write(|tx| {
            let rows: Vec<(Vec<u8>, rusqlite::types::Value)> = tx
                .prepare_cached(
                    "SELECT message_id, last_error FROM outbox
                     WHERE state = 'queued' AND created_at < ?1
                     ORDER BY created_at, rowid",
                )?
                .query_map(params![i(cutoff)], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let mut update = tx.prepare_cached(
                "UPDATE outbox SET state = 'expired', finished_at = ?2, last_error = ?3
                 WHERE message_id = ?1",
            )?;
            for (id, last) in &rows {
                let id: MessageId = fixed(id.clone(), "message id length")?;
                let mut reason = format!("not delivered within {} s", max_age.as_secs());
                if let Some(last) = self.open_error(&id, last.clone())? {
                    reason.push_str("; last error: ");
                    reason.push_str(&last);
                }
                update.execute(params![&id[..], i(now), self.error_value(&id, &reason)?])?;
                append_outbox(tx, EventKind::Expired, &id, now)?;
            }
            Ok(rows.len())
        })
    }

    /// The whole outbox, newest first, up to `limit` rows.
    pub fn outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        self.outbox_query(
            "ORDER BY created_at DESC, rowid DESC LIMIT ?1",
            params![limit],
        )
    }
}

/// Bounds an error text stored in the outbox (it may quote a peer).
fn bounded(s: &str) -> String {
    s.chars().take(500).collect()
}

/// Delay before attempt number `attempts + 1` after `attempts` failures:
/// 5 s doubling to at most one hour. Deterministic so tests can predict it;
/// the outbox worker spreads its wake-ups anyway, one peer at a time.
pub fn backoff(attempts: u32) -> Duration {
    const BASE: u64 = 5;
    const CAP: u64 = 3600;
    let exp = attempts.saturating_sub(1).min(20);
    Duration::from_secs((BASE << exp).min(CAP))
}

#[cfg(test)]
mod tests;
