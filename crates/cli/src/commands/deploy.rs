//! `deploy`: the registry contract on an rpc chain at its one CREATE2
//! address, gas paid by the payer key; already there = success, nothing sent.

use chainmail_chain::ChainSpec;

use crate::context::Context;
use crate::error::{Failure, exit};
use crate::output::{self, DeployReport, hex32};
use crate::progress::Spinner;

/// `deploy`: the registry contract on an rpc chain, gas paid by the payer key.
pub fn deploy(ctx: &Context) -> Result<u8, Failure> {
    let url = match ctx.chain_spec()? {
        ChainSpec::Rpc(url) => url,
        ChainSpec::Embedded(_) => {
            return Err(Failure::usage(
                "EmbeddedHasRegistry",
                format!(
                    "the embedded chain has its registry at genesis ({}); nothing to deploy",
                    chainmail_chain::embedded::registry_address()
                ),
                "pass --chain http(s)://… to deploy on an Ethereum node",
            ));
        }
    };
    let payer = ctx.payer_key()?.ok_or_else(|| {
        Failure::usage(
            "NoPayer",
            "deploying sends a transaction and needs a payer key",
            "set CHAINMAIL_PAYER_KEY (or --payer-key, or payer_key_file in config.toml)",
        )
    })?;
    ctx.block_on(async {
        let spin = Spinner::start("deploying the registry");
        let (address, outcome) = ctx.deploy(&url, &payer).await?;
        drop(spin); // cleared before the report is printed
        output::print(
            &DeployReport {
                address: address.to_string(),
                already_deployed: outcome.is_none(),
                tx_hash: outcome.map(|o| hex32(&o.tx_hash)),
                block: outcome.map(|o| o.block),
                gas_used: outcome.map(|o| o.gas_used),
            },
            ctx.json(),
        );
        Ok(exit::OK)
    })
}
