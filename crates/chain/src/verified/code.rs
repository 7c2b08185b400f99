//! The registry's runtime code as this build deploys it: the committed
//! artifact's `deployedBytecode` with its three immutables filled in (chain
//! id, contract address, EIP-712 domain separator), so the code hash a proof
//! shows can be compared with the one this build expects.

use std::sync::OnceLock;

use alloy::primitives::{B256, U256, keccak256};
use chainmail_core::eip712::Domain;

/// The artifact the `sol!` binding and `deploy` use.
const ARTIFACT: &str = include_str!("../../contracts/IdentityRegistry.json");

/// Runtime code with immutables zeroed, and per immutable (in declaration
/// order, which is ascending AST id) the byte ranges it fills.
struct Template {
    code: Vec<u8>,
    immutables: Vec<Vec<(usize, usize)>>,
}

fn parse() -> Result<Template, String> {
    let json: serde_json::Value = serde_json::from_str(ARTIFACT).map_err(|e| e.to_string())?;
    let deployed = &json["deployedBytecode"];
    let hex_code = deployed["object"]
        .as_str()
        .ok_or("artifact has no deployedBytecode.object")?;
    let code = hex::decode(hex_code.trim_start_matches("0x")).map_err(|e| e.to_string())?;
    let refs = deployed["immutableReferences"]
        .as_object()
        .ok_or("artifact has no immutableReferences")?;
    let mut ids: Vec<(u64, Vec<(usize, usize)>)> = Vec::new();
    for (id, ranges) in refs {
        let id: u64 = id.parse().map_err(|_| format!("immutable id {id}"))?;
        let mut out = Vec::new();
        for r in ranges.as_array().ok_or("immutable ranges")? {
            let start = r["start"].as_u64().ok_or("immutable start")? as usize;
            let length = r["length"].as_u64().ok_or("immutable length")? as usize;
            if length != 32 || start + length > code.len() {
                return Err(format!("immutable range {start}+{length} out of the code"));
            }
            out.push((start, length));
        }
        ids.push((id, out));
    }
    ids.sort_by_key(|(id, _)| *id);
    if ids.len() != 3 {
        return Err(format!(
            "expected 3 immutables, the artifact has {}",
            ids.len()
        ));
    }
    Ok(Template {
        code,
        immutables: ids.into_iter().map(|(_, r)| r).collect(),
    })
}

fn template() -> &'static Result<Template, String> {
    static T: OnceLock<Result<Template, String>> = OnceLock::new();
    T.get_or_init(parse)
}

/// The runtime code this build's registry has at `domain.verifying_contract`
/// on chain `domain.chain_id`.
pub fn expected_code(domain: &Domain) -> Result<Vec<u8>, String> {
    let t = template().as_ref().map_err(Clone::clone)?;
    let mut address = [0u8; 32];
    address[12..].copy_from_slice(domain.verifying_contract.as_bytes());
    // _cachedChainId, _cachedThis, _cachedDomainSeparator, in declaration order.
    let values = [
        U256::from(domain.chain_id).to_be_bytes::<32>(),
        address,
        domain.separator(),
    ];
    let mut code = t.code.clone();
    for (ranges, value) in t.immutables.iter().zip(values) {
        for &(start, len) in ranges {
            code[start..start + len].copy_from_slice(&value);
        }
    }
    Ok(code)
}

/// `keccak256` of [`expected_code`].
pub fn expected_code_hash(domain: &Domain) -> Result<B256, String> {
    expected_code(domain).map(keccak256)
}
