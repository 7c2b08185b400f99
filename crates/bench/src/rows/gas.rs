//! Row 7: gas per contract call on a real anvil (the pinned Foundry build),
//! the registry deployed from the committed artifact: register, renew,
//! setEndpoint, revoke as mined transactions (gasUsed of the receipt), and
//! verifySession as a view (eth_estimateGas). Beside them, two reference
//! figures measured earlier on this project's anvil: ERC-1056
//! `changeOwner` 68,822 and EAS `attest` 317,199 (not re-implemented here).

use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::providers::{Provider, ProviderBuilder};
use anyhow::{Context, Result, bail};
use chainmail_chain::contract::IdentityRegistry;
use chainmail_chain::{Registry, RpcOptions, RpcRegistry};
use chainmail_core::eip712::{Certificate, Endpoint, Renewal, Revocation, SessionRequest, Signed};
use chainmail_core::{SecretKey, hash::keccak256};

use crate::measure::Plan;
use crate::table::{Better, Row, fmt_num};

/// anvil's first dev account (mnemonic "test test … junk"): funded at genesis, public knowledge.
pub(crate) const ANVIL_KEY_0: &str =
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
/// ERC-1056 `changeOwner`, measured earlier on this machine's anvil.
const ERC1056_CHANGE_OWNER: f64 = 68_822.0;
/// EAS `attest`, measured earlier on this machine's anvil.
const EAS_ATTEST: f64 = 317_199.0;

/// The anvil platform binary: `$CHAINMAIL_BENCH_ANVIL`, else under
/// `node_modules/@foundry-rs/anvil-*/bin/` of the repository (never the
/// npm wrapper, which exits 0 and orphans its child).
fn anvil_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("CHAINMAIL_BENCH_ANVIL") {
        return Ok(p.into());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../node_modules/@foundry-rs");
    for entry in
        std::fs::read_dir(&root).with_context(|| format!("{} (run `npm ci`)", root.display()))?
    {
        let dir = entry?.path();
        let bin = dir.join("bin").join("anvil");
        if dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("anvil-"))
            && bin.exists()
        {
            return Ok(bin);
        }
    }
    bail!(
        "no anvil under {}: run `npm ci` at the repository root",
        root.display()
    )
}

/// A running anvil, killed (by its own pid) when dropped.
pub(crate) struct Anvil {
    child: Child,
    pub(crate) url: String,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn start_anvil() -> Result<Anvil> {
    let bin = anvil_binary()?;
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port();
    let child = Command::new(&bin)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let mut anvil = Anvil {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let provider = ProviderBuilder::new().connect_http(anvil.url.parse()?);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = anvil.child.try_wait()? {
            bail!("anvil exited with {status}");
        }
        if provider.get_chain_id().await.is_ok() {
            return Ok(anvil);
        }
        if Instant::now() > deadline {
            bail!("anvil did not answer within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn gas_row(name: &str, gas: u64) -> Row {
    Row::new(7, format!("gas: {name}"), "gas", Better::Lower).chainmail(gas as f64)
}

/// Measures row 7.
pub fn run(
    _plan: &Plan,
    rt: &tokio::runtime::Runtime,
    notes: &mut Vec<String>,
) -> Result<Vec<Row>> {
    rt.block_on(async {
        let anvil = start_anvil().await?;
        let payer = SecretKey::from_bytes(&hex::decode(ANVIL_KEY_0)?.try_into().map_err(|_| anyhow::anyhow!("key length"))?)?;
        let (address, deployed) = chainmail_chain::deploy(&anvil.url, &payer).await?;
        let deployed = deployed.ok_or_else(|| anyhow::anyhow!("a fresh anvil already had the registry"))?;
        let reg = RpcRegistry::connect(&anvil.url, address, Some(&payer), RpcOptions::default()).await?;
        let domain = reg.domain();
        let alice = SecretKey::generate(&mut rand::rng());
        let bob = SecretKey::generate(&mut rand::rng());
        let now = reg.now().await?;

        let cert = |k: &SecretKey| Signed::sign(k, &domain, Certificate::new(k.public_key(), now + 86_400, now));
        let register = reg.register(&cert(&alice)).await?.gas_used;
        reg.register(&cert(&bob)).await?;
        let renew = reg
            .renew(&Signed::sign(&alice, &domain, Renewal { id: alice.address(), valid_until: now + 2 * 86_400, issued_at: now + 1 }))
            .await?
            .gas_used;
        let endpoint = reg
            .set_endpoint(&Signed::sign(
                &alice,
                &domain,
                Endpoint { id: alice.address(), endpoint: "203.0.113.7:7400".into(), sequence: now * 1000 },
            ))
            .await?
            .gas_used;

        // verifySession as a view: what eth_estimateGas charges for the call.
        let request = Signed::sign(
            &bob,
            &domain,
            SessionRequest { from: bob.address(), to: alice.address(), timestamp: reg.now().await?, ephemeral_key_hash: keccak256(b"bench ephemeral key") },
        );
        reg.verify_session(&request).await?;
        let provider = ProviderBuilder::new().connect_http(anvil.url.parse()?);
        let contract = IdentityRegistry::new(alloy::primitives::Address::from(address.0), &provider);
        let verify = contract
            .verifySession(
                alloy::primitives::Address::from(request.payload.from.0),
                alloy::primitives::Address::from(request.payload.to.0),
                request.payload.timestamp,
                request.payload.ephemeral_key_hash.into(),
                request.signature.to_bytes().to_vec().into(),
            )
            .estimate_gas()
            .await?;

        let revoke = reg
            .revoke(&Signed::sign(&alice, &domain, Revocation { id: alice.address(), revoked_at: reg.now().await? }))
            .await?
            .gas_used;
        notes.push(format!(
            "Row 7: a real anvil with the registry deployed from the committed artifact ({} gas); transactions sent by a relayer (anvil's dev account 0), figures are each receipt's gasUsed (21,000 base + calldata + execution). verifySession is a view: eth_estimateGas of the call, base and calldata included. ERC-1056 changeOwner 68,822 and EAS attest 317,199 are reference figures measured earlier on this project's anvil, not re-run here; the register row gives chainmail's ratio to each.",
            fmt_num(deployed.gas_used as f64)
        ));
        drop(anvil);
        Ok(vec![
            gas_row(
                &format!(
                    "register (references: ERC-1056 changeOwner 68,822 → {:.2}×, EAS attest 317,199 → {:.2}×)",
                    register as f64 / ERC1056_CHANGE_OWNER,
                    register as f64 / EAS_ATTEST
                ),
                register,
            )
            .goal(format!("≤ 52,000: {}", fmt_num(register as f64)), register <= 52_000),
            gas_row("renew", renew),
            gas_row("setEndpoint", endpoint),
            gas_row("revoke", revoke),
            gas_row("verifySession (view, eth_estimateGas)", verify),
        ])
    })
}
