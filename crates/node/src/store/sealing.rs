//! The sealed form of store rows: which values a sealed store encrypts
//! with its [`StoreKey`](crate::seal::StoreKey), bound to which row, and
//! resealing rows written in clear. The cryptography is in [`crate::seal`].

use chainmail_core::Address;

use crate::seal::{INBOX, OUTBOX, SealError};

impl crate::store::Store {
    /// Whether this store seals bodies and contacts.
    pub fn is_sealed(&self) -> bool {
        self.seal.is_some()
    }

    /// Writes a consistent copy of the whole store to `path` (which must not
    /// exist), e.g. for `export --with-messages`. Sealed values stay sealed.
    pub fn snapshot_to(&self, path: &std::path::Path) -> Result<(), crate::store::StoreError> {
        let target = path
            .to_str()
            .ok_or(crate::store::StoreError::Invalid(
                "snapshot path is not UTF-8",
            ))?
            .to_owned();
        self.with(|c| {
            c.execute("VACUUM INTO ?1", [target])?;
            Ok(())
        })
    }

    /// Seals the bodies still stored in clear (rows written before the
    /// store was sealed), in one transaction; `secure_delete` overwrites the
    /// old text. Returns how many rows were sealed.
    pub(crate) fn reseal_legacy(&self) -> Result<usize, crate::store::StoreError> {
        let Some(key) = self.seal.clone() else {
            return Ok(0);
        };
        self.write(|tx| {
            let mut n = 0;
            for (table, peer_col, key_col) in [
                (OUTBOX, "recipient", "message_id"),
                (INBOX, "sender", "seq"),
            ] {
                let rows: Vec<(rusqlite::types::Value, Vec<u8>, Vec<u8>, String)> = {
                    let mut stmt = tx.prepare(&format!(
                        "SELECT {key_col}, message_id, {peer_col}, body FROM {table}
                         WHERE typeof(body) = 'text'"
                    ))?;
                    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                        .collect::<Result<_, _>>()?
                };
                for (row, id, peer, body) in rows {
                    let id: [u8; 16] = id
                        .try_into()
                        .map_err(|_| crate::store::StoreError::Corrupt("message id length"))?;
                    let peer = Address(
                        peer.try_into()
                            .map_err(|_| crate::store::StoreError::Corrupt("address length"))?,
                    );
                    let sealed = key.seal(table, &row_key(&id, &peer), body.as_bytes())?;
                    tx.execute(
                        &format!("UPDATE {table} SET body = ?1 WHERE {key_col} = ?2"),
                        rusqlite::params![sealed, row],
                    )?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// How many messages the inbox and the outbox hold.
    pub fn counts(&self) -> Result<(u64, u64), crate::store::StoreError> {
        self.with(|c| {
            let inbox: i64 = c.query_row("SELECT COUNT(*) FROM inbox", [], |r| r.get(0))?;
            let outbox: i64 = c.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
            Ok((inbox.max(0) as u64, outbox.max(0) as u64))
        })
    }

    /// A body as it goes into the database: sealed (a BLOB bound to the row
    /// `message_id ‖ peer`) when the store has a key, else the text itself.
    pub(crate) fn seal_body(
        &self,
        table: &str,
        message_id: &[u8; 16],
        peer: &Address,
        body: &str,
    ) -> Result<rusqlite::types::Value, crate::store::StoreError> {
        use rusqlite::types::Value;
        Ok(match &self.seal {
            Some(key) => {
                Value::Blob(key.seal(table, &row_key(message_id, peer), body.as_bytes())?)
            }
            None => Value::Text(body.to_owned()),
        })
    }

    /// The body of a row: a BLOB is opened with the key, a TEXT (a row from
    /// before sealing, or an unsealed store) is returned as it is.
    pub(crate) fn open_body(
        &self,
        table: &str,
        message_id: &[u8; 16],
        peer: &Address,
        value: rusqlite::types::Value,
    ) -> Result<String, crate::store::StoreError> {
        use crate::store::StoreError;
        use rusqlite::types::Value;
        match value {
            Value::Text(t) => Ok(t),
            Value::Blob(b) => {
                let key = self.seal.as_ref().ok_or(SealError::WrongKeyOrTampered)?;
                let plain = key.open(table, &row_key(message_id, peer), &b)?;
                String::from_utf8(plain)
                    .map_err(|_| StoreError::Corrupt("sealed body is not UTF-8"))
            }
            _ => Err(StoreError::Corrupt("message body type")),
        }
    }
}

fn row_key(message_id: &[u8; 16], peer: &Address) -> [u8; 36] {
    let mut k = [0u8; 36];
    k[..16].copy_from_slice(message_id);
    k[16..].copy_from_slice(&peer.0);
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seal::StoreKey;
    use chainmail_core::SecretKey;

    #[test]
    fn a_store_written_in_clear_is_sealed_when_opened_with_a_key() {
        use crate::store::{OutgoingMessage, ReceivedMessage, Store};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let secret = SecretKey::from_bytes(&[5; 32]).unwrap();
        {
            let s = Store::open(&path).unwrap();
            s.enqueue(
                &OutgoingMessage {
                    message_id: [1; 16],
                    from: secret.address(),
                    to: Address([2; 20]),
                    body: "legacy-outgoing-cleartext".into(),
                    sent_at: 1,
                },
                1,
            )
            .unwrap();
            s.store_received(
                &ReceivedMessage {
                    message_id: [3; 16],
                    from: Address([2; 20]),
                    to: secret.address(),
                    sent_at: 1,
                    body: "legacy-incoming-cleartext".into(),
                    proof: crate::store::ReceivedProof::Single {
                        signature: secret.sign_digest(&[3; 32]),
                    },
                },
                2,
            )
            .unwrap();
        }
        let s = Store::open_sealed(&path, StoreKey::derive(&secret)).unwrap();
        assert_eq!(
            s.outbox(10).unwrap()[0].message.body,
            "legacy-outgoing-cleartext"
        );
        assert_eq!(
            s.inbox_after(0, 10).unwrap()[0].message.body,
            "legacy-incoming-cleartext"
        );
        drop(s);
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(dir.path().join("s.db-wal")) {
            bytes.extend(wal);
        }
        for needle in ["legacy-outgoing-cleartext", "legacy-incoming-cleartext"] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle}"
            );
        }
        // Opened without the key, the sealed rows are refused, not garbled.
        assert!(Store::open(&path).unwrap().inbox_after(0, 10).is_err());
    }
}
