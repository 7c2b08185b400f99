//! What commands print: one report type per command (in the submodules, by
//! command group), whose serde field names
//! are the `--json` interface of issue 6 (checked against
//! `schema/output.schema.json` by a test), and whose `human` form is the
//! default text. Times are Unix seconds, IDs EIP-55, absent values `null`.

use std::io::Write;

use serde::Serialize;

mod contacts;
mod demo;
mod export;
mod identity;
mod messaging;
mod registry;
mod submit;

pub use contacts::{ContactListReport, ContactReport, VerifyReport};
pub use demo::{DemoReport, Step};
pub use export::ExportReport;
pub use identity::IdentityReport;
pub use messaging::{
    InboxReport, MessageReport, OutboxMessageReport, OutboxReport, SendReport, ServeReport,
};
pub use registry::{DeployReport, LookupReport, PinReport, TxReport};
pub use submit::SubmitReport;

/// A command's result, printable both ways.
pub trait Report: Serialize {
    /// The text shown without `--json`.
    fn human(&self) -> String;
}

/// Prints `report` on stdout as JSON (one line) or text.
pub fn print<R: Report>(report: &R, json: bool) {
    let mut out = std::io::stdout().lock();
    let text = if json {
        serde_json::to_string(report).unwrap_or_else(|e| {
            format!(r#"{{"error":{{"kind":"Internal","message":"cannot encode output: {e}"}}}}"#)
        })
    } else {
        report.human()
    };
    // A closed pipe (`chainmail inbox | head`) is not an error worth a panic.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// 0x + 64 hex.
pub fn hex32(bytes: &[u8; 32]) -> String {
    format!("0x{}", hex::encode(bytes))
}

/// Unix seconds as RFC 3339 UTC for the human form.
/// (values a hostile chain could make absurd are shown as plain numbers).
pub fn fmt_time(unix: u64) -> String {
    // 9999-12-31T23:59:59Z: past it RFC 3339 has no four-digit year.
    const LAST: u64 = 253_402_300_799;
    match std::time::UNIX_EPOCH.checked_add(std::time::Duration::from_secs(unix)) {
        Some(t) if unix <= LAST => humantime::format_rfc3339_seconds(t).to_string(),
        _ => format!("{unix} (Unix seconds)"),
    }
}

/// Text from peers or the chain made safe for a terminal: control characters
/// (escape sequences could rewrite the screen or fake another message) and
/// invisible format characters (bidi overrides and isolates that reorder
/// what is shown, as in "Trojan Source", zero-width characters that hide
/// text) are shown escaped. JSON output needs none of this: serde escapes
/// control characters, and a program reads the code points as they are.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if (c.is_control() && c != '\n' && c != '\t') || is_invisible_format(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// Unicode format characters (category Cf) that change how the text around
/// them is shown without being seen: bidi marks, embeddings, overrides and
/// isolates, zero-width spaces and joiners, invisible operators, the BOM,
/// interlinear annotation marks and tag characters.
fn is_invisible_format(c: char) -> bool {
    matches!(c,
        '\u{ad}'
        | '\u{61c}'
        | '\u{180e}'
        | '\u{200b}'..='\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}'
        | '\u{e0000}'..='\u{e007f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_for_terminals() {
        assert_eq!(printable("hi\u{1b}[2Jthere\r"), "hi\\u{1b}[2Jthere\\u{d}");
        assert_eq!(printable("line\nnext"), "line\nnext");
    }

    #[test]
    fn bidi_and_invisible_characters_are_escaped() {
        // "Trojan Source": an override makes "txt.exe" show as "exe.txt".
        assert_eq!(printable("a\u{202e}txt.exe"), "a\\u{202e}txt.exe");
        for c in [
            '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}', '\u{200b}', '\u{feff}',
        ] {
            assert_eq!(
                printable(&format!("x{c}y")),
                format!("x{}y", c.escape_unicode())
            );
        }
        // Visible non-ASCII text is left alone.
        assert_eq!(printable("héllo مرحبا 你好"), "héllo مرحبا 你好");
    }

    #[test]
    fn absurd_times_do_not_panic() {
        assert_eq!(fmt_time(0), "1970-01-01T00:00:00Z");
        assert!(fmt_time(u64::MAX).contains("Unix seconds"));
    }
}
