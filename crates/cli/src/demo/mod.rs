//! `chainmail demo`: the paper's section 4 run for real and narrated with
//! its names, on a fresh temporary embedded chain (`embedded:<tmp>/chain.db`,
//! never the user's chain) with Alice, Bob and Mallory in temporary homes.
//! Each step says what the paper expects; the attacks must be refused with
//! their reason; a summary table ends it, and the exit code is 0 only if
//! every step behaved as expected. The temporary directory is removed.

mod network;
mod report;
mod sessions;

use std::time::Duration;

use chainmail_chain::{ChainError, ChainSpec, Registry};
use chainmail_core::eip712::{Certificate, SessionRequest, Signed};
use chainmail_core::{SecretKey, hash};
use chainmail_node::home::Home;
use chainmail_node::keystore;

use crate::commands::lookup::lookup_with;
use crate::commands::registry::register_with;
use crate::context::runtime;
use crate::error::{Failure, exit};
use crate::output::DemoReport;
use crate::output::{self, Report};

/// Validity of the demo's certificates.
const VALIDITY: Duration = Duration::from_secs(30 * 24 * 3600);
/// Password of the demo's throw-away keystores.
const DEMO_PASSWORD: &[u8] = b"demo";

/// One of the paper's entities, in its temporary home.
struct Entity {
    name: &'static str,
    key: SecretKey,
    home: Home,
}

/// Runs the demo; `json` prints the report as one JSON object instead of
/// narrating.
pub fn run(json: bool) -> Result<u8, Failure> {
    let world = tempfile::Builder::new()
        .prefix("chainmail-demo-")
        .tempdir()
        .map_err(|e| {
            Failure::new(
                "Io",
                format!("cannot create a temporary directory: {e}"),
                "check TMPDIR",
            )
        })?;
    let mut report = DemoReport::new(json);
    let rt = runtime()?;
    let outcome = rt.block_on(paper_flow(world.path(), &mut report));
    // Stop every node task before the directory goes away.
    rt.shutdown_timeout(Duration::from_secs(2));
    let path = world.path().to_path_buf();
    world.close().map_err(|e| {
        Failure::new(
            "Io",
            format!("cannot remove the demo's directory {}: {e}", path.display()),
            "remove it by hand",
        )
    })?;
    outcome?;
    if json {
        output::print(&report, true);
    } else {
        println!("{}", report.human());
        println!(
            "(the temporary chain and homes in {} are removed)",
            path.display()
        );
    }
    if report.ok {
        Ok(exit::OK)
    } else {
        if !json {
            eprintln!(
                "error: the demo did not behave as the paper expects — see the steps marked ✗ above"
            );
        }
        Ok(exit::ERROR)
    }
}

fn err_kind(e: &ChainError) -> (String, String) {
    let f = Failure::of(e);
    (f.kind, f.message)
}

async fn paper_flow(root: &std::path::Path, r: &mut DemoReport) -> Result<(), Failure> {
    let chain_path = root.join("chain.db");
    r.say(format!(
        "a fresh embedded chain: embedded:{}",
        chain_path.display()
    ));
    let registry =
        chainmail_chain::open(&ChainSpec::Embedded(Some(chain_path)), None, None).await?;
    let domain = registry.domain();
    r.say(format!(
        "registry contract {} on chain id {} (EIP-712 domain \"chainmail\" v1)",
        domain.verifying_contract, domain.chain_id
    ));

    // ── Fig. 2: key pairs and IDs ──
    r.section("Fig. 2 — key pairs and IDs: ID = keccak256(K_pub)[12..32]");
    let mut entities = Vec::new();
    for name in ["Alice", "Bob", "Mallory"] {
        let home = Home::at(root.join(name.to_lowercase()));
        let key = SecretKey::generate(&mut rand::rng());
        let public = key.public_key();
        let id = public.address();
        let derived = &hash::keccak256(public.as_xy())[12..];
        let result = home
            .ensure()
            .map_err(|e| e.to_string())
            .and_then(|()| {
                keystore::save(&home.keystore(), &key, DEMO_PASSWORD).map_err(|e| e.to_string())
            })
            .and_then(|()| {
                if derived == id.as_bytes() {
                    Ok(format!(
                        "ID^{} = {id}, K_pri in a v3 keystore (scrypt)",
                        &name[..1]
                    ))
                } else {
                    Err("the ID is not the hash of the key".into())
                }
            });
        r.say(format!(
            "K_pub^{name} = 0x{}…",
            &hex::encode(public.to_xy())[..24]
        ));
        let pronoun = if name == "Bob" { "his" } else { "her" };
        r.expect_ok(
            "Fig. 2",
            format!("{name} generates a key pair and derives {pronoun} ID"),
            result,
        );
        entities.push(Entity { name, key, home });
    }
    let [alice, bob, mallory] = <[Entity; 3]>::try_from(entities)
        .map_err(|_| Failure::new("Internal", "three entities", ""))?;

    // ── §4.1.2: registration ──
    r.section("§4.1.2 — self-signed certificates (ID, K_pub, t, T) registered and checked by the contract");
    // Step 3a first, while Alice's ID is still free: Mallory signs a
    // certificate for Alice's key with her own key.
    let now = registry.now().await?;
    let forged = Signed::sign(
        &mallory.key,
        &domain,
        Certificate::new(alice.key.public_key(), now + VALIDITY.as_secs(), now),
    );
    let result = registry
        .register(&forged)
        .await
        .map(|o| format!("block {}", o.block))
        .map_err(|e| err_kind(&e));
    r.expect_refused(
        "§4.1.2 3a",
        "Mallory registers Alice's key with a certificate she signed",
        "BadSignature",
        result,
    );
    for who in [&alice, &bob, &mallory] {
        let result = register_with(&*registry, &who.key, VALIDITY)
            .await
            .map(|o| format!("block {}, {} gas, t = T + 30 days", o.block, o.gas_used))
            .map_err(|e| e.to_string());
        r.expect_ok(
            "§4.1.2",
            format!(
                "{} registers S_pri^{}(K_pub, t, T)",
                who.name,
                &who.name[..1]
            ),
            result,
        );
    }
    let result = register_with(&*registry, &alice.key, VALIDITY)
        .await
        .map(|o| format!("block {}", o.block))
        .map_err(|e| err_kind(&e));
    r.expect_refused(
        "§4.1.2 3b",
        "Alice's ID registered a second time",
        "AlreadyRegistered",
        result,
    );

    // Lookup: what Bob learns of Alice from the chain.
    let result = lookup_with(&*registry, alice.key.address())
        .await
        .map_err(|e| e.to_string())
        .and_then(|l| {
            let key_ok = l.public_key.as_deref()
                == Some(&format!("0x{}", hex::encode(alice.key.public_key().to_xy()))[..]);
            if l.valid && key_ok {
                Ok("registered, valid; K_pub^A from the Registered log hashes to ID^A".to_owned())
            } else {
                Err(format!("valid {}, key matches {key_ok}", l.valid))
            }
        });
    r.expect_ok("§4.1.2 4", "Bob looks up ID^A on the chain", result);

    // ── §4.1.3 steps 1–2: T_B and verifySession ──
    r.section("§4.1.3 1–2 — T_B = [ID^B, ID^A, T, S_pri^B(ID^B, ID^A, T)] checked by the contract");
    let result =
        session_request_check(&*registry, &bob.key, &bob.key, alice.key.address(), 0).await;
    r.expect_ok(
        "§4.1.3 2",
        "the contract's verifySession on Bob's T_B",
        result.map_err(|(_, m)| m),
    );
    let result =
        session_request_check(&*registry, &mallory.key, &bob.key, alice.key.address(), 0).await;
    r.expect_refused(
        "§4.1.3 2b",
        "T_B claiming to be Bob, signed by Mallory",
        "BadSignature",
        result,
    );
    let result =
        session_request_check(&*registry, &bob.key, &bob.key, alice.key.address(), 3600).await;
    r.expect_refused(
        "§4.1.3 2b",
        "T_B with a timestamp an hour old (replayed)",
        "StaleTimestamp",
        result,
    );

    sessions::run(r, &registry, &alice, &bob, &mallory).await
}

/// Builds T_B as `claimed` (ID^B) to `to`, signed by `signer`, with T =
/// chain time − `age`, and asks the contract's `verifySession`.
async fn session_request_check(
    registry: &dyn Registry,
    signer: &SecretKey,
    claimed: &SecretKey,
    to: chainmail_core::Address,
    age: u64,
) -> Result<String, (String, String)> {
    let now = registry.now().await.map_err(|e| err_kind(&e))?;
    let ephemeral = SecretKey::generate(&mut rand::rng());
    let request = SessionRequest {
        from: claimed.address(),
        to,
        timestamp: now.saturating_sub(age),
        ephemeral_key_hash: hash::keccak256(&ephemeral.public_key().compressed()),
    };
    let t_b = Signed::sign(signer, &registry.domain(), request);
    registry
        .verify_session(&t_b)
        .await
        .map(|()| {
            "verifySession returned true: both IDs valid, T fresh, signature by ID^B".to_owned()
        })
        .map_err(|e| err_kind(&e))
}
