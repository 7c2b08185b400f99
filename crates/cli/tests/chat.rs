//! `chainmail chat` driven in tmux (issue 17): real daemons on a temporary
//! embedded chain, each chat in its own 80×24 tmux pane; keys go in with
//! `send-keys`, the screen comes back with `capture-pane`. Every wait is
//! for something to appear on the screen, bounded only so a broken build
//! cannot hang the run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::World;

/// The bound on any wait (not a timing assertion).
const WAIT: Duration = Duration::from_secs(120);

/// A tmux server of this test alone (its own socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn new() -> Tmux {
        static N: AtomicU32 = AtomicU32::new(0);
        let socket = format!(
            "chainmail-chat-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        Tmux { socket }
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]);
        c
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.tmux().args(args).output().expect("tmux runs");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A detached 80×24 session `name` running `script`.
    fn session(&self, name: &str, script: &Path) {
        self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "80",
            "-y",
            "24",
            script.to_str().unwrap(),
        ]);
    }

    fn screen(&self, name: &str) -> String {
        self.run(&["capture-pane", "-p", "-t", name])
    }

    /// Types `text` literally.
    fn type_text(&self, name: &str, text: &str) {
        self.run(&["send-keys", "-t", name, "-l", text]);
    }

    /// Presses a key (`Enter`, `Escape`, `C-c`, `j`…).
    fn key(&self, name: &str, key: &str) {
        self.run(&["send-keys", "-t", name, key]);
    }

    /// The screen once `ready` holds for it.
    fn wait(&self, name: &str, what: &str, ready: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let s = self.screen(name);
            if ready(&s) {
                return s;
            }
            assert!(
                start.elapsed() < WAIT,
                "{name}'s screen never showed {what}:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for(&self, name: &str, text: &str) -> String {
        self.wait(name, text, |s| s.contains(text))
    }

    /// Whether the pane shows the alternate screen.
    fn alternate_on(&self, name: &str) -> bool {
        self.run(&["display-message", "-p", "-t", name, "#{alternate_on}"])
            .trim()
            == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").output();
    }
}

/// A script running `chainmail ARGS` for `name` in a terminal, then
/// printing its exit code and the terminal's mode, then waiting.
fn script(w: &World, name: &str, args: &str) -> PathBuf {
    let cmd = w.cmd(name);
    let mut text = String::from("#!/bin/sh\n");
    for (k, v) in cmd.get_envs() {
        let k = k.to_str().unwrap();
        match v {
            Some(v) => text.push_str(&format!("export {k}='{}'\n", v.to_str().unwrap())),
            None => text.push_str(&format!("unset {k}\n")),
        }
    }
    text.push_str(&format!(
        "'{}' {args}\necho \"exit=$?\"\necho \"mode: $(stty -a | tr -s ' ;' '\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' ')\"\nexec sleep 3600\n",
        cmd.get_program().to_str().unwrap()
    ));
    let path = w.dir.path().join(format!("chat-{name}.sh"));
    std::fs::write(&path, text).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The chat left the terminal as it found it: the exit code printed
/// after it, cooked mode with echo, the normal screen.
fn assert_left_cleanly(t: &Tmux, pane: &str, code: i32) {
    let s = t.wait_for(pane, "mode:");
    assert!(s.contains(&format!("exit={code}")), "{s}");
    assert!(s.contains("mode: icanon echo"), "{s}");
    assert!(!t.alternate_on(pane), "still on the alternate screen:\n{s}");
}

/// The safety number's three rows of four groups on a screen.
fn safety_rows(screen: &str) -> Vec<String> {
    screen
        .lines()
        .filter_map(|l| {
            let groups: Vec<&str> = l
                .split(|c: char| !c.is_ascii_digit())
                .filter(|g| g.len() == 5)
                .collect();
            (groups.len() == 4).then(|| groups.join(" "))
        })
        .collect()
}

#[test]
fn two_chats_talk_see_requests_inert_escapes_and_the_same_safety_number() {
    let w = World::new();
    let alice = w.registered("alice");
    let bob = w.registered("bob");
    w.registered("carol");
    let (_a, _) = w.serve("alice", "127.0.0.1:0");
    let (_b, _) = w.serve("bob", "127.0.0.1:0");
    w.json_ok("alice", &["contact", "add", "bob", &bob], "contact");
    w.json_ok("bob", &["contact", "add", "alice", &alice], "contact");

    let t = Tmux::new();
    t.session("a", &script(&w, "alice", "chat bob"));
    t.session("b", &script(&w, "bob", "chat alice"));
    for pane in ["a", "b"] {
        t.wait_for(pane, "Enter send");
        assert!(t.alternate_on(pane));
    }

    // Each sees the other's message; the sender's goes to delivered.
    t.type_text("a", "hello bob");
    t.key("a", "Enter");
    t.wait_for("b", "alice: hello bob");
    t.wait_for("a", "you: hello bob  [delivered]");
    t.type_text("b", "hi alice");
    t.key("b", "Enter");
    t.wait_for("a", "bob: hi alice");
    t.wait_for("b", "you: hi alice  [delivered]");

    // A stranger's message is a request, its escapes shown inert.
    let (code, sent) = w.send(
        "carol",
        &alice,
        "\u{1b}[2J\u{1b}[Hevil\u{202e}txt.exe",
        "30s",
    );
    assert_eq!(
        (code, sent["status"].as_str()),
        (Some(0), Some("delivered"))
    );
    let s = t.wait_for("a", "Requests");
    assert!(s.contains("bob: hi alice"), "{s}");
    t.key("a", "Escape");
    t.wait_for("a", "Enter open");
    t.key("a", "j");
    t.key("a", "Enter");
    let s = t.wait_for("a", "\\u{1b}[2J\\u{1b}[Hevil\\u{202e}");
    assert!(s.contains("not a contact"), "{s}");
    assert!(s.contains("chainmail"), "the screen was not cleared:\n{s}");

    // Accepting the request makes carol a contact: out of Requests.
    t.key("a", "Escape");
    t.wait_for("a", "Enter open");
    t.key("a", "a");
    t.wait_for("a", "Accept request");
    t.type_text("a", "carol");
    t.key("a", "Enter");
    let s = t.wait("a", "carol among the chats", |s| {
        s.contains("added carol to your contacts")
            && s.contains("▸ carol")
            && !s.contains("Requests")
    });
    assert!(s.contains("carol · not verified"), "{s}");
    let list = w.json_ok("alice", &["contact", "list"], "contacts");
    assert!(list.to_string().contains("\"carol\""), "{list}");

    // The safety numbers match.
    t.key("a", "Escape");
    t.wait_for("a", "Enter open");
    // carol is selected; bob is above or below her (by the last message's
    // second, then by name).
    let s = t.screen("a");
    let row = |name: &str| {
        s.lines()
            .position(|l| l.chars().take(26).collect::<String>().contains(name))
            .unwrap_or_else(|| panic!("{name} is not in the list:\n{s}"))
    };
    let up = row("bob") < row("carol");
    t.key("a", if up { "k" } else { "j" });
    t.key("a", "v");
    let sa = t.wait_for("a", "Safety number with bob");
    t.key("b", "Escape");
    t.wait_for("b", "Enter open");
    t.key("b", "v");
    let sb = t.wait_for("b", "Safety number with alice");
    let rows = safety_rows(&sa);
    assert_eq!(rows.len(), 3, "{sa}");
    assert_eq!(rows, safety_rows(&sb), "\n{sa}\n{sb}");
    assert!(sa.contains("m mark verified"), "{sa}");
    t.key("a", "m");
    t.wait_for("a", "bob marked verified");

    // Ctrl-C leaves with the terminal restored; so does q.
    t.key("a", "C-c");
    assert_left_cleanly(&t, "a", 0);
    t.key("b", "Escape");
    t.wait_for("b", "Enter open");
    t.key("b", "q");
    assert_left_cleanly(&t, "b", 0);
}

#[test]
fn a_daemon_killed_under_an_open_chat_ends_it_cleanly() {
    let w = World::new();
    w.registered("alice");
    let (serve, _) = w.serve("alice", "127.0.0.1:0");
    let t = Tmux::new();
    t.session("a", &script(&w, "alice", "chat"));
    t.wait_for("a", "Conversations");
    drop(serve);
    let s = t.wait_for("a", "mode:");
    assert!(s.contains("the daemon stopped"), "{s}");
    assert_left_cleanly(&t, "a", 1);
}

#[test]
fn without_a_daemon_chat_says_how_to_start_one() {
    let w = World::new();
    w.registered("alice");
    let t = Tmux::new();
    t.session("a", &script(&w, "alice", "chat"));
    let s = t.wait_for("a", "mode:");
    assert!(s.contains("no daemon runs"), "{s}");
    assert!(s.contains("serve"), "{s}");
    assert_left_cleanly(&t, "a", 1);
}
