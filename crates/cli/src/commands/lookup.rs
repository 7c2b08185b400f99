//! `lookup ID|NAME`: what the chain says of an ID (§4.1.3: status, key,
//! endpoint), by this machine's clock as well as the contract's.

use chainmail_chain::{ChainError, Registry};
use chainmail_core::Address;

use crate::clock::unix_now;
use crate::context::Context;
use crate::error::{Failure, exit};
use crate::output::{self, LookupReport};
use crate::peer::Peer;

/// `lookup ID|NAME` (a name is looked up in the sealed contacts: it
/// unlocks the identity; an ID needs no password).
pub fn lookup(ctx: &Context, peer: &Peer) -> Result<u8, Failure> {
    if let Some(mut daemon) = crate::daemon::connect(ctx) {
        let report: LookupReport =
            daemon.call("lookup", serde_json::json!({ "id": peer.text() }))?;
        output::print(&report, ctx.json());
        return Ok(exit::OK);
    }
    let id = match peer {
        Peer::Id(a) => *a,
        Peer::Name(_) => peer.resolve(ctx.store()?)?,
    };
    ctx.block_on(async {
        let registry = ctx.registry().await?;
        let report = lookup_with(&*registry, id).await?;
        output::print(&report, ctx.json());
        Ok(exit::OK)
    })
}

/// What the chain says of `id`, as `lookup` reports it. `valid` needs both
/// the contract's `isValid` (pending block) and this machine's clock to agree.
pub async fn lookup_with(registry: &dyn Registry, id: Address) -> Result<LookupReport, ChainError> {
    let status = registry.status(id).await?;
    if !status.is_registered() {
        return Ok(LookupReport {
            id: id.to_string(),
            registered: false,
            valid: false,
            valid_until: None,
            issued_at: None,
            revoked_at: None,
            public_key: None,
            endpoint: None,
            trust: registry.trust().to_string(),
            verified_block: registry.verified_block(),
        });
    }
    let chain_valid = registry.is_valid(id).await?;
    let public_key = registry.public_key(id).await?;
    let endpoint = registry.endpoint(id).await?;
    Ok(LookupReport {
        id: id.to_string(),
        registered: true,
        valid: chain_valid && status.check(unix_now()).is_ok(),
        valid_until: Some(status.valid_until),
        issued_at: Some(status.issued_at),
        revoked_at: (status.revoked_at != 0).then_some(status.revoked_at),
        public_key: public_key.map(|k| format!("0x{}", hex::encode(k.to_xy()))),
        endpoint: endpoint.map(|e| e.endpoint),
        trust: registry.trust().to_string(),
        verified_block: registry.verified_block(),
    })
}
