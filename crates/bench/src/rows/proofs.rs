//! Row 8 (issue 14): what a proof-checked status read costs against a real
//! anvil, beside the plain `eth_call` of `status(id)` that trusts the
//! provider, measured interleaved in the same run on the same anvil; and
//! the CPU of verifying one status proof (account proof against the
//! header's `stateRoot`, code hash, storage proof) with the proof in hand.

use std::time::Instant;

use alloy::eips::BlockNumberOrTag;
use alloy::providers::{Provider, ProviderBuilder};
use anyhow::{Context, Result};
use chainmail_chain::contract::IdentityRegistry;
use chainmail_chain::verified::{self, check_header, slots};
use chainmail_chain::{Registry, RpcOptions, RpcRegistry};
use chainmail_core::SecretKey;
use chainmail_core::eip712::{Certificate, Signed};

use super::gas::{ANVIL_KEY_0, start_anvil};
use crate::measure::{Cpu, Plan, quantile};
use crate::table::{Better, Row, fmt_num};

/// The goal of issue 14: a proof-checked lookup at most this many times
/// the plain `eth_call`.
const LOOKUP_RATIO_GOAL: f64 = 2.0;
/// The goal of issue 14: CPU per verified status proof, µs.
const VERIFY_GOAL_US: f64 = 100.0;

/// Measures row 8.
pub fn run(plan: &Plan, rt: &tokio::runtime::Runtime, notes: &mut Vec<String>) -> Result<Vec<Row>> {
    let lookups = plan.pick(400, 10);
    let verifies = plan.pick(20_000, 50);
    rt.block_on(async {
        let anvil = start_anvil().await?;
        let payer = SecretKey::from_bytes(
            &hex::decode(ANVIL_KEY_0)?
                .try_into()
                .map_err(|_| anyhow::anyhow!("key length"))?,
        )?;
        let (address, _) = chainmail_chain::deploy(&anvil.url, &payer).await?;
        let reg = RpcRegistry::connect(&anvil.url, address, Some(&payer), RpcOptions::default()).await?;
        let domain = reg.domain();
        let alice = SecretKey::generate(&mut rand::rng());
        let now = reg.now().await?;
        reg.register(&Signed::sign(
            &alice,
            &domain,
            Certificate::new(alice.public_key(), now + 86_400, now),
        ))
        .await?;

        let provider = ProviderBuilder::new().connect_http(anvil.url.parse()?);
        let registry = alloy::primitives::Address::from(address.0);
        let contract = IdentityRegistry::new(registry, &provider);
        let id = alloy::primitives::Address::from(alice.address().0);

        // Interleaved, so load on the shared machine hits both alike.
        let (mut proven, mut plain) = (Vec::with_capacity(lookups), Vec::with_capacity(lookups));
        for _ in 0..lookups {
            let t = Instant::now();
            let s = reg.status(alice.address()).await?;
            proven.push(t.elapsed().as_secs_f64() * 1e6);
            anyhow::ensure!(s.valid_until == now + 86_400, "proof-checked status is wrong: {s:?}");
            let t = Instant::now();
            contract.status(id).call().await.context("eth_call status")?;
            plain.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let (p50_proven, p50_plain) = (quantile(&proven, 0.5), quantile(&plain, 0.5));
        let ratio = p50_proven / p50_plain;

        // One proof in hand, verified over and over on this thread.
        let block = provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .context("no latest block")?;
        let header = check_header(&block.header, None).map_err(|m| anyhow::anyhow!("{m}"))?;
        let proof = provider
            .get_proof(registry, vec![slots::status_slot(alice.address())])
            .number(header.number)
            .await?;
        let code_hash = verified::code::expected_code_hash(&domain).map_err(|e| anyhow::anyhow!(e))?;
        let cpu = Cpu::start();
        for _ in 0..verifies {
            let s = verified::verify_status(&header, registry, code_hash, alice.address(), &proof)
                .map_err(|m| anyhow::anyhow!("{m}"))?;
            std::hint::black_box(s);
        }
        let verify_us = cpu.elapsed().as_secs_f64() * 1e6 / verifies as f64;
        drop(anvil);

        notes.push(format!(
            "Row 8: one registered ID on a fresh anvil (loopback HTTP); {lookups} lookups of each kind, interleaved. Proof-checked = `RpcRegistry::status`: `eth_getBlockByNumber(latest)` (header hash recomputed) and `eth_getProof` of the status slot at latest, asked at once (the proof is asked again at the header's number only if a block landed between them), verified (account proof, code hash, storage proof); plain = one `eth_call` of `status(id)` at latest, trusted as is. The verification CPU is {verifies} checks of one proof in hand on this thread (CLOCK_THREAD_CPUTIME_ID); alloy-trie's proof verification does the trie work."
        ));
        let lookup_row = |name: &str, v: f64| Row::new(8, name.to_owned(), "µs", Better::Lower).chainmail(v);
        Ok(vec![
            lookup_row("status lookup p50 against anvil, proof-checked (header + eth_getProof)", p50_proven).goal(
                format!("≤ {LOOKUP_RATIO_GOAL}× plain eth_call: {ratio:.2}×"),
                ratio <= LOOKUP_RATIO_GOAL,
            ),
            lookup_row("status lookup p50 against anvil, plain eth_call (provider trusted)", p50_plain),
            Row::new(8, "CPU to verify one status proof (account + storage)", "µs", Better::Lower)
                .chainmail(verify_us)
                .goal(format!("≤ {} µs: {}", fmt_num(VERIFY_GOAL_US), fmt_num(verify_us)), verify_us <= VERIFY_GOAL_US),
        ])
    })
}
