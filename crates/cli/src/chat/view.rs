//! Drawing the chat with ratatui: a header, the conversation list beside
//! the open conversation and its composer, a bottom line, and the screen on
//! top (help, safety number, accept, delete). Everything a peer wrote is
//! passed through [`printable`] first, so escape sequences, bidi overrides
//! and invisible characters show as inert `\u{…}` text; rows are wrapped
//! here by display width, so the newest message always sits at the bottom.

use chainmail_core::wire::MAX_BODY;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line as TextLine, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthChar;

use super::model::{Chat, Focus, Line, Overlay, Row, State, short_id};
use crate::output::{fmt_time, printable};

/// Width of the conversation list.
const LIST_WIDTH: u16 = 26;

/// Draws the whole chat.
pub fn draw(f: &mut Frame<'_>, chat: &Chat) {
    let [header, main, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    draw_header(f, header, chat);
    let [list, right] =
        Layout::horizontal([Constraint::Length(LIST_WIDTH), Constraint::Min(20)]).areas(main);
    draw_list(f, list, chat);
    let [messages, composer] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(3)]).areas(right);
    draw_messages(f, messages, chat);
    draw_composer(f, composer, chat);
    draw_footer(f, footer, chat);
    if let Some(overlay) = &chat.overlay {
        draw_overlay(f, f.area(), overlay);
    }
}

fn focused(chat: &Chat, pane: Focus) -> Style {
    if chat.overlay.is_none() && chat.focus == pane {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new().fg(Color::DarkGray)
    }
}

fn draw_header(f: &mut Frame<'_>, area: Rect, chat: &Chat) {
    let text = TextLine::from(vec![
        Span::styled(" chainmail ", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            " {}  on {}",
            short_id(&chat.me),
            printable(&chat.chain)
        )),
    ]);
    f.render_widget(
        Paragraph::new(text).style(Style::new().bg(Color::Blue).fg(Color::White)),
        area,
    );
}

fn draw_list(f: &mut Frame<'_>, area: Rect, chat: &Chat) {
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(focused(chat, Focus::List))
        .title(" Conversations ");
    let inner = block.inner(area);
    f.render_widget(block, area);
    let width = usize::from(inner.width);
    let rows = chat.rows();
    let selected_at = rows
        .iter()
        .position(|r| matches!(r, Row::Peer(id) if Some(id) == chat.selected.as_ref()));
    // Keep the selection in view.
    let height = usize::from(inner.height);
    let first = selected_at.map_or(0, |i| (i + 1).saturating_sub(height));
    let lines: Vec<TextLine<'_>> = rows
        .iter()
        .skip(first)
        .take(height)
        .map(|row| match row {
            Row::Title(t) => TextLine::from(Span::styled(
                *t,
                Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
            )),
            Row::Peer(id) => {
                let p = &chat.peers[id];
                let mut marks = String::new();
                if p.verified {
                    marks.push_str(" ✓");
                }
                if p.revoked {
                    marks.push_str(" revoked");
                } else if p.blocked {
                    marks.push_str(" blocked");
                }
                if let Some(c) = chat.conversations.get(id).filter(|c| c.unread > 0) {
                    marks.push_str(&format!(" ({})", c.unread));
                }
                let open = chat.open.as_ref() == Some(id);
                let name = printable(&chat.display_name(id));
                let room = width.saturating_sub(2 + marks.chars().count());
                let text = format!(
                    "{}{}{marks}",
                    if open { "▸ " } else { "  " },
                    clip(&name, room)
                );
                let mut style = Style::new();
                if Some(id) == chat.selected.as_ref() {
                    style = style.add_modifier(Modifier::REVERSED);
                }
                if chat.conversations.get(id).is_some_and(|c| c.unread > 0) {
                    style = style.add_modifier(Modifier::BOLD);
                }
                TextLine::from(Span::styled(text, style))
            }
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

fn draw_messages(f: &mut Frame<'_>, area: Rect, chat: &Chat) {
    let title = match &chat.open {
        None => " No conversation open ".to_owned(),
        Some(id) => {
            let p = chat.peers.get(id);
            let mark = match p {
                Some(p) if p.revoked => "revoked",
                Some(p) if p.blocked => "blocked",
                Some(p) if p.verified => "verified ✓",
                Some(p) if p.name.is_none() => "not a contact",
                _ => "not verified",
            };
            format!(" {} · {mark} ", printable(&chat.display_name(id)))
        }
    };
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(focused(chat, Focus::Messages))
        .title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    let Some(id) = &chat.open else {
        let hint =
            "Select a conversation and press Enter.\n`chainmail chat NAME|ID` opens one directly.";
        f.render_widget(
            Paragraph::new(hint)
                .style(Style::new().fg(Color::DarkGray))
                .wrap(Wrap { trim: true }),
            inner,
        );
        return;
    };
    let width = usize::from(inner.width).max(10);
    let name = printable(&chat.display_name(id));
    let mut rows = Vec::new();
    if let Some(c) = chat.conversations.get(id) {
        for line in &c.lines {
            rows.extend(message_rows(chat, line, &name, width));
        }
    }
    let height = usize::from(inner.height);
    let max_scroll = rows.len().saturating_sub(height);
    let scroll = chat.scroll.min(max_scroll);
    let end = rows.len() - scroll;
    let start = end.saturating_sub(height);
    let mut shown: Vec<TextLine<'static>> = rows.drain(start..end).collect();
    if scroll > 0 && !shown.is_empty() {
        let last = shown.len() - 1;
        shown[last] = TextLine::from(Span::styled(
            format!("── {scroll} more rows below (j/↓) ──"),
            Style::new().fg(Color::Yellow),
        ));
    }
    if shown.is_empty() {
        shown.push(TextLine::from(Span::styled(
            "No messages yet: type below and press Enter.",
            Style::new().fg(Color::DarkGray),
        )));
    }
    f.render_widget(Paragraph::new(shown), inner);
}

/// `HH:MM` for today, `MM-DD HH:MM` otherwise.
fn when(chat: &Chat, unix: u64) -> String {
    let t = fmt_time(unix);
    match (t.get(..10), t.get(5..10), t.get(11..16)) {
        (Some(day), _, Some(hm)) if day == chat.today => hm.to_owned(),
        (_, Some(md), Some(hm)) if t.len() == 20 => format!("{md} {hm}"),
        _ => "??:??".to_owned(),
    }
}

fn state_style(state: &State) -> Style {
    match state {
        State::Delivered => Style::new().fg(Color::Green),
        State::Rejected(_) | State::Expired => Style::new().fg(Color::Red),
        _ => Style::new().fg(Color::Yellow),
    }
}

/// One message as wrapped rows.
fn message_rows(chat: &Chat, line: &Line, peer: &str, width: usize) -> Vec<TextLine<'static>> {
    let mut spans = vec![(
        format!("{} ", when(chat, line.at)),
        Style::new().fg(Color::DarkGray),
    )];
    if line.mine {
        spans.push(("you: ".into(), Style::new().fg(Color::Cyan)));
    } else {
        spans.push((
            format!("{peer}: "),
            Style::new().fg(Color::Magenta).add_modifier(Modifier::BOLD),
        ));
    }
    spans.push((printable(&line.body).replace('\t', "    "), Style::new()));
    if line.mine {
        let mut word = format!("  [{}]", line.state.word());
        if let State::Rejected(Some(r)) | State::Queued(Some(r)) = &line.state {
            word = format!("  [{}: {}]", line.state.word(), printable(r));
        }
        spans.push((word, state_style(&line.state)));
    }
    wrap(spans, width)
}

/// Wraps styled text into rows of at most `width` columns; a newline
/// starts a new row, continuation rows are indented by two columns.
fn wrap(spans: Vec<(String, Style)>, width: usize) -> Vec<TextLine<'static>> {
    let mut rows = Vec::new();
    let mut row: Vec<Span<'static>> = Vec::new();
    let mut used = 0;
    for (text, style) in spans {
        let mut piece = String::new();
        for c in text.chars() {
            let w = c.width().unwrap_or(0);
            if c == '\n' || used + w > width {
                if !piece.is_empty() {
                    row.push(Span::styled(std::mem::take(&mut piece), style));
                }
                rows.push(TextLine::from(std::mem::take(&mut row)));
                row.push(Span::raw("  "));
                used = 2;
                if c == '\n' {
                    continue;
                }
            }
            piece.push(c);
            used += w;
        }
        if !piece.is_empty() {
            row.push(Span::styled(piece, style));
        }
    }
    if !row.is_empty() {
        rows.push(TextLine::from(row));
    }
    rows
}

fn draw_composer(f: &mut Frame<'_>, area: Rect, chat: &Chat) {
    let len = chat.composer.len();
    let mut title = " Message ".to_owned();
    if len > MAX_BODY * 9 / 10 {
        title = format!(" Message — {len}/{MAX_BODY} bytes ");
    }
    let block = Block::new()
        .borders(Borders::ALL)
        .border_style(focused(chat, Focus::Composer))
        .title(title);
    let inner = block.inner(area);
    f.render_widget(block, area);
    if chat.open.is_none() {
        return;
    }
    // The tail of what is typed, so the cursor stays in view.
    let width = usize::from(inner.width.saturating_sub(1));
    let text = chat.composer.replace('\n', " ");
    let mut tail = String::new();
    let mut used = 0;
    for c in text.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            break;
        }
        used += w;
        tail.insert(0, c);
    }
    f.render_widget(Paragraph::new(tail), inner);
    if chat.focus == Focus::Composer && chat.overlay.is_none() {
        let x = inner.x + u16::try_from(used).unwrap_or(0);
        f.set_cursor_position((x, inner.y));
    }
}

fn draw_footer(f: &mut Frame<'_>, area: Rect, chat: &Chat) {
    let line = match &chat.notice {
        Some(n) => Span::styled(
            printable(&n.text).replace('\n', " "),
            if n.error {
                Style::new().fg(Color::Red)
            } else {
                Style::new().fg(Color::Green)
            },
        ),
        None => Span::styled(
            match chat.focus {
                Focus::List => {
                    "↑↓/jk select  Enter open  a accept  b block  d delete  v safety  ? help  q quit"
                }
                Focus::Messages => {
                    "↑↓/jk scroll  Enter write  v safety number  Tab next pane  Esc list  q quit"
                }
                Focus::Composer => "Enter send  Esc list  ↑↓ scroll  Ctrl-C quit",
            },
            Style::new().fg(Color::DarkGray),
        ),
    };
    f.render_widget(Paragraph::new(line), area);
}

/// A box of `w`×`h` centred in `area` (clipped to it).
fn centred(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn draw_overlay(f: &mut Frame<'_>, area: Rect, overlay: &Overlay) {
    let (title, lines): (String, Vec<TextLine<'_>>) = match overlay {
        Overlay::Help => (" Keys ".into(), HELP.lines().map(TextLine::from).collect()),
        Overlay::Accept { id, name } => (
            " Accept request ".into(),
            vec![
                TextLine::from(format!("Add {id} as a contact.")),
                TextLine::from(""),
                TextLine::from(vec![
                    Span::raw("Name: "),
                    Span::styled(
                        format!("{}▏", printable(name)),
                        Style::new().add_modifier(Modifier::BOLD),
                    ),
                ]),
                TextLine::from(""),
                TextLine::from(Span::styled(
                    "Enter add  Esc cancel",
                    Style::new().fg(Color::DarkGray),
                )),
            ],
        ),
        Overlay::Delete { id } => (
            " Delete request ".into(),
            vec![
                TextLine::from(format!("Delete every message from {id}?")),
                TextLine::from("They are not blocked (b blocks)."),
                TextLine::from(""),
                TextLine::from(Span::styled(
                    "y delete  any other key keeps them",
                    Style::new().fg(Color::DarkGray),
                )),
            ],
        ),
        Overlay::Safety { report, qr } => {
            let who = match &report.contact {
                Some(n) => format!("{} ({})", printable(n), short_id(&report.peer)),
                None => report.peer.clone(),
            };
            let groups: Vec<&str> = report.safety_number.split(' ').collect();
            let mut lines = vec![
                TextLine::from(format!("Safety number with {who}")),
                TextLine::from(""),
            ];
            for row in groups.chunks(4) {
                lines.push(TextLine::from(Span::styled(
                    format!("    {}", row.join(" ")),
                    Style::new().add_modifier(Modifier::BOLD),
                )));
            }
            lines.push(TextLine::from(""));
            lines.push(TextLine::from(
                "Compare it with the other side's screen, in person or on a",
            ));
            lines.push(TextLine::from(
                "call you trust: the same 60 digits on both sides.",
            ));
            let qr_rows: Vec<&str> = qr.as_deref().map_or(Vec::new(), |q| q.lines().collect());
            let room = usize::from(area.height).saturating_sub(lines.len() + 6);
            let qr_width = qr_rows.first().map_or(0, |r| r.chars().count());
            if !qr_rows.is_empty()
                && qr_rows.len() <= room
                && qr_width + 4 <= usize::from(area.width)
            {
                lines.push(TextLine::from(""));
                lines.extend(qr_rows.iter().map(|r| TextLine::from(r.to_string())));
            } else if !qr_rows.is_empty() {
                lines.push(TextLine::from(Span::styled(
                    format!(
                        "(the QR code needs {}×{}: enlarge the terminal)",
                        qr_width + 4,
                        qr_rows.len() + lines.len() + 6
                    ),
                    Style::new().fg(Color::DarkGray),
                )));
            }
            lines.push(TextLine::from(""));
            lines.push(if report.verified {
                TextLine::from(Span::styled(
                    "Marked verified ✓   Esc close",
                    Style::new().fg(Color::Green),
                ))
            } else {
                TextLine::from(Span::styled(
                    "m mark verified   Esc close",
                    Style::new().fg(Color::Yellow),
                ))
            });
            (" Safety number ".into(), lines)
        }
    };
    let width = lines
        .iter()
        .map(TextLine::width)
        .max()
        .unwrap_or(10)
        .max(title.len())
        + 4;
    let height = lines.len() + 2;
    let rect = centred(
        area,
        u16::try_from(width).unwrap_or(u16::MAX),
        u16::try_from(height).unwrap_or(u16::MAX),
    );
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines).block(
            Block::new()
                .borders(Borders::ALL)
                .border_style(Style::new().fg(Color::Cyan))
                .title(title),
        ),
        rect,
    );
}

/// The help screen.
const HELP: &str = "\
Tab        next pane (list, messages, composer)
Esc        back to the list
↑↓ / j k   select a conversation, or scroll messages
PgUp PgDn  scroll a page (older messages load on the way)
Enter      open the conversation / send the message
a          accept a request (add the stranger as a contact)
b          block the peer (`chainmail contact unblock` lifts it)
d          delete a request's messages
v          safety number and QR code; m marks it verified
?          this help
q, Ctrl-C  quit (in the composer: Ctrl-C)

✓ verified   (n) unread   [queued] [delivered] [rejected] [expired]";

/// Cuts `text` to `width` columns, ending in `…` when cut.
fn clip(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            out.pop();
            out.push('…');
            return out;
        }
        used += w;
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;
    use ratatui::crossterm::event::KeyCode;

    use super::super::model::tests::*;
    use super::super::model::*;
    use super::*;
    use crate::output::VerifyReport;

    /// The chat drawn at 80×24, as the terminal's text rows.
    fn screen(chat: &Chat) -> Vec<String> {
        let mut t = Terminal::new(TestBackend::new(80, 24)).unwrap();
        t.draw(|f| draw(f, chat)).unwrap();
        let buf = t.backend().buffer().clone();
        (0..24)
            .map(|y| {
                let mut row = String::new();
                for x in 0..80 {
                    row.push_str(buf[(x, y)].symbol());
                }
                row.trim_end().to_owned()
            })
            .collect()
    }

    fn contains(screen: &[String], text: &str) -> bool {
        screen.iter().any(|r| r.contains(text))
    }

    #[test]
    fn a_conversation_shows_times_names_states_and_the_composer() {
        let mut c = chat();
        c.today = "1970-01-01".into();
        c.on_received(received(BOB, 1, "hello alice", Some("bob")), false);
        c.on_outbox(outbox(BOB, "0x01", "delivered", 1_100));
        c.on_outbox(outbox(BOB, "0x02", "queued", 1_200));
        let mut rejected = outbox(BOB, "0x03", "rejected", 1_300);
        rejected.reason = Some("recipient revoked".into());
        c.on_outbox(rejected);
        c.open_conversation(BOB);
        typed(&mut c, "draft");
        let s = screen(&c);
        assert_eq!(s.len(), 24);
        assert!(
            s[0].contains("chainmail") && s[0].contains("embedded"),
            "{s:#?}"
        );
        assert!(contains(&s, "▸ bob ✓"), "{s:#?}");
        assert!(contains(&s, "bob · verified ✓"), "{s:#?}");
        assert!(contains(&s, "00:16 bob: hello alice"), "{s:#?}");
        assert!(contains(&s, "00:18 you: mine  [delivered]"), "{s:#?}");
        assert!(contains(&s, "you: mine  [queued]"), "{s:#?}");
        assert!(contains(&s, "[rejected: recipient revoked]"), "{s:#?}");
        assert!(contains(&s, "draft"), "{s:#?}");
        assert!(
            contains(&s, "Enter send  Esc list  ↑↓ scroll  Ctrl-C quit"),
            "{s:#?}"
        );
        c.focus = Focus::Messages;
        assert!(contains(&screen(&c), "Tab next pane  Esc list  q quit"));
    }

    #[test]
    fn requests_are_set_apart_with_their_unread_count() {
        let mut c = chat();
        c.on_received(received(EVE, 2, "buy now", None), true);
        c.on_received(received(EVE, 3, "really", None), true);
        let s = screen(&c);
        let requests = s
            .iter()
            .position(|r| r.contains("Requests"))
            .expect("{s:#?}");
        let eve = s
            .iter()
            .position(|r| r.contains("0x0000…00E0 (2)"))
            .expect("{s:#?}");
        let bob = s.iter().position(|r| r.contains("bob ✓")).expect("{s:#?}");
        assert!(bob < requests && requests < eve, "{s:#?}");
        // The whole key line fits 80 columns.
        assert!(contains(&s, "d delete  v safety  ? help  q quit"), "{s:#?}");
    }

    #[test]
    fn a_peers_escapes_and_bidi_overrides_are_shown_inert() {
        let mut c = chat();
        c.on_received(
            received(
                BOB,
                1,
                "\u{1b}[2J\u{1b}]0;pwned\u{7}evil\u{202e}txt.exe",
                Some("bob"),
            ),
            false,
        );
        c.open_conversation(BOB);
        let s = screen(&c);
        let all = s.join("\n");
        assert!(
            all.contains("\\u{1b}[2J\\u{1b}]0;pwned\\u{7}evil\\u{202e}"),
            "{s:#?}"
        );
        assert!(
            !all.contains('\u{1b}') && !all.contains('\u{202e}'),
            "{s:#?}"
        );
    }

    #[test]
    fn long_messages_wrap_and_the_newest_is_at_the_bottom() {
        let mut c = chat();
        for i in 1..=30u8 {
            c.on_received(
                received(
                    BOB,
                    i,
                    &format!("message {i} {}", "word ".repeat(20)),
                    Some("bob"),
                ),
                false,
            );
        }
        c.open_conversation(BOB);
        let s = screen(&c);
        assert!(contains(&s, "message 30"), "{s:#?}");
        assert!(!contains(&s, "message 1 "), "{s:#?}");
        // Scrolling up shows older ones and says how much is below.
        c.focus = Focus::Messages;
        for _ in 0..40 {
            c.on_key(key(KeyCode::Up));
        }
        let s = screen(&c);
        assert!(contains(&s, "more rows below"), "{s:#?}");
        assert!(!contains(&s, "message 30"), "{s:#?}");
    }

    #[test]
    fn the_safety_screen_shows_the_number_and_the_verify_key() {
        let mut c = chat();
        let number = (0..12)
            .map(|i| format!("{:05}", i * 1111))
            .collect::<Vec<_>>();
        c.on_safety(
            VerifyReport {
                id: c.me.clone(),
                peer: BOB.into(),
                contact: Some("bob".into()),
                safety_number: number.join(" "),
                qr_payload: "x".into(),
                verified: false,
                qr: None,
            },
            crate::safety::qr_text("chainmail-verify:1:x"),
        );
        let s = screen(&c);
        assert!(contains(&s, "Safety number with bob"), "{s:#?}");
        assert!(contains(&s, &number[..4].join(" ")), "{s:#?}");
        assert!(contains(&s, &number[8..].join(" ")), "{s:#?}");
        assert!(contains(&s, "m mark verified"), "{s:#?}");
        assert_eq!(
            c.on_key(key(KeyCode::Char('m'))),
            Some(Action::Verify { id: BOB.into() })
        );
        c.overlay = Some(Overlay::Help);
        assert!(contains(&screen(&c), "accept a request"));
    }

    #[test]
    fn wrapping_respects_display_width() {
        let rows = wrap(vec![("你好你好你好".into(), Style::new())], 5);
        let widths: Vec<usize> = rows.iter().map(TextLine::width).collect();
        assert!(widths.iter().all(|w| *w <= 5), "{widths:?}");
        let text: String = rows
            .iter()
            .map(|r| r.to_string().trim().to_owned())
            .collect();
        assert_eq!(text, "你好你好你好");
    }
}
