//! The demo's second half: nodes for Alice, Bob and Mallory on loopback
//! TCP, the handshake of §4.1.3 (T_B1, T_A2, mutual authentication), signed
//! and encrypted messages both ways (§4.1.4), then the attacks — Mallory at
//! Alice's endpoint, a replayed T_B1, a revoked key — each refused with its
//! reason. Everything runs through the node crate; the demo only watches.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chainmail_chain::Registry;
use chainmail_core::Address;
use chainmail_core::eip712::Message;
use chainmail_core::handshake::{T_A2_LEN, T_B1_LEN};
use chainmail_core::hash;
use chainmail_core::wire::verify_stored;
use chainmail_node::handshake;
use chainmail_node::store::{InboxEntry, Store};
use chainmail_node::{Node, NodeOptions, SendStatus};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::Entity;
use super::network::Relay;
use crate::commands::registry::{publish_endpoint, revoke_with};
use crate::error::{Failure, Kind};
use crate::output::DemoReport;

/// Longest the demo waits for any one network step (a bound against a
/// hang, never a synchronisation).
const STEP_TIMEOUT: Duration = Duration::from_secs(10);

/// A node and its listener task.
struct Running {
    node: Node,
    addr: SocketAddr,
}

async fn start(
    e: &Entity,
    registry: &Arc<dyn Registry>,
    stop: &watch::Receiver<bool>,
) -> Result<Running, Failure> {
    let io = |what: &str, err: String| Failure::new("Io", format!("{}: {what}: {err}", e.name), "");
    let store = Store::open(&e.home.store()).map_err(|err| io("message store", err.to_string()))?;
    let node = Node::new(
        e.key.clone_key(),
        registry.clone(),
        store,
        NodeOptions::default(),
    );
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|err| io("listen", err.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|err| io("listen", err.to_string()))?;
    let mut stop = stop.clone();
    let n = node.clone();
    tokio::spawn(async move {
        let _ = chainmail_node::run(listener, n, async move {
            let _ = stop.wait_for(|s| *s).await;
        })
        .await;
    });
    Ok(Running { node, addr })
}

fn inbox(node: &Node) -> Vec<InboxEntry> {
    node.store().inbox_after(0, 1000).unwrap_or_default()
}

/// Proves a stored message from the sender's key on the chain alone.
async fn prove(registry: &dyn Registry, e: &InboxEntry, sender: &str) -> Result<String, String> {
    let m = &e.message;
    let key = registry
        .public_key(m.from)
        .await
        .map_err(|err| err.to_string())?
        .ok_or("the sender has no key on the chain")?;
    let proof = m
        .proof
        .message_proof()
        .ok_or("batch-signed before its place in the batch was kept; verified by the receiving node before it acked")?;
    let message = Message {
        from: m.from,
        to: m.to,
        id: m.message_id,
        sent_at: m.sent_at,
        body_hash: hash::keccak256(m.body.as_bytes()),
    };
    verify_stored(
        &registry.domain(),
        &message,
        m.body.as_bytes(),
        &proof,
        &key,
    )
    .map_err(|err| err.to_string())?;
    Ok(format!(
        "\"{}\" — {sender}'s signature checked with K_pub^{} from the chain",
        m.body,
        &sender[..1]
    ))
}

/// Runs the second half of the demo.
pub async fn run(
    r: &mut DemoReport,
    registry: &Arc<dyn Registry>,
    alice: &Entity,
    bob: &Entity,
    mallory: &Entity,
) -> Result<(), Failure> {
    // Why a watch channel: one signal stops every listener at the end.
    let (stop_tx, stop_rx) = watch::channel(false);
    let a = start(alice, registry, &stop_rx).await?;
    let b = start(bob, registry, &stop_rx).await?;
    let m = start(mallory, registry, &stop_rx).await?;
    let relay = Relay::start(a.addr)
        .await
        .map_err(|e| Failure::new("Io", format!("relay: {e}"), ""))?;

    // ── Peer information (§4.2.1): where each ID is reached ──
    r.section(
        "§4.2.1 — peer information: each node listens on 127.0.0.1 and publishes its endpoint",
    );
    r.say(format!(
        "Alice listens on {}; the network path to her is {} (a relay the demo controls)",
        a.addr, relay.addr
    ));
    for (who, addr) in [(alice, relay.addr), (bob, b.addr)] {
        let result = publish_endpoint(&**registry, &who.key, &addr.to_string())
            .await
            .map(|o| {
                format!(
                    "Endpoint({addr}) signed by {} in block {}",
                    who.name, o.block
                )
            })
            .map_err(|e| e.to_string());
        r.expect_ok(
            "§4.2.1",
            format!(
                "{} publishes where to reach her/him (setEndpoint)",
                who.name
            ),
            result,
        );
    }

    // ── §4.1.3 steps 3–5 and §4.1.4: Bob → Alice ──
    r.section("§4.1.3 3–5 — T_B1 = [.., E_pubA(ID^B, ID^A, T, K_pubB)], T_A2 = [.., E_pubB(ID^A, ID^B, T+1, K_pubA)]");
    r.say(format!(
        "T_B1 is {T_B1_LEN} bytes: clear header (version, type, registry, ID^A, E_B) and, encrypted to Alice's key, ID^B, T, K_pubB and Bob's signature on T_B"
    ));
    r.say(format!(
        "T_A2 is {T_A2_LEN} bytes: E_A and, encrypted to Bob, ID^A, T+1, K_pubA and Alice's signature binding keccak(T_B1)"
    ));
    let sent = tokio::time::timeout(
        STEP_TIMEOUT,
        chainmail_node::send(
            &b.node,
            alice.key.address(),
            "Hello Alice, this is Bob.",
            STEP_TIMEOUT,
        ),
    )
    .await;
    let result = match sent {
        Ok(Ok(o)) if o.status == SendStatus::Delivered => {
            let carried = relay.recorded(0).unwrap_or_default();
            Ok(format!(
                "mutual authentication; keys = HKDF(ss‖es‖ee); message acked ({} bytes Bob→Alice, {} bytes Alice→Bob on the wire)",
                carried.to_server.len(),
                carried.to_client
            ))
        }
        Ok(Ok(o)) => Err(format!(
            "{}: {}",
            o.status.as_str(),
            o.reason.unwrap_or_default()
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    };
    r.expect_ok(
        "§4.1.3 3–5",
        "Bob dials Alice's endpoint from the chain; T_B1 → T_A2 → confirm",
        result,
    );

    r.section("§4.1.4 — ECDH session keys; signed, encrypted messages both ways");
    let result = match inbox(&a.node).as_slice() {
        [one] if one.message.from == bob.key.address() => prove(&**registry, one, "Bob").await,
        other => Err(format!("Alice's inbox holds {} messages", other.len())),
    };
    r.expect_ok(
        "§4.1.4",
        "Alice reads Bob's message and checks his signature",
        result,
    );
    let sent = tokio::time::timeout(
        STEP_TIMEOUT,
        chainmail_node::send(
            &a.node,
            bob.key.address(),
            "Hello Bob, Alice here.",
            STEP_TIMEOUT,
        ),
    )
    .await;
    let result = match sent {
        Ok(Ok(o)) if o.status == SendStatus::Delivered => match inbox(&b.node).as_slice() {
            [one] if one.message.from == alice.key.address() => {
                prove(&**registry, one, "Alice").await
            }
            other => Err(format!("Bob's inbox holds {} messages", other.len())),
        },
        Ok(Ok(o)) => Err(format!(
            "{}: {}",
            o.status.as_str(),
            o.reason.unwrap_or_default()
        )),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    };
    r.expect_ok(
        "§4.1.4",
        "Alice answers in a session she initiates; Bob checks her signature",
        result,
    );

    // ── Attack 1: Mallory at Alice's endpoint ──
    r.section(
        "attack — Mallory takes over Alice's address (the relay now leads to Mallory's node)",
    );
    relay.redirect(m.addr);
    // Bob still holds the session of his first message to the real Alice
    // (kept for the next one); closing it makes his next send dial anew,
    // as it would once that session had idled out.
    chainmail_node::close_idle_sessions(&b.node, Duration::ZERO).await;
    let sent = tokio::time::timeout(
        STEP_TIMEOUT,
        chainmail_node::send(
            &b.node,
            alice.key.address(),
            "Are you there, Alice?",
            Duration::from_secs(5),
        ),
    )
    .await;
    let mallory_got = inbox(&m.node).len();
    let result = match sent {
        Ok(Ok(o)) if o.status == SendStatus::Queued && mallory_got == 0 => Err((
            "Queued".to_owned(),
            format!(
                "Mallory cannot read T_B1 nor sign T_A2; nothing reached her; message kept queued ({})",
                o.reason.unwrap_or_default()
            ),
        )),
        Ok(Ok(o)) => Ok(format!(
            "{} and Mallory holds {mallory_got} messages",
            o.status.as_str()
        )),
        Ok(Err(e)) => Err(("Error".to_owned(), e.to_string())),
        Err(_) => Err(("Timeout".to_owned(), "timed out".into())),
    };
    r.expect_refused(
        "§4.1.3 5",
        "Bob sends to Alice, Mallory answers at her endpoint",
        "Queued",
        result,
    );
    relay.redirect(a.addr);
    let delivered = tokio::time::timeout(
        STEP_TIMEOUT,
        chainmail_node::deliver(&b.node, alice.key.address(), STEP_TIMEOUT),
    )
    .await;
    let result = match delivered {
        Ok(report) if report.delivered.len() == 1 => {
            let got = inbox(&a.node);
            match got.last() {
                Some(e) if e.message.body == "Are you there, Alice?" => {
                    Ok("the real Alice answered: the queued message is delivered, once".to_owned())
                }
                _ => Err(format!("Alice's inbox holds {} messages", got.len())),
            }
        }
        Ok(report) => Err(format!("{:?}", report.outcome)),
        Err(_) => Err("timed out".into()),
    };
    r.expect_ok(
        "§4.1.3 5",
        "the real Alice is back: Bob's outbox delivers",
        result,
    );

    // ── Attack 2: a replayed T_B1 ──
    r.section("attack — Mallory replays the connection she recorded (T_B1 and all) to Alice");
    let before = inbox(&a.node).len();
    let recorded = relay.recorded(0).map(|r| r.to_server).unwrap_or_default();
    let result = replay_to(&a.node, &recorded).await;
    let after = inbox(&a.node).len();
    let result = match result {
        Err((kind, msg)) if after == before => Err((kind, format!("{msg}; nothing new stored"))),
        Err((kind, msg)) => Err((
            kind,
            format!("{msg}; but {} new messages stored", after - before),
        )),
        Ok(detail) => Ok(detail),
    };
    r.expect_refused(
        "§4.1.3 4",
        "a recorded T_B1 replayed to Alice",
        "Replay",
        result,
    );

    // ── Attack 3: a revoked key ──
    r.section("attack — Mallory's key is revoked on the chain");
    let result = revoke_with(&**registry, &mallory.key)
        .await
        .map(|o| format!("Revocation signed by Mallory's key, block {}", o.block))
        .map_err(|e| e.to_string());
    r.expect_ok("revocation", "Mallory's ID is revoked (final)", result);
    let sent = tokio::time::timeout(
        STEP_TIMEOUT,
        chainmail_node::send(&b.node, mallory.key.address(), "hi Mallory", STEP_TIMEOUT),
    )
    .await;
    let result = match sent {
        Ok(Ok(o)) if o.status == SendStatus::Rejected => Err((
            "Rejected".to_owned(),
            format!("rejected before dialing: {}", o.reason.unwrap_or_default()),
        )),
        Ok(Ok(o)) => Ok(o.status.as_str().to_owned()),
        Ok(Err(e)) => Err(("Error".to_owned(), e.to_string())),
        Err(_) => Err(("Timeout".to_owned(), "timed out".into())),
    };
    r.expect_refused(
        "§4.1.3 2a",
        "Bob sends to the revoked Mallory",
        "Rejected",
        result,
    );
    let result = revoked_initiator(&m.node, &a.node, alice.key.address(), alice).await;
    r.expect_refused(
        "§4.1.3 4",
        "the revoked Mallory opens a session to Alice",
        "PeerNotValid",
        result,
    );

    let _ = stop_tx.send(true);
    Ok(())
}

/// Writes `bytes` to a connection that Alice's node accepts, and returns
/// how her node judged it.
async fn replay_to(alice: &Node, bytes: &[u8]) -> Result<String, (String, String)> {
    let io = |e: std::io::Error| ("Io".to_owned(), e.to_string());
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    let bytes = bytes.to_vec();
    let attacker = tokio::spawn(async move {
        if let Ok(mut s) = TcpStream::connect(addr).await {
            let _ = s.write_all(&bytes).await;
            // Keep the socket open until Alice's side is done with it.
            let mut sink = [0u8; 1024];
            let _ = tokio::time::timeout(
                STEP_TIMEOUT,
                tokio::io::AsyncReadExt::read(&mut s, &mut sink),
            )
            .await;
        }
    });
    let (stream, _) = listener.accept().await.map_err(io)?;
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let judged =
        tokio::time::timeout(STEP_TIMEOUT, handshake::accept(alice, stream, deadline)).await;
    attacker.abort();
    match judged {
        Ok(Ok(s)) => Ok(format!("Alice accepted a session from {}", s.peer())),
        Ok(Err(e)) => Err((e.kind().to_owned(), format!("Alice's node: {e}"))),
        Err(_) => Err(("Timeout".to_owned(), "timed out".into())),
    }
}

/// Mallory (revoked) initiates a session to Alice; returns Alice's verdict.
async fn revoked_initiator(
    mallory: &Node,
    alice: &Node,
    alice_id: Address,
    alice_entity: &Entity,
) -> Result<String, (String, String)> {
    let io = |e: std::io::Error| ("Io".to_owned(), e.to_string());
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(io)?;
    let addr = listener.local_addr().map_err(io)?;
    let m = mallory.clone();
    let alice_key = alice_entity.key.public_key();
    // Whatever Alice's status says: Mallory's side is not what is judged here.
    let alice_valid_until = mallory
        .registry()
        .status(alice_id)
        .await
        .map_or(0, |s| s.valid_until);
    let initiator = tokio::spawn(async move {
        if let Ok(s) = TcpStream::connect(addr).await {
            let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
            let _ = tokio::time::timeout(
                STEP_TIMEOUT,
                handshake::initiate(&m, s, alice_id, alice_key, alice_valid_until, deadline),
            )
            .await;
        }
    });
    let (stream, _) = listener.accept().await.map_err(io)?;
    let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
    let judged =
        tokio::time::timeout(STEP_TIMEOUT, handshake::accept(alice, stream, deadline)).await;
    initiator.abort();
    match judged {
        Ok(Ok(s)) => Ok(format!("Alice accepted a session from {}", s.peer())),
        Ok(Err(e)) => Err((e.kind().to_owned(), format!("Alice's node: {e}"))),
        Err(_) => Err(("Timeout".to_owned(), "timed out".into())),
    }
}
