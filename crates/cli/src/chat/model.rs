//! What the chat shows and how keys change it, with no terminal and no
//! socket: the conversations, the selection and focus, the composer, the
//! screen on top. Keys turn into [`Action`]s for the driver to carry out on
//! the daemon; what the daemon answers and streams comes back through the
//! `on_*` methods. Everything here is a plain state machine, tested without
//! a terminal.

use std::collections::BTreeMap;

use chainmail_core::wire::MAX_BODY;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use crate::output::{ContactReport, MessageReport, OutboxMessageReport, SendReport, VerifyReport};

/// The most messages kept per conversation (older ones are paged in again
/// from the daemon when scrolled to).
pub const MAX_LINES: usize = 5_000;

/// A peer as the list shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerInfo {
    /// EIP-55 ID.
    pub id: String,
    /// The local contact name (None: a stranger).
    pub name: Option<String>,
    /// Marked verified (the safety numbers were compared).
    pub verified: bool,
    /// Blocked.
    pub blocked: bool,
    /// Found revoked on the chain while the chat ran.
    pub revoked: bool,
}

/// Where a message stands, as words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    /// Received from the peer (verified by the daemon).
    Received,
    /// Handed to the daemon, no answer yet.
    Sending,
    /// In the outbox; the daemon retries (the reason of the last failure).
    Queued(Option<String>),
    /// Published to the peer's mailbox, no receipt yet.
    AtMailbox,
    /// Acknowledged by the peer.
    Delivered,
    /// Refused for good, with why.
    Rejected(Option<String>),
    /// Not delivered within the outbox's maximum age.
    Expired,
}

impl State {
    /// The word shown beside an own message.
    pub fn word(&self) -> &'static str {
        match self {
            State::Received => "",
            State::Sending => "sending",
            State::Queued(_) => "queued",
            State::AtMailbox => "at mailbox",
            State::Delivered => "delivered",
            State::Rejected(_) => "rejected",
            State::Expired => "expired",
        }
    }

    /// Later states replace earlier ones, never the other way round (an
    /// event may overtake the answer to `send`).
    fn rank(&self) -> u8 {
        match self {
            State::Received | State::Sending => 0,
            State::Queued(_) => 1,
            State::AtMailbox => 2,
            State::Delivered | State::Rejected(_) | State::Expired => 3,
        }
    }

    fn from_outbox(status: &str, reason: Option<String>) -> State {
        match status {
            "delivered" => State::Delivered,
            "rejected" => State::Rejected(reason),
            "expired" => State::Expired,
            "at_mailbox" => State::AtMailbox,
            _ => State::Queued(reason),
        }
    }
}

/// Which message a line is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LineKey {
    /// A message the daemon named (0x + 32 hex).
    Message(String),
    /// An own message whose `send` has not answered yet.
    Pending(u64),
}

/// One message in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// Which message.
    pub key: LineKey,
    /// Sent by this identity.
    pub mine: bool,
    /// Unix seconds: received (theirs) or queued (mine).
    pub at: u64,
    /// The text, as the peer sent it (escaped only when drawn).
    pub body: String,
    /// Where it stands.
    pub state: State,
}

/// The messages with one peer, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    /// Oldest first.
    pub lines: Vec<Line>,
    /// Received while not open.
    pub unread: usize,
    /// Holds a message the peer sent (a stranger's makes it a request).
    pub has_received: bool,
}

impl Conversation {
    fn last_at(&self) -> u64 {
        self.lines.last().map_or(0, |l| l.at)
    }

    /// Inserts `line` in time order (or updates the one with its key).
    fn upsert(&mut self, line: Line) -> bool {
        if let Some(old) = self.lines.iter_mut().find(|l| l.key == line.key) {
            if line.state.rank() >= old.state.rank() {
                old.state = line.state;
            }
            return false;
        }
        let at = self.lines.partition_point(|l| l.at <= line.at);
        self.lines.insert(at, line);
        if self.lines.len() > MAX_LINES {
            self.lines.remove(0);
        }
        true
    }
}

/// Which pane has the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The conversation list.
    List,
    /// The messages of the open conversation (scrolling).
    Messages,
    /// The composer.
    Composer,
}

/// A screen over the panes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlay {
    /// The keys.
    Help,
    /// The safety number (and its QR code, when it fits) of a peer.
    Safety {
        /// The daemon's answer.
        report: VerifyReport,
        /// The QR code's text rows.
        qr: Option<String>,
    },
    /// Naming a stranger to accept their request.
    Accept {
        /// The stranger.
        id: String,
        /// The name typed so far.
        name: String,
    },
    /// Confirming that a request's messages are deleted.
    Delete {
        /// The stranger.
        id: String,
    },
}

/// One line at the bottom: what just happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// An error (shown as such) or information.
    pub error: bool,
    /// The text (may hold peer text: escaped when drawn).
    pub text: String,
}

/// What the driver must do on the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `send` (`local` names the pending line).
    Send {
        /// The pending line.
        local: u64,
        /// The recipient's ID.
        to: String,
        /// The text.
        body: String,
    },
    /// `contacts.add`.
    Accept {
        /// The name.
        name: String,
        /// The ID.
        id: String,
    },
    /// `contacts.block`.
    Block {
        /// The ID.
        id: String,
    },
    /// `inbox.delete`.
    Delete {
        /// The ID.
        id: String,
    },
    /// `contacts.verify`.
    Verify {
        /// The ID.
        id: String,
    },
    /// `safety_number`.
    SafetyNumber {
        /// The ID.
        id: String,
    },
    /// `inbox` with `before`.
    LoadOlder {
        /// The oldest inbox `seq` held.
        before: i64,
    },
    /// Leave.
    Quit,
}

/// A row of the conversation list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Row {
    /// A section title.
    Title(&'static str),
    /// A conversation (by peer ID).
    Peer(String),
}

/// The whole chat.
#[derive(Debug)]
pub struct Chat {
    /// This identity's ID.
    pub me: String,
    /// The chain the daemon serves.
    pub chain: String,
    /// Peers by ID: contacts, blocked IDs, anyone a message was exchanged with.
    pub peers: BTreeMap<String, PeerInfo>,
    /// Conversations by peer ID.
    pub conversations: BTreeMap<String, Conversation>,
    /// The selected list row's peer.
    pub selected: Option<String>,
    /// The open conversation's peer.
    pub open: Option<String>,
    /// Who has the keys.
    pub focus: Focus,
    /// The message being typed.
    pub composer: String,
    /// Rows scrolled up from the newest in the messages pane.
    pub scroll: usize,
    /// The screen on top, if any.
    pub overlay: Option<Overlay>,
    /// The bottom line.
    pub notice: Option<Notice>,
    /// Paging back through the inbox.
    pub history: History,
    /// Today, `YYYY-MM-DD` (UTC): times of today's messages omit the date.
    pub today: String,
    next_local: u64,
}

/// How far back the inbox is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// What `inbox` takes as `before` for the page further back.
    pub before: i64,
    /// Whether older messages may remain.
    pub more: bool,
    /// A page is being read.
    pub loading: bool,
}

impl Chat {
    /// An empty chat for `me` on `chain`.
    pub fn new(me: String, chain: String, today: String) -> Chat {
        Chat {
            me,
            chain,
            peers: BTreeMap::new(),
            conversations: BTreeMap::new(),
            selected: None,
            open: None,
            focus: Focus::List,
            composer: String::new(),
            scroll: 0,
            overlay: None,
            notice: None,
            history: History {
                before: i64::MAX,
                more: true,
                loading: false,
            },
            today,
            next_local: 1,
        }
    }

    /// The peer's name for display: the contact name or a short ID.
    pub fn display_name(&self, id: &str) -> String {
        match self.peers.get(id).and_then(|p| p.name.clone()) {
            Some(name) => name,
            None => short_id(id),
        }
    }

    /// The list: chats (contacts, and strangers this identity wrote to),
    /// newest first, then message requests (strangers who wrote).
    pub fn rows(&self) -> Vec<Row> {
        let mut chats = Vec::new();
        let mut requests = Vec::new();
        let mut ids: Vec<&String> = self
            .peers
            .iter()
            .filter(|(id, p)| p.name.is_some() || self.conversations.contains_key(*id))
            .map(|(id, _)| id)
            .collect();
        ids.sort_by_key(|id| {
            let last = self.conversations.get(*id).map_or(0, Conversation::last_at);
            (
                std::cmp::Reverse(last),
                self.peers[*id].name.clone().unwrap_or_default(),
            )
        });
        for id in ids {
            let p = &self.peers[id];
            let c = self.conversations.get(id);
            if p.name.is_some() {
                chats.push(Row::Peer(id.clone()));
            } else if p.blocked {
                continue;
            } else if c.is_some_and(|c| c.has_received) {
                requests.push(Row::Peer(id.clone()));
            } else {
                chats.push(Row::Peer(id.clone()));
            }
        }
        let mut rows = vec![Row::Title("Chats")];
        rows.extend(chats);
        if !requests.is_empty() {
            rows.push(Row::Title("Requests"));
            rows.extend(requests);
        }
        rows
    }

    /// Whether `id` is a stranger whose messages are a request.
    pub fn is_request(&self, id: &str) -> bool {
        let p = self.peers.get(id);
        p.is_none_or(|p| p.name.is_none() && !p.blocked)
            && self.conversations.get(id).is_some_and(|c| c.has_received)
    }

    fn peer_mut(&mut self, id: &str) -> &mut PeerInfo {
        self.peers.entry(id.to_owned()).or_insert_with(|| PeerInfo {
            id: id.to_owned(),
            ..PeerInfo::default()
        })
    }

    // ---- what the daemon says ------------------------------------------

    /// The contact list (replaces names, marks and blocks).
    pub fn on_contacts(&mut self, contacts: Vec<ContactReport>) {
        for p in self.peers.values_mut() {
            p.name = None;
            p.verified = false;
            p.blocked = false;
        }
        for c in contacts {
            let p = self.peer_mut(&c.id);
            p.name = c.name;
            p.verified = c.verified;
            p.blocked = c.blocked;
        }
        if self.selected.is_none() {
            self.selected = self.first_peer();
        }
    }

    /// A received message, loaded (`live` false) or streamed as it
    /// arrived (`live`: it counts as unread unless its conversation is
    /// open); each is kept once (by sender and message id).
    pub fn on_received(&mut self, m: MessageReport, live: bool) {
        if let Some(name) = &m.contact {
            self.peer_mut(&m.from).name = Some(name.clone());
        } else {
            self.peer_mut(&m.from);
        }
        let open = self.open.as_deref() == Some(m.from.as_str());
        let c = self.conversations.entry(m.from.clone()).or_default();
        c.has_received = true;
        let fresh = c.upsert(Line {
            key: LineKey::Message(m.message_id),
            mine: false,
            at: m.received_at,
            body: m.body,
            state: State::Received,
        });
        if fresh && !open && live {
            c.unread += 1;
        }
        if self.selected.is_none() {
            self.selected = Some(m.from);
        }
    }

    /// An outbox message (loaded, or an event: delivered, rejected, expired).
    pub fn on_outbox(&mut self, m: OutboxMessageReport) {
        self.peer_mut(&m.to);
        let state = State::from_outbox(&m.status, m.reason);
        self.conversations
            .entry(m.to.clone())
            .or_default()
            .upsert(Line {
                key: LineKey::Message(m.message_id),
                mine: true,
                at: m.created_at,
                body: m.body,
                state,
            });
    }

    /// The answer to [`Action::Send`].
    pub fn on_sent(&mut self, local: u64, to: &str, result: Result<SendReport, String>) {
        let Some(c) = self.conversations.get_mut(to) else {
            return;
        };
        let Some(i) = c
            .lines
            .iter()
            .position(|l| l.key == LineKey::Pending(local))
        else {
            return;
        };
        match result {
            Ok(r) => {
                let state = State::from_outbox(&r.status, r.reason.clone());
                let key = LineKey::Message(r.message_id);
                if let Some(j) = c.lines.iter().position(|l| l.key == key) {
                    // An event about it came first: keep that line.
                    c.lines.remove(i);
                    let j = if j > i { j - 1 } else { j };
                    if state.rank() >= c.lines[j].state.rank() {
                        c.lines[j].state = state;
                    }
                } else {
                    c.lines[i].key = key;
                    c.lines[i].state = state;
                }
                if let Some(reason) = r.reason.filter(|_| r.status == "rejected") {
                    self.notice = Some(Notice {
                        error: true,
                        text: format!("not delivered: {reason}"),
                    });
                }
            }
            Err(e) => {
                // Nothing was stored: give the text back to retry.
                let line = c.lines.remove(i);
                if self.composer.is_empty() {
                    self.composer = line.body;
                }
                self.notice = Some(Notice {
                    error: true,
                    text: format!("not sent: {e}"),
                });
            }
        }
    }

    /// A page of older messages (`next_before`: what to ask for next).
    pub fn on_older(&mut self, messages: Vec<MessageReport>, next_before: i64) {
        let more = !messages.is_empty() && next_before < self.history.before;
        for m in messages {
            self.on_received(m, false);
        }
        self.history = History {
            before: self.history.before.min(next_before),
            more,
            loading: false,
        };
    }

    /// The peer was found revoked.
    pub fn on_revoked(&mut self, id: &str) {
        self.peer_mut(id).revoked = true;
        self.notice = Some(Notice {
            error: true,
            text: format!(
                "{} is revoked on the chain (its key may be stolen): messages to it are refused",
                self.display_name(id)
            ),
        });
    }

    /// A request's messages were deleted.
    pub fn on_deleted(&mut self, id: &str) {
        if let Some(c) = self.conversations.get_mut(id) {
            c.lines.retain(|l| l.mine);
            c.has_received = false;
            c.unread = 0;
            if c.lines.is_empty() {
                self.conversations.remove(id);
            }
        }
        if self.open.as_deref() == Some(id) {
            self.open = None;
            self.focus = Focus::List;
        }
        if self.selected.as_deref() == Some(id) {
            self.selected = self.first_peer();
        }
        self.info("request deleted");
    }

    /// The safety number arrived.
    pub fn on_safety(&mut self, report: VerifyReport, qr: Option<String>) {
        self.overlay = Some(Overlay::Safety { report, qr });
    }

    /// A line of information at the bottom.
    pub fn info(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            error: false,
            text: text.into(),
        });
    }

    /// A line of error at the bottom.
    pub fn error(&mut self, text: impl Into<String>) {
        self.notice = Some(Notice {
            error: true,
            text: text.into(),
        });
    }

    // ---- keys ------------------------------------------------------------

    /// Opens the conversation with `id` (composer focused).
    pub fn open_conversation(&mut self, id: &str) {
        self.peer_mut(id);
        self.conversations.entry(id.to_owned()).or_default().unread = 0;
        self.open = Some(id.to_owned());
        self.selected = Some(id.to_owned());
        self.focus = Focus::Composer;
        self.scroll = 0;
    }

    fn first_peer(&self) -> Option<String> {
        self.rows().into_iter().find_map(|r| match r {
            Row::Peer(id) => Some(id),
            Row::Title(_) => None,
        })
    }

    fn move_selection(&mut self, down: bool) {
        let peers: Vec<String> = self
            .rows()
            .into_iter()
            .filter_map(|r| match r {
                Row::Peer(id) => Some(id),
                Row::Title(_) => None,
            })
            .collect();
        if peers.is_empty() {
            return;
        }
        let at = self
            .selected
            .as_ref()
            .and_then(|s| peers.iter().position(|p| p == s));
        let next = match (at, down) {
            (None, _) => 0,
            (Some(i), true) => (i + 1).min(peers.len() - 1),
            (Some(i), false) => i.saturating_sub(1),
        };
        self.selected = Some(peers[next].clone());
    }

    /// Handles a key; what the daemon must do, if anything.
    pub fn on_key(&mut self, key: KeyEvent) -> Option<Action> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return Some(Action::Quit);
        }
        // A notice stays until the next key; then the key hints return.
        self.notice = None;
        if let Some(overlay) = self.overlay.take() {
            return self.overlay_key(overlay, key);
        }
        match self.focus {
            Focus::Composer => self.composer_key(key),
            Focus::List | Focus::Messages => self.pane_key(key),
        }
    }

    fn overlay_key(&mut self, overlay: Overlay, key: KeyEvent) -> Option<Action> {
        match overlay {
            Overlay::Help => None,
            Overlay::Safety { report, qr } => match key.code {
                KeyCode::Char('m') if !report.verified => Some(Action::Verify { id: report.peer }),
                KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => None,
                _ => {
                    self.overlay = Some(Overlay::Safety { report, qr });
                    None
                }
            },
            Overlay::Accept { id, mut name } => match key.code {
                KeyCode::Esc => None,
                KeyCode::Enter if !name.trim().is_empty() => Some(Action::Accept {
                    name: name.trim().to_owned(),
                    id,
                }),
                KeyCode::Backspace => {
                    name.pop();
                    self.overlay = Some(Overlay::Accept { id, name });
                    None
                }
                KeyCode::Char(c) if !c.is_control() && name.len() < 64 => {
                    name.push(c);
                    self.overlay = Some(Overlay::Accept { id, name });
                    None
                }
                _ => {
                    self.overlay = Some(Overlay::Accept { id, name });
                    None
                }
            },
            Overlay::Delete { id } => match key.code {
                KeyCode::Char('y') => Some(Action::Delete { id }),
                _ => None,
            },
        }
    }

    fn composer_key(&mut self, key: KeyEvent) -> Option<Action> {
        match key.code {
            KeyCode::Esc => {
                self.focus = Focus::List;
                None
            }
            KeyCode::Tab => {
                self.focus = Focus::List;
                None
            }
            KeyCode::Enter => self.submit(),
            KeyCode::Backspace => {
                self.composer.pop();
                None
            }
            KeyCode::PageUp | KeyCode::Up => {
                self.scroll_by(if key.code == KeyCode::Up { 1 } else { 10 })
            }
            KeyCode::PageDown | KeyCode::Down => {
                self.scroll =
                    self.scroll
                        .saturating_sub(if key.code == KeyCode::Down { 1 } else { 10 });
                None
            }
            KeyCode::Char(c) => {
                // Bounded: a paste of a book stops at twice the body limit
                // (the limit itself is checked, and shown, on Enter).
                if self.composer.len() < 2 * MAX_BODY && !c.is_control() {
                    self.composer.push(c);
                }
                None
            }
            _ => None,
        }
    }

    fn submit(&mut self) -> Option<Action> {
        let to = self.open.clone()?;
        if self.composer.trim().is_empty() {
            return None;
        }
        let len = self.composer.len();
        if len > MAX_BODY {
            self.error(format!(
                "too long: {len} bytes; a message holds at most {MAX_BODY} bytes — shorten it"
            ));
            return None;
        }
        let body = std::mem::take(&mut self.composer);
        let local = self.next_local;
        self.next_local += 1;
        let at = self.conversations.get(&to).map_or(0, Conversation::last_at);
        self.conversations
            .entry(to.clone())
            .or_default()
            .lines
            .push(Line {
                key: LineKey::Pending(local),
                mine: true,
                at,
                body: body.clone(),
                state: State::Sending,
            });
        self.scroll = 0;
        self.notice = None;
        Some(Action::Send { local, to, body })
    }

    fn scroll_by(&mut self, rows: usize) -> Option<Action> {
        self.scroll = self.scroll.saturating_add(rows);
        let h = self.history;
        if !h.more || h.loading {
            return None;
        }
        self.history.loading = true;
        Some(Action::LoadOlder { before: h.before })
    }

    fn pane_key(&mut self, key: KeyEvent) -> Option<Action> {
        let target = match self.focus {
            Focus::Messages => self.open.clone(),
            _ => self.selected.clone(),
        };
        match key.code {
            KeyCode::Char('q') => return Some(Action::Quit),
            KeyCode::Char('?') => self.overlay = Some(Overlay::Help),
            KeyCode::Tab => {
                self.focus = match (self.focus, self.open.is_some()) {
                    (Focus::List, true) => Focus::Messages,
                    (Focus::Messages, _) => Focus::Composer,
                    _ => Focus::List,
                }
            }
            KeyCode::Esc => self.focus = Focus::List,
            KeyCode::Char('v') => return target.map(|id| Action::SafetyNumber { id }),
            KeyCode::Char('b') => {
                if let Some(id) = target {
                    if self.peers.get(&id).is_some_and(|p| p.blocked) {
                        self.info("already blocked (`chainmail contact unblock` lifts it)");
                    } else {
                        return Some(Action::Block { id });
                    }
                }
            }
            KeyCode::Char('a') => match target {
                Some(id) if self.is_request(&id) => {
                    self.overlay = Some(Overlay::Accept {
                        id,
                        name: String::new(),
                    })
                }
                Some(_) => self.info("only a message request is accepted"),
                None => {}
            },
            KeyCode::Char('d') => match target {
                Some(id) if self.is_request(&id) => self.overlay = Some(Overlay::Delete { id }),
                Some(_) => self.info("only a message request is deleted here"),
                None => {}
            },
            _ if self.focus == Focus::Messages => match key.code {
                KeyCode::Up | KeyCode::Char('k') => return self.scroll_by(1),
                KeyCode::PageUp => return self.scroll_by(10),
                KeyCode::Down | KeyCode::Char('j') => self.scroll = self.scroll.saturating_sub(1),
                KeyCode::PageDown => self.scroll = self.scroll.saturating_sub(10),
                KeyCode::Enter | KeyCode::Char('i') => self.focus = Focus::Composer,
                _ => {}
            },
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(false),
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(true),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
                if let Some(id) = self.selected.clone() {
                    self.open_conversation(&id);
                }
            }
            _ => {}
        }
        None
    }
}

/// `0x1234…abcd`.
pub fn short_id(id: &str) -> String {
    match (id.get(..6), id.get(id.len().saturating_sub(4)..)) {
        (Some(head), Some(tail)) if id.len() > 10 => format!("{head}…{tail}"),
        _ => id.to_owned(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const BOB: &str = "0x00000000000000000000000000000000000000B0";
    pub const EVE: &str = "0x00000000000000000000000000000000000000E0";

    pub fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    pub fn typed(chat: &mut Chat, text: &str) -> Option<Action> {
        let mut last = None;
        for c in text.chars() {
            last = chat.on_key(key(KeyCode::Char(c)));
        }
        last
    }

    pub fn received(from: &str, id: u8, body: &str, contact: Option<&str>) -> MessageReport {
        MessageReport {
            message_id: format!("0x{:032x}", id),
            from: from.into(),
            to: "0x00000000000000000000000000000000000000A0".into(),
            sent_at: 1_000 + u64::from(id),
            received_at: 1_000 + u64::from(id),
            body: body.into(),
            signature: String::new(),
            batch_root: None,
            batch_path: None,
            contact: contact.map(Into::into),
            batch_index: None,
            batch_count: None,
        }
    }

    pub fn outbox(to: &str, id: &str, status: &str, at: u64) -> OutboxMessageReport {
        OutboxMessageReport {
            message_id: id.into(),
            to: to.into(),
            status: status.into(),
            reason: None,
            attempts: 0,
            created_at: at,
            next_attempt_at: None,
            finished_at: None,
            body: "mine".into(),
        }
    }

    pub fn contact(id: &str, name: &str, verified: bool) -> ContactReport {
        ContactReport {
            id: id.into(),
            name: Some(name.into()),
            verified,
            blocked: false,
            added_at: 0,
            action: "",
        }
    }

    pub fn chat() -> Chat {
        let mut c = Chat::new(
            "0x00000000000000000000000000000000000000A0".into(),
            "embedded".into(),
            "1970-01-01".into(),
        );
        c.on_contacts(vec![contact(BOB, "bob", true)]);
        c
    }

    #[test]
    fn a_sent_message_goes_from_sending_to_delivered_whichever_answer_comes_first() {
        for event_first in [false, true] {
            let mut c = chat();
            c.open_conversation(BOB);
            let action = typed(&mut c, "hi bob");
            assert_eq!(action, None);
            let Some(Action::Send { local, to, body }) = c.on_key(key(KeyCode::Enter)) else {
                panic!("Enter sends");
            };
            assert_eq!((to.as_str(), body.as_str()), (BOB, "hi bob"));
            assert!(c.composer.is_empty());
            assert_eq!(c.conversations[BOB].lines[0].state, State::Sending);
            let id = "0x000000000000000000000000000000ff";
            let report = SendReport {
                message_id: id.into(),
                to: BOB.into(),
                status: "queued".into(),
                reason: None,
            };
            if event_first {
                c.on_outbox(outbox(BOB, id, "delivered", 5));
                c.on_sent(local, BOB, Ok(report));
            } else {
                c.on_sent(local, BOB, Ok(report));
                c.on_outbox(outbox(BOB, id, "delivered", 5));
            }
            let lines = &c.conversations[BOB].lines;
            assert_eq!(lines.len(), 1, "{lines:?}");
            assert_eq!(
                lines[0].state,
                State::Delivered,
                "event first: {event_first}"
            );
        }
    }

    #[test]
    fn a_message_over_the_limit_stays_in_the_composer_with_the_limit_shown() {
        let mut c = chat();
        c.open_conversation(BOB);
        c.composer = "x".repeat(MAX_BODY + 1);
        assert_eq!(c.on_key(key(KeyCode::Enter)), None);
        assert_eq!(c.composer.len(), MAX_BODY + 1);
        let notice = c.notice.clone().unwrap();
        assert!(notice.error && notice.text.contains(&MAX_BODY.to_string()));
        c.composer.truncate(MAX_BODY);
        assert!(matches!(
            c.on_key(key(KeyCode::Enter)),
            Some(Action::Send { .. })
        ));
    }

    #[test]
    fn a_failed_send_gives_the_text_back() {
        let mut c = chat();
        c.open_conversation(BOB);
        typed(&mut c, "retry me");
        let Some(Action::Send { local, .. }) = c.on_key(key(KeyCode::Enter)) else {
            panic!()
        };
        c.on_sent(local, BOB, Err("the daemon is busy".into()));
        assert_eq!(c.composer, "retry me");
        assert!(c.conversations[BOB].lines.is_empty());
        assert!(c.notice.unwrap().error);
    }

    #[test]
    fn a_strangers_message_is_a_request_to_accept_block_or_delete() {
        let mut c = chat();
        c.on_received(received(EVE, 1, "hello?", None), true);
        c.on_received(received(EVE, 1, "hello?", None), true);
        assert_eq!(c.conversations[EVE].lines.len(), 1, "kept once");
        assert_eq!(
            c.rows(),
            [
                Row::Title("Chats"),
                Row::Peer(BOB.into()),
                Row::Title("Requests"),
                Row::Peer(EVE.into())
            ]
        );
        assert_eq!(c.conversations[EVE].unread, 1);
        c.selected = Some(EVE.into());
        assert_eq!(c.on_key(key(KeyCode::Char('a'))), None);
        typed(&mut c, "eve");
        assert_eq!(
            c.on_key(key(KeyCode::Enter)),
            Some(Action::Accept {
                name: "eve".into(),
                id: EVE.into()
            })
        );
        assert_eq!(
            c.on_key(key(KeyCode::Char('b'))),
            Some(Action::Block { id: EVE.into() })
        );
        c.on_key(key(KeyCode::Char('d')));
        assert!(matches!(c.overlay, Some(Overlay::Delete { .. })));
        assert_eq!(
            c.on_key(key(KeyCode::Char('y'))),
            Some(Action::Delete { id: EVE.into() })
        );
        c.on_deleted(EVE);
        assert_eq!(c.rows(), [Row::Title("Chats"), Row::Peer(BOB.into())]);
        // A contact is no request: `a` and `d` do nothing to it.
        c.selected = Some(BOB.into());
        assert_eq!(c.on_key(key(KeyCode::Char('a'))), None);
        assert_eq!(c.on_key(key(KeyCode::Char('d'))), None);
        assert!(c.overlay.is_none());
    }

    #[test]
    fn keys_move_focus_and_quit() {
        let mut c = chat();
        assert_eq!(c.on_key(key(KeyCode::Enter)), None);
        assert_eq!((c.focus, c.open.as_deref()), (Focus::Composer, Some(BOB)));
        // In the composer `q` and `?` are text.
        typed(&mut c, "q?");
        assert_eq!(c.composer, "q?");
        c.on_key(key(KeyCode::Esc));
        assert_eq!(c.focus, Focus::List);
        c.on_key(key(KeyCode::Char('?')));
        assert_eq!(c.overlay, Some(Overlay::Help));
        c.on_key(key(KeyCode::Char('x')));
        assert_eq!(c.overlay, None);
        c.on_key(key(KeyCode::Tab));
        assert_eq!(c.focus, Focus::Messages);
        assert_eq!(c.on_key(key(KeyCode::Char('q'))), Some(Action::Quit));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        c.focus = Focus::Composer;
        assert_eq!(c.on_key(ctrl_c), Some(Action::Quit));
    }

    #[test]
    fn a_later_state_is_never_overwritten_by_an_earlier_one() {
        let mut c = chat();
        let id = "0x000000000000000000000000000000aa";
        c.on_outbox(outbox(BOB, id, "delivered", 5));
        c.on_outbox(outbox(BOB, id, "queued", 5));
        assert_eq!(c.conversations[BOB].lines[0].state, State::Delivered);
    }
}

#[cfg(test)]
mod history_tests {
    use super::tests::*;
    use super::*;

    #[test]
    fn scrolling_up_pages_back_one_request_at_a_time_until_the_start() {
        let mut c = chat();
        c.on_older(vec![received(BOB, 9, "newest", Some("bob"))], 9);
        c.open_conversation(BOB);
        c.focus = Focus::Messages;
        let up = key(KeyCode::Up);
        assert_eq!(c.on_key(up), Some(Action::LoadOlder { before: 9 }));
        assert_eq!(c.on_key(up), None, "one page at a time");
        c.on_older(vec![received(BOB, 3, "older", Some("bob"))], 3);
        assert_eq!(c.on_key(up), Some(Action::LoadOlder { before: 3 }));
        c.on_older(vec![], 3);
        assert_eq!(c.on_key(up), None, "nothing older");
        let bodies: Vec<&str> = c.conversations[BOB]
            .lines
            .iter()
            .map(|l| l.body.as_str())
            .collect();
        assert_eq!(bodies, ["older", "newest"]);
    }
}
