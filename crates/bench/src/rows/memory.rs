//! Row 5: memory per established idle session. A child process (this same
//! binary, `__idle MODE`) answers handshakes and holds the sessions; the
//! parent opens them over loopback and asks the child for its VmRSS
//! (/proc/self/status) after a warm-up and after all sessions are up:
//! (RSS_N − RSS_warm) ÷ (N − warm). Both processes raise their open-file
//! soft limit to the hard limit (`rlimit`), and N is 10,000 or what that
//! limit allows.
//!
//! Modes: `core`, `rustls`, `snow` hold (socket, protocol state) per
//! session, as an event-loop server would; `node` is the real chainmail
//! node (`chainmail_node::run`: a task per connection, its record reader,
//! the SQLite replay cache).

use std::any::Any;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use chainmail_chain::ChainSpec;
use chainmail_core::eip712::Domain;
use chainmail_core::record::{RecordCheck, check_record};
use chainmail_core::{
    Address, IdStatus, Initiator, MemoryReplayCache, Opened, Responder, SecretKey, StaticShared,
};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::chainmail::unix_now;
use crate::measure::Plan;
use crate::peers::noise::{Noise, Pattern};
use crate::peers::tls::{Provider, Tls, TlsKeys};

/// The peers' keys, shared by the parent and the child through a file of
/// hex lines: 3 TLS keys, then 4 Noise key halves.
struct PeerKeys {
    tls: Tls,
    noise: Noise,
}

impl PeerKeys {
    fn generate(file: &Path) -> Result<Self> {
        let keys = TlsKeys::generate()?;
        let noise = Noise::new(Pattern::Ik)?;
        let mut lines: Vec<String> = keys.to_hex().into();
        lines.extend(noise.keys_hex());
        std::fs::write(file, lines.join("\n"))?;
        Ok(PeerKeys {
            tls: Tls::with_keys(Provider::AwsLcRs, &keys)?,
            noise,
        })
    }

    fn load(file: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(file)?;
        let l: Vec<&str> = text.lines().collect();
        anyhow::ensure!(
            l.len() == 7,
            "key file {} has {} lines, not 7",
            file.display(),
            l.len()
        );
        Ok(PeerKeys {
            tls: Tls::with_keys(Provider::AwsLcRs, &TlsKeys::from_hex([l[0], l[1], l[2]])?)?,
            noise: Noise::from_keys_hex(Pattern::Ik, [l[3], l[4], l[5], l[6]])?,
        })
    }
}
use crate::table::{Better, Row, fmt_int};

/// First argument that turns this binary into the idle-session child.
pub const CHILD_ARG: &str = "__idle";

/// Fixed benchmark identities for the child and the parent (throwaway keys
/// on a throwaway chain; a fixed seed lets both processes know them).
fn alice() -> SecretKey {
    SecretKey::from_bytes(&[0xa1; 32]).expect("constant key")
}
fn bob() -> SecretKey {
    SecretKey::from_bytes(&[0xb0; 32]).expect("constant key")
}
fn core_domain() -> Domain {
    Domain {
        chain_id: 1 << 41,
        verifying_contract: Address([0x5f; 20]),
    }
}
fn live() -> IdStatus {
    let now = unix_now();
    IdStatus {
        valid_until: now + 86_400,
        issued_at: now - 60,
        revoked_at: 0,
        registered_block: 1,
    }
}

/// VmRSS of this process in KiB.
fn rss_kib() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS in /proc/self/status")?;
    line.split_whitespace()
        .nth(1)
        .context("VmRSS without a number")?
        .parse()
        .context("VmRSS not a number")
}

/// Raises the open-file soft limit to the hard limit; returns the new soft limit.
fn raise_fd_limit() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(1024)
}

fn read_record(sock: &mut TcpStream) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; 4];
    sock.read_exact(&mut buf)?;
    match check_record(&buf)? {
        RecordCheck::Incomplete { needed } => {
            let at = buf.len();
            buf.resize(at + needed, 0);
            sock.read_exact(&mut buf[at..])?;
        }
        RecordCheck::Complete { .. } => {}
    }
    Ok(buf)
}

// ---------------------------------------------------------------- child

/// The child: `__idle MODE KEY_FILE [CHAIN_FILE STORE_FILE]`. Prints `ready PORT`,
/// then answers `rss` and `count` on stdin, one line each, until EOF.
pub fn child_main() -> Result<()> {
    raise_fd_limit();
    let args: Vec<String> = std::env::args().skip(2).collect();
    let mode = args.first().context("__idle needs a mode")?.clone();
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let count = Arc::new(AtomicUsize::new(0));
    let held: Arc<Mutex<Vec<Box<dyn Any + Send>>>> = Arc::new(Mutex::new(Vec::new()));
    // Kept alive for the node mode.
    let mut _runtime = None;
    match mode.as_str() {
        "core" | "rustls" | "snow" => {
            let (count, held) = (count.clone(), held.clone());
            let keys_file = args.get(1).context("missing key file")?;
            let PeerKeys { tls, noise } = PeerKeys::load(Path::new(keys_file))?;
            std::thread::spawn(move || {
                let alice = alice();
                let ss = StaticShared::compute(&alice, &bob().public_key());
                let mut replay = MemoryReplayCache::new(0, 1 << 20);
                let mut rng = StdRng::from_os_rng();
                for sock in listener.incoming() {
                    let Ok(mut sock) = sock else { continue };
                    let state: Result<Box<dyn Any + Send>> = match mode.as_str() {
                        "core" => (|| {
                            let t_b1 = read_record(&mut sock)?;
                            let now = unix_now();
                            let (t_a2, mut session) = Responder::new(&alice, core_domain())
                                .read_t_b1(&t_b1, now)?
                                .accept_with_ss(
                                    &ss,
                                    &live(),
                                    &live(),
                                    &mut replay,
                                    now,
                                    &mut rng,
                                )?;
                            sock.write_all(&t_a2)?;
                            let confirm = read_record(&mut sock)?;
                            anyhow::ensure!(session.open(&confirm, now)? == Opened::Confirmed);
                            Ok(Box::new(session) as Box<dyn Any + Send>)
                        })(),
                        "rustls" => tls
                            .accept_blocking(&mut sock)
                            .map(|c| Box::new(c) as Box<dyn Any + Send>),
                        _ => noise
                            .accept_blocking(&mut sock)
                            .map(|t| Box::new(t) as Box<dyn Any + Send>),
                    };
                    match state {
                        Ok(state) => {
                            if let Ok(mut h) = held.lock() {
                                h.push(Box::new((sock, state)));
                            }
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => eprintln!("idle child: handshake failed: {e:#}"),
                    }
                }
            });
        }
        "node" => {
            let chain_file = args.get(2).context("node mode needs the chain file")?;
            let store_file = args.get(3).context("node mode needs the store file")?;
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let listener = {
                listener.set_nonblocking(true)?;
                let _guard = rt.enter();
                tokio::net::TcpListener::from_std(listener)?
            };
            let registry = rt.block_on(chainmail_chain::open(
                &ChainSpec::Embedded(Some(chain_file.into())),
                None,
                None,
            ))?;
            let store = chainmail_node::store::Store::open(Path::new(store_file))?;
            let options = chainmail_node::NodeOptions {
                limits: chainmail_node::limits::Limits {
                    max_connections: 1 << 20,
                    idle_timeout: Duration::from_secs(3600),
                    // One source address opens every connection here.
                    per_ip_rate: 1e9,
                    per_ip_burst: 1e9,
                    ..Default::default()
                },
                ..Default::default()
            };
            let node = chainmail_node::Node::new(alice(), registry, store, options);
            rt.spawn(chainmail_node::run(listener, node, std::future::pending()));
            _runtime = Some(rt);
        }
        other => bail!("unknown idle mode {other:?}"),
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready {port}")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        match line?.trim() {
            "rss" => writeln!(out, "rss {}", rss_kib()?)?,
            "count" => writeln!(out, "count {}", count.load(Ordering::SeqCst))?,
            _ => writeln!(out, "?")?,
        }
        out.flush()?;
    }
    Ok(())
}

// ---------------------------------------------------------------- parent

/// The child process, killed (its own pid) when dropped.
struct Idle {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    port: u16,
}

impl Idle {
    fn start(mode: &str, extra: &[&Path]) -> Result<Self> {
        let mut child = Command::new(std::env::current_exe()?)
            .arg(CHILD_ARG)
            .arg(mode)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().context("child stdin")?;
        let mut stdout = BufReader::new(child.stdout.take().context("child stdout")?);
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let port = line
            .strip_prefix("ready ")
            .and_then(|p| p.trim().parse().ok())
            .with_context(|| format!("idle child said {line:?}"))?;
        Ok(Idle {
            child,
            stdin,
            stdout,
            port,
        })
    }

    fn ask(&mut self, what: &str) -> Result<i64> {
        writeln!(self.stdin, "{what}")?;
        self.stdin.flush()?;
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        line.strip_prefix(what)
            .and_then(|v| v.trim().parse().ok())
            .with_context(|| format!("idle child answered {line:?} to {what}"))
    }

    /// Waits until the child holds `n` sessions (modes that count them).
    fn wait_count(&mut self, n: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.ask("count")? < n as i64 {
            anyhow::ensure!(
                Instant::now() < deadline,
                "child never reached {n} sessions"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

impl Drop for Idle {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opens one client session of `mode` to `port`; returns what must stay alive.
fn open_one(
    mode: &str,
    port: u16,
    tls: &Tls,
    noise: &Noise,
    rng: &mut StdRng,
) -> Result<Box<dyn Any>> {
    let mut sock = TcpStream::connect(("127.0.0.1", port))?;
    Ok(match mode {
        "core" => {
            let bob = bob();
            let alice_key = alice().public_key();
            let (expect, t_b1) =
                Initiator::start(&bob, &core_domain(), &alice_key, &live(), unix_now(), rng)?;
            sock.write_all(&t_b1)?;
            let t_a2 = read_record(&mut sock)?;
            let (session, confirm) = expect.read_t_a2(&t_a2)?;
            sock.write_all(&confirm)?;
            Box::new((sock, session))
        }
        "rustls" => {
            let c = tls.connect_blocking(&mut sock)?;
            Box::new((sock, c))
        }
        "snow" => {
            let t = noise.connect_blocking(&mut sock)?;
            Box::new((sock, t))
        }
        other => bail!("unknown mode {other}"),
    })
}

/// (KiB per idle session, sessions, handshakes/s seen by the client).
fn measure_mode(mode: &str, dir: &Path, n: usize, warm: usize) -> Result<(f64, usize, f64)> {
    let keys_file = dir.join("peer-keys.hex");
    let PeerKeys { tls, noise } = PeerKeys::generate(&keys_file)?;
    let mut child = Idle::start(mode, &[&keys_file])?;
    let mut rng = StdRng::from_os_rng();
    let mut held = Vec::with_capacity(n);
    for _ in 0..warm {
        held.push(open_one(mode, child.port, &tls, &noise, &mut rng)?);
    }
    child.wait_count(warm)?;
    let rss_warm = child.ask("rss")?;
    let start = Instant::now();
    for _ in warm..n {
        held.push(open_one(mode, child.port, &tls, &noise, &mut rng)?);
    }
    child.wait_count(n)?;
    let rate = (n - warm) as f64 / start.elapsed().as_secs_f64();
    let rss = child.ask("rss")?;
    drop(child);
    drop(held);
    Ok(((rss - rss_warm) as f64 / (n - warm) as f64, n, rate))
}

/// The real node as the responder, Bob's node as the initiator.
fn measure_node(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    n: usize,
    warm: usize,
) -> Result<(f64, f64)> {
    let chain_file = dir.join("chain-idle.db");
    let registry = rt.block_on(chainmail_chain::open(
        &ChainSpec::Embedded(Some(chain_file.clone())),
        None,
        None,
    ))?;
    let (alice, bob) = (alice(), bob());
    rt.block_on(async {
        crate::register(registry.as_ref(), &alice).await?;
        crate::register(registry.as_ref(), &bob).await
    })?;
    let keys_file = dir.join("peer-keys.hex");
    PeerKeys::generate(&keys_file)?;
    let mut child = Idle::start(
        "node",
        &[&keys_file, &chain_file, &dir.join("alice-idle.db")],
    )?;
    let bob_node = chainmail_node::Node::new(
        bob,
        registry,
        chainmail_node::store::Store::open(&dir.join("bob-idle.db"))?,
        chainmail_node::NodeOptions::default(),
    );
    let (alice_id, alice_key) = (alice.address(), alice.public_key());
    let alice_valid_until = rt
        .block_on(bob_node.registry().status(alice_id))?
        .valid_until;
    let port = child.port;
    let open = |count: usize, held: &mut Vec<chainmail_node::SecureStream>| -> Result<()> {
        rt.block_on(async {
            for _ in 0..count {
                let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
                let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
                held.push(
                    chainmail_node::handshake::initiate(
                        &bob_node,
                        stream,
                        alice_id,
                        alice_key,
                        alice_valid_until,
                        deadline,
                    )
                    .await?,
                );
            }
            Ok(())
        })
    };
    let mut held = Vec::with_capacity(n);
    open(warm, &mut held)?;
    // The responder opens the confirm frame after our initiate returns and
    // does not report it: give it a moment before reading its RSS.
    std::thread::sleep(Duration::from_millis(300));
    let rss_warm = child.ask("rss")?;
    let start = Instant::now();
    open(n - warm, &mut held)?;
    let rate = (n - warm) as f64 / start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(300));
    let rss = child.ask("rss")?;
    drop(child);
    rt.block_on(async { drop(held) });
    Ok(((rss - rss_warm) as f64 / (n - warm) as f64, rate))
}

/// Measures row 5.
pub fn run(
    plan: &Plan,
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<Row>> {
    let limit = raise_fd_limit();
    // Each side holds one socket per session; keep 200 descriptors spare.
    let target = plan.pick(10_000usize, 60);
    let n = target.min(limit.saturating_sub(200) as usize);
    let warm = plan.pick(500, 10).min(n / 2);
    let (core, _, core_rate) = measure_mode("core", dir, n, warm)?;
    let (tls, _, tls_rate) = measure_mode("rustls", dir, n, warm)?;
    let (snow, _, snow_rate) = measure_mode("snow", dir, n, warm)?;
    let (node, node_rate) = measure_node(rt, dir, n, warm)?;
    notes.push(format!(
        "Row 5: {} sessions per protocol (open-file limit {limit}; {}); memory = responder VmRSS growth from session {warm} to {} ÷ {}. core/rustls/snow keep (socket, protocol state) per session; the node keeps a tokio task, its record reader and its session per connection. Blocking loopback handshakes one after another, as a by-product: chainmail core {:.0}/s, rustls {:.0}/s, snow IK {:.0}/s, node {:.0}/s (the node writes a replay-cache row to SQLite per handshake).",
        fmt_int(n),
        if n >= 10_000 {
            "10,000 reached"
        } else if n == target {
            "a smoke run"
        } else {
            "fewer than 10,000: the open-file limit"
        },
        fmt_int(n),
        fmt_int(n - warm),
        core_rate,
        tls_rate,
        snow_rate,
        node_rate
    ));
    let goal = |row: Row, v: f64| row.goal(format!("≤ 100 KiB: {v:.1} KiB"), v <= 100.0);
    Ok(vec![
        goal(
            Row::new(
                5,
                format!(
                    "memory per idle session, node (task + reader + session), {} open",
                    fmt_int(n)
                ),
                "KiB",
                Better::Lower,
            )
            .chainmail(node)
            .peer(0, tls)
            .peer(2, snow),
            node,
        ),
        goal(
            Row::new(
                5,
                format!(
                    "memory per idle session, (socket, state) only, {} open",
                    fmt_int(n)
                ),
                "KiB",
                Better::Lower,
            )
            .chainmail(core)
            .peer(0, tls)
            .peer(2, snow),
            core,
        ),
    ])
}
