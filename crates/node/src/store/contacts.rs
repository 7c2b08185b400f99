//! Contacts: local names for IDs, whether each was verified out of band,
//! and whether it is blocked. Names are local, never on chain.
//!
//! In a sealed store (see `seal`) a row is `(HMAC(lookup key, ID), sealed
//! record)`: the file shows how many contacts there are, not who they are
//! or what they are called. The node asks [`Store::admits`] for every
//! authenticated session request, before any chain call.

use chainmail_core::Address;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::store::{Store, StoreError};

/// Longest contact name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Most contacts (and blocked IDs) one store keeps: names are resolved by
/// opening every record, so the count is bounded.
pub const MAX_CONTACTS: usize = 10_000;
/// Largest sealed or plain record read back (a real one is < 300 bytes).
const MAX_RECORD: usize = 4096;

/// One contact (or a blocked stranger, which has no name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The ID.
    pub id: Address,
    /// The local name; `None` for an ID that is only blocked.
    pub name: Option<String>,
    /// Marked verified by the user (safety number compared out of band).
    pub verified: bool,
    /// Sessions from this ID are refused at the handshake.
    pub blocked: bool,
    /// When it was added (Unix seconds).
    pub added_at: u64,
}

/// Why a name is not acceptable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Empty or only spaces.
    #[error("a contact name cannot be empty")]
    Empty,
    /// Longer than [`MAX_NAME_CHARS`].
    #[error("a contact name is at most 64 characters")]
    TooLong,
    /// Control characters or line breaks.
    #[error("a contact name cannot hold control characters")]
    Control,
    /// Looks like an ID (starts with `0x`, or 40 hex digits): it would be
    /// ambiguous where IDs are taken.
    #[error("a contact name cannot look like an ID (start with 0x, or be 40 hex digits)")]
    LooksLikeId,
}

/// Checks a contact name: 1–64 characters, no control characters, not
/// ID-shaped, no leading or trailing spaces.
pub fn check_name(name: &str) -> Result<(), NameError> {
    if name.trim().is_empty() {
        return Err(NameError::Empty);
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong);
    }
    if name.chars().any(char::is_control) || name.trim() != name {
        return Err(NameError::Control);
    }
    // Where an ID or a name is taken, `0x…` and 40 hex digits are read as
    // IDs (so a typo in an ID is reported as one, not as an unknown name).
    let hex40 = name.len() == 40 && name.chars().all(|c| c.is_ascii_hexdigit());
    if name.starts_with("0x") || name.starts_with("0X") || hex40 {
        return Err(NameError::LooksLikeId);
    }
    Ok(())
}

const TABLE: &str = "contacts";

impl Store {
    fn contact_lookup(&self, id: &Address) -> Vec<u8> {
        match &self.seal {
            Some(k) => k.lookup(id).to_vec(),
            None => id.0.to_vec(),
        }
    }

    fn seal_contact(&self, lookup: &[u8], c: &Contact) -> Result<Vec<u8>, StoreError> {
        let plain = serde_json::to_vec(c).map_err(|_| StoreError::Invalid("contact record"))?;
        Ok(match &self.seal {
            Some(k) => k.seal(TABLE, lookup, &plain)?,
            None => plain,
        })
    }

    fn open_contact(&self, lookup: &[u8], record: &[u8]) -> Result<Contact, StoreError> {
        if record.len() > MAX_RECORD {
            return Err(StoreError::Corrupt("contact record too large"));
        }
        let plain = match &self.seal {
            Some(k) => k.open(TABLE, lookup, record)?,
            None => record.to_vec(),
        };
        serde_json::from_slice(&plain).map_err(|_| StoreError::Corrupt("contact record"))
    }

    /// The contact record of `id`, if any.
    pub fn contact(&self, id: &Address) -> Result<Option<Contact>, StoreError> {
        let lookup = self.contact_lookup(id);
        let record: Option<Vec<u8>> = self.with(|c| {
            Ok(c.query_row(
                "SELECT record FROM contacts WHERE lookup = ?1",
                params![lookup],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        record.map(|r| self.open_contact(&lookup, &r)).transpose()
    }

    /// Every contact and blocked ID, named ones first by name.
    pub fn contacts(&self) -> Result<Vec<Contact>, StoreError> {
        let rows: Vec<(Vec<u8>, Vec<u8>)> = self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT lookup, record FROM contacts LIMIT ?1")?;
            let rows = stmt
                .query_map(params![MAX_CONTACTS as i64], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })?;
        let mut out = rows
            .iter()
            .map(|(l, r)| self.open_contact(l, r))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| {
            (
                a.name.is_none(),
                a.name.as_deref().map(str::to_lowercase),
                a.id.0,
            )
                .cmp(&(
                    b.name.is_none(),
                    b.name.as_deref().map(str::to_lowercase),
                    b.id.0,
                ))
        });
        Ok(out)
    }

    /// The contact named `name` (names are unique, compared exactly).
    pub fn contact_named(&self, name: &str) -> Result<Option<Contact>, StoreError> {
        Ok(self
            .contacts()?
            .into_iter()
            .find(|c| c.name.as_deref() == Some(name)))
    }

    /// Writes `contact` (replacing the record of the same ID). Refuses a
    /// name another ID already has, and more than [`MAX_CONTACTS`] records.
    pub fn put_contact(&self, contact: &Contact) -> Result<(), StoreError> {
        if let Some(name) = &contact.name {
            check_name(name).map_err(|_| StoreError::Invalid("contact name"))?;
        }
        let lookup = self.contact_lookup(&contact.id);
        let record = self.seal_contact(&lookup, contact)?;
        // The name check reads inside the write transaction (IMMEDIATE: it
        // holds the write lock from its start), so two writers, in this
        // process or another, cannot both give one name to two IDs.
        self.write(|tx| {
            if let Some(name) = &contact.name
                && self.name_taken_in(tx, name, &contact.id)?
            {
                return Err(StoreError::Invalid("contact name already used"));
            }
            let exists: bool = tx
                .query_row(
                    "SELECT 1 FROM contacts WHERE lookup = ?1",
                    params![lookup],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !exists {
                let n: i64 = tx.query_row("SELECT COUNT(*) FROM contacts", [], |r| r.get(0))?;
                if n >= MAX_CONTACTS as i64 {
                    return Err(StoreError::Invalid("too many contacts (10 000)"));
                }
            }
            tx.execute(
                "INSERT OR REPLACE INTO contacts (lookup, record) VALUES (?1, ?2)",
                params![lookup, record],
            )?;
            Ok(())
        })
    }

    /// Whether an ID other than `id` has the name `name`, read in `tx`
    /// (records are sealed: each is opened to compare).
    fn name_taken_in(
        &self,
        tx: &rusqlite::Transaction<'_>,
        name: &str,
        id: &Address,
    ) -> Result<bool, StoreError> {
        let mut stmt = tx.prepare_cached("SELECT lookup, record FROM contacts LIMIT ?1")?;
        let rows = stmt.query_map(params![MAX_CONTACTS as i64], |r| {
            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?))
        })?;
        for row in rows {
            let (lookup, record) = row?;
            let other = self.open_contact(&lookup, &record)?;
            if other.name.as_deref() == Some(name) && other.id != *id {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Forgets `id` entirely (name, verified mark, block). Returns whether
    /// there was a record.
    pub fn remove_contact(&self, id: &Address) -> Result<bool, StoreError> {
        let lookup = self.contact_lookup(id);
        self.write(|tx| {
            Ok(tx.execute("DELETE FROM contacts WHERE lookup = ?1", params![lookup])? > 0)
        })
    }

    /// Whether a session request from `id` is accepted: never when blocked;
    /// with `contacts_only`, only from a named, unblocked contact.
    pub fn admits(&self, id: &Address, contacts_only: bool) -> Result<bool, StoreError> {
        Ok(match self.contact(id)? {
            Some(c) => !c.blocked && (c.name.is_some() || !contacts_only),
            None => !contacts_only,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chainmail_core::SecretKey;

    fn contact(b: u8, name: Option<&str>) -> Contact {
        Contact {
            id: Address([b; 20]),
            name: name.map(str::to_owned),
            verified: false,
            blocked: false,
            added_at: 1,
        }
    }

    fn stores() -> (tempfile::TempDir, Vec<Store>) {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::seal::StoreKey::derive(&SecretKey::from_bytes(&[3; 32]).unwrap());
        let sealed = Store::open_sealed(&dir.path().join("s.db"), key).unwrap();
        let plain = Store::open(&dir.path().join("p.db")).unwrap();
        (dir, vec![sealed, plain])
    }

    #[test]
    fn add_find_rename_remove() {
        let (_d, stores) = stores();
        for s in stores {
            s.put_contact(&contact(1, Some("alice"))).unwrap();
            s.put_contact(&contact(2, Some("bob"))).unwrap();
            assert_eq!(
                s.contact_named("alice").unwrap().unwrap().id,
                Address([1; 20])
            );
            assert!(s.contact_named("Alice").unwrap().is_none());
            // The same name for another ID is refused; renaming is fine.
            assert!(s.put_contact(&contact(3, Some("alice"))).is_err());
            s.put_contact(&contact(1, Some("alicia"))).unwrap();
            assert_eq!(s.contacts().unwrap().len(), 2);
            assert!(s.remove_contact(&Address([1; 20])).unwrap());
            assert!(!s.remove_contact(&Address([1; 20])).unwrap());
            assert!(s.contact(&Address([1; 20])).unwrap().is_none());
        }
    }

    #[test]
    fn one_name_for_one_id_across_processes() {
        // Many writers, each with its own connection to one file (as
        // separate processes would be), give one name to different IDs at
        // once: exactly one wins. The check must be in the write
        // transaction; read before it, several see the name free.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("race.db");
        Store::open(&path).unwrap();
        for round in 0..10u8 {
            let name = format!("name{round}");
            let writers = 8u8;
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(writers as usize));
            let handles: Vec<_> = (0..writers)
                .map(|w| {
                    let (path, name, barrier) = (path.clone(), name.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        let s = Store::open(&path).unwrap();
                        barrier.wait();
                        s.put_contact(&contact(round * writers + w + 1, Some(&name)))
                    })
                })
                .collect();
            let won = handles
                .into_iter()
                .map(|h| h.join().unwrap())
                .filter(Result::is_ok)
                .count();
            let s = Store::open(&path).unwrap();
            let holders = s
                .contacts()
                .unwrap()
                .into_iter()
                .filter(|c| c.name.as_deref() == Some(name.as_str()))
                .count();
            assert_eq!((won, holders), (1, 1), "round {round}");
        }
    }

    #[test]
    fn admission() {
        let (_d, stores) = stores();
        for s in stores {
            let stranger = Address([9; 20]);
            assert!(s.admits(&stranger, false).unwrap());
            assert!(!s.admits(&stranger, true).unwrap());
            s.put_contact(&contact(1, Some("alice"))).unwrap();
            assert!(s.admits(&Address([1; 20]), true).unwrap());
            let mut blocked = contact(1, Some("alice"));
            blocked.blocked = true;
            s.put_contact(&blocked).unwrap();
            assert!(!s.admits(&Address([1; 20]), false).unwrap());
            let mut nameless = contact(5, None);
            nameless.blocked = true;
            s.put_contact(&nameless).unwrap();
            assert!(!s.admits(&Address([5; 20]), false).unwrap());
        }
    }

    #[test]
    fn sealed_rows_hide_names_and_ids() {
        let (d, _stores) = stores();
        let path = d.path().join("s.db");
        drop(_stores);
        let key = crate::seal::StoreKey::derive(&SecretKey::from_bytes(&[3; 32]).unwrap());
        let s = Store::open_sealed(&path, key).unwrap();
        s.put_contact(&contact(0xab, Some("zanzibar-contact")))
            .unwrap();
        drop(s);
        let mut bytes = std::fs::read(&path).unwrap();
        if let Ok(wal) = std::fs::read(d.path().join("s.db-wal")) {
            bytes.extend(wal);
        }
        assert!(!bytes.windows(16).any(|w| w == b"zanzibar-contact"));
        assert!(!bytes.windows(20).any(|w| w == [0xab; 20]));
        // Another identity's key does not open it.
        let other = crate::seal::StoreKey::derive(&SecretKey::from_bytes(&[4; 32]).unwrap());
        let s = Store::open_sealed(&path, other).unwrap();
        assert!(s.contacts().is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("alice").is_ok());
        assert!(check_name("Zoë ♥").is_ok());
        assert_eq!(check_name(""), Err(NameError::Empty));
        assert_eq!(check_name("   "), Err(NameError::Empty));
        assert_eq!(check_name(" a"), Err(NameError::Control));
        assert_eq!(check_name("a\nb"), Err(NameError::Control));
        assert_eq!(check_name("a\u{1b}[31m"), Err(NameError::Control));
        assert_eq!(check_name(&"x".repeat(65)), Err(NameError::TooLong));
        assert_eq!(
            check_name("0x5FbDB2315678afecb367f032d93F642f64180aa3"),
            Err(NameError::LooksLikeId)
        );
        assert_eq!(check_name("0xbob"), Err(NameError::LooksLikeId));
        assert_eq!(
            check_name("5FbDB2315678afecb367f032d93F642f64180aa3"),
            Err(NameError::LooksLikeId)
        );
    }
}
