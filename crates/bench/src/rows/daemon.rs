//! Row 9 (issue 16): `send` through the daemon API beside the one-shot CLI.
//! Two real `chainmail serve` processes (the binary named by
//! `CHAINMAIL_BENCH_CLI`, which `scripts/bench` builds) on an embedded
//! chain, Alice's sends to Bob timed three ways in one run:
//!
//! - through Alice's API socket (`DaemonClient::call("send")`, the session
//!   to Bob kept), as a program holding a connection sees it;
//! - `chainmail send`, which finds the daemon and goes through it (a process
//!   start, no unlock);
//! - `chainmail --no-daemon send`, the one-shot CLI: scrypt unlock, store,
//!   chain, a new session, the ack.
//!
//! Then 100 API clients connect and subscribe, and the daemon's VmRSS is
//! read from /proc before and after.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use chainmail_node::daemon_client::DaemonClient;
use serde_json::{Value, json};

use crate::measure::{Plan, quantile};
use crate::table::{Better, Row, fmt_num};

/// Where `scripts/bench` says the `chainmail` binary is.
pub const CLI_ENV: &str = "CHAINMAIL_BENCH_CLI";

/// API clients connected for the memory figure.
const CLIENTS: usize = 100;

/// A `chainmail serve`, killed on drop.
struct Serve {
    child: Child,
    api: PathBuf,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `chainmail` binary and the world its homes live in.
struct World {
    cli: PathBuf,
    dir: PathBuf,
    chain: String,
}

impl World {
    fn cmd(&self, home: &str) -> Command {
        let mut c = Command::new(&self.cli);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("CHAINMAIL_HOME", self.dir.join(home))
            .env("CHAINMAIL_CHAIN", &self.chain)
            .env("CHAINMAIL_PASSWORD", "bench password")
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// `chainmail --json ARGS`: its exit code and JSON line.
    fn json(&self, home: &str, args: &[&str]) -> Result<(i32, Value)> {
        let out = self.cmd(home).arg("--json").args(args).output()?;
        let v = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "chainmail {args:?}: {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })?;
        Ok((out.status.code().unwrap_or(-1), v))
    }

    fn ok(&self, home: &str, args: &[&str]) -> Result<Value> {
        let (code, v) = self.json(home, args)?;
        ensure!(code == 0, "chainmail {args:?} exited {code}: {v}");
        Ok(v)
    }

    /// `serve` on a free port, its endpoint published.
    fn serve(&self, home: &str) -> Result<Serve> {
        let mut child = self
            .cmd(home)
            .args(["--json", "serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().context("serve's stdout")?).read_line(&mut line)?;
        let first: Value =
            serde_json::from_str(&line).with_context(|| format!("serve said {line:?}"))?;
        let serve = Serve {
            child,
            api: first["api"]
                .as_str()
                .context("serve has no API socket")?
                .into(),
        };
        self.ok(
            home,
            &["endpoint", first["listen"].as_str().context("listen")?],
        )?;
        Ok(serve)
    }
}

/// VmRSS of process `pid`, in KiB.
fn rss_kib(pid: u32) -> Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("VmRSS")?.parse()?)
}

/// Times `f` `n` times; the durations in µs.
fn times(n: usize, mut f: impl FnMut(usize) -> Result<()>) -> Result<Vec<f64>> {
    (0..n)
        .map(|i| {
            let start = Instant::now();
            f(i)?;
            Ok(start.elapsed().as_secs_f64() * 1e6)
        })
        .collect()
}

/// Runs row 9.
pub fn run(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<Row>> {
    let Some(cli) = std::env::var_os(CLI_ENV) else {
        bail!("row 9 needs {CLI_ENV}=the chainmail binary (scripts/bench builds it and sets it)");
    };
    let w = World {
        cli: cli.into(),
        dir: dir.join("daemon-row"),
        chain: format!("embedded:{}", dir.join("chain-daemon.db").display()),
    };
    std::fs::create_dir_all(&w.dir)?;
    for home in ["alice", "bob"] {
        w.ok(home, &["init"])?;
        w.ok(home, &["register", "--valid-for", "1d"])?;
    }
    let bob_id = w.ok("bob", &["id"])?["id"]
        .as_str()
        .context("bob's id")?
        .to_owned();
    // Alice names Bob: a stranger's messages are capped at the receiver.
    let alice_id = w.ok("alice", &["id"])?["id"]
        .as_str()
        .context("alice's id")?
        .to_owned();
    w.ok("bob", &["contact", "add", "alice", &alice_id])?;
    let alice = w.serve("alice")?;
    let _bob = w.serve("bob")?;

    let (api_n, through_n, oneshot_n) = (plan.pick(300, 3), plan.pick(30, 2), plan.pick(5, 1));
    let (api, rss) = rt.block_on(async {
        let mut client = DaemonClient::connect(&alice.api).await?;
        let send = json!({ "to": bob_id, "body": "x".repeat(1024), "timeout": 10 });
        // The first send opens the session the timed ones keep.
        client.call("send", send.clone()).await?;
        let mut api = Vec::with_capacity(api_n);
        for i in 0..api_n {
            let start = Instant::now();
            let r = client.call("send", send.clone()).await?;
            api.push(start.elapsed().as_secs_f64() * 1e6);
            ensure!(r["status"] == "delivered", "API send {i}: {r}");
        }
        let before = rss_kib(alice.child.id())?;
        let mut clients = Vec::with_capacity(CLIENTS);
        for _ in 0..CLIENTS {
            let mut c = DaemonClient::connect(&alice.api).await?;
            c.subscribe(None).await?;
            clients.push(c);
        }
        // Every client answered: the daemon holds all of them now.
        let status = client.call("status", json!({})).await?;
        ensure!(status["clients"] == CLIENTS + 1, "{status}");
        let after = rss_kib(alice.child.id())?;
        Ok::<_, anyhow::Error>((api, (before, after)))
    })?;
    let text = "y".repeat(1024);
    let send_cli = |extra: &'static [&'static str]| {
        let (w, bob_id, text) = (&w, &bob_id, &text);
        move |i: usize| -> Result<()> {
            let mut args: Vec<&str> = extra.to_vec();
            args.extend(["send", bob_id.as_str(), text.as_str()]);
            let (code, v) = w.json("alice", &args)?;
            ensure!(
                code == 0 && v["status"] == "delivered",
                "CLI send {i} ({extra:?}): {v}"
            );
            Ok(())
        }
    };
    let through = times(through_n, send_cli(&[]))?;
    let oneshot = times(oneshot_n, send_cli(&["--no-daemon"]))?;

    let (api50, through50, oneshot50) = (
        quantile(&api, 0.5),
        quantile(&through, 0.5),
        quantile(&oneshot, 0.5),
    );
    let speedup = oneshot50 / api50;
    notes.push(format!(
        "Row 9, daemon API: {api_n} `send`s of a 1 KiB text from Alice's `chainmail serve` to Bob's through its API socket (a Rust `DaemonClient`, the session to Bob kept), {through_n} `chainmail send` processes that went through the daemon, {oneshot_n} one-shot `chainmail --no-daemon send`s (scrypt unlock, store and chain opened, a new session); each delivered and acked, durable on both sides. Memory: Alice's daemon's VmRSS before and after {CLIENTS} API clients connected and subscribed.",
    ));
    let (before, after) = rss;
    Ok(vec![
        Row::new(
            9,
            "send→ack p50 through the daemon API (kept session)",
            "µs",
            Better::Lower,
        )
        .chainmail(api50)
        .goal(format!("≤ 2,000 µs: {}", fmt_num(api50)), api50 <= 2000.0),
        Row::new(
            9,
            "send→ack p99 through the daemon API (kept session)",
            "µs",
            Better::Lower,
        )
        .chainmail(quantile(&api, 0.99)),
        Row::new(
            9,
            "`chainmail send` through the daemon p50 (process start, no unlock)",
            "µs",
            Better::Lower,
        )
        .chainmail(through50),
        Row::new(
            9,
            "one-shot `chainmail --no-daemon send` p50 (scrypt unlock, new session)",
            "µs",
            Better::Lower,
        )
        .chainmail(oneshot50)
        .goal(
            format!("≥ 100× the API's: {}×", fmt_num(speedup)),
            speedup >= 100.0,
        ),
        Row::new(
            9,
            "daemon RSS with 100 API clients subscribed",
            "KiB",
            Better::Lower,
        )
        .chainmail(after)
        .goal(
            format!("+{} KiB for the 100 clients", fmt_num(after - before)),
            true,
        ),
    ])
}
