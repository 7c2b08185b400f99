//! One registry address on every chain: `deploy` places the registry through
//! the deterministic deployment proxy (`0x4e59b44847b379578588920cA78FbF26c0B4956C`,
//! which anvil and most public chains carry) with CREATE2 and a fixed salt, so
//! its address is `keccak256(0xff ‖ proxy ‖ salt ‖ keccak256(init code))[12..]`
//! wherever it is deployed. The address is computed here from the committed
//! artifact, never taken from a receipt or a provider; any bytecode change is a
//! new address, hence a new registry.

use alloy::primitives::{B256, keccak256};
use chainmail_core::Address;

use crate::contract::creation_bytecode;

/// The deterministic deployment proxy (github.com/Arachnid/deterministic-deployment-proxy):
/// called with `salt ‖ init code`, it CREATE2s the contract and reverts if that fails.
pub const DEPLOYMENT_PROXY: Address = Address([
    0x4e, 0x59, 0xb4, 0x48, 0x47, 0xb3, 0x79, 0x57, 0x85, 0x88, 0x92, 0x0c, 0xa7, 0x8f, 0xbf, 0x26,
    0xc0, 0xb4, 0x95, 0x6c,
]);

/// The text whose keccak256 is the registry's salt ([`registry_salt`]).
pub const REGISTRY_SALT_TEXT: &str = "chainmail registry v1";

/// The registry's CREATE2 salt: `keccak256("chainmail registry v1")`,
/// `0xabd93701822b08bf7dfc5094c913afa2ef2e7cd89bd35e9d62e84a2d55b45965`.
pub fn registry_salt() -> B256 {
    keccak256(REGISTRY_SALT_TEXT)
}

/// `keccak256` of the registry's init code (the artifact's creation bytecode;
/// the constructor takes no arguments).
pub fn registry_init_code_hash() -> B256 {
    keccak256(creation_bytecode())
}

/// The calldata of the deployment: `salt ‖ init code`, as the proxy expects.
pub fn registry_deploy_calldata() -> Vec<u8> {
    let mut data = registry_salt().to_vec();
    data.extend_from_slice(creation_bytecode());
    data
}

/// The address of this build's registry on every chain:
/// `keccak256(0xff ‖ proxy ‖ salt ‖ keccak256(init code))[12..]`.
pub fn registry_address() -> Address {
    create2_address(DEPLOYMENT_PROXY, registry_salt(), registry_init_code_hash())
}

/// The CREATE2 address of init code hashing to `init_code_hash`, deployed by
/// `deployer` with `salt`.
pub fn create2_address(deployer: Address, salt: B256, init_code_hash: B256) -> Address {
    let mut pre = Vec::with_capacity(85);
    pre.push(0xff);
    pre.extend_from_slice(deployer.as_bytes());
    pre.extend_from_slice(salt.as_slice());
    pre.extend_from_slice(init_code_hash.as_slice());
    let hash = keccak256(&pre);
    let mut out = [0u8; 20];
    out.copy_from_slice(&hash[12..]);
    Address(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{to_alloy, to_core};

    #[test]
    fn salt_is_the_documented_constant() {
        assert_eq!(
            hex::encode(registry_salt()),
            "abd93701822b08bf7dfc5094c913afa2ef2e7cd89bd35e9d62e84a2d55b45965"
        );
        assert_eq!(
            DEPLOYMENT_PROXY.to_string(),
            "0x4e59b44847b379578588920cA78FbF26c0B4956C"
        );
    }

    #[test]
    fn create2_matches_alloy_and_eip_1014() {
        // EIP-1014 example 1: deployer 0, salt 0, init code 0x00.
        let a = create2_address(Address([0; 20]), B256::ZERO, keccak256([0u8]));
        assert_eq!(
            a.to_string().to_lowercase(),
            "0x4d1a2e2bb4f88f0250f26ffff098b0b30b26bf38"
        );
        let alloy = to_alloy(DEPLOYMENT_PROXY).create2(registry_salt(), registry_init_code_hash());
        assert_eq!(to_core(alloy), registry_address());
    }
}
