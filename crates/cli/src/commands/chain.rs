//! `chain pin [--force]`: shows the rpc chain this home is pinned to and
//! checks the chain against it (pinning on first use); `--force` re-pins to
//! what the chain is now, after a deliberate change of chain or registry.

use chainmail_chain::ChainSpec;

use crate::context::Context;
use crate::error::{Failure, exit};
use crate::output::{self, PinReport};

/// `chain pin [--force]`.
pub fn pin(ctx: &Context, force: bool) -> Result<u8, Failure> {
    if let ChainSpec::Embedded(_) = ctx.chain_spec()? {
        return Err(Failure::usage(
            "EmbeddedNotPinned",
            "the embedded chain is not pinned: its file carries its own integrity check",
            "pass --chain http(s)://… to pin an rpc chain",
        ));
    }
    ctx.block_on(async {
        let (pin, status) = ctx.pin_chain(force).await?;
        output::print(
            &PinReport {
                status,
                chain_id: pin.chain_id,
                genesis_hash: output::hex32(&pin.genesis_hash),
                registry: pin.registry.to_string(),
                code_hash: output::hex32(&pin.code_hash),
            },
            ctx.json(),
        );
        Ok(exit::OK)
    })
}
