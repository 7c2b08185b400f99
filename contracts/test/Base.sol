// SPDX-License-Identifier: MIT OR Apache-2.0
// Test scaffolding for the IdentityRegistry tests: the few forge cheatcodes and
// assertions we use (forge-std cannot be installed here), plus an EIP-712
// implementation written independently of the contract's assembly, so the tests
// check the contract against the standard rather than against itself.
pragma solidity 0.8.30;

import {IdentityRegistry} from "../src/IdentityRegistry.sol";

/// @notice The forge cheatcodes the tests use (the subset of forge-std's `Vm`).
interface Vm {
    /// @notice forge-std's `VmSafe.Wallet`.
    struct Wallet {
        address addr;
        uint256 publicKeyX;
        uint256 publicKeyY;
        uint256 privateKey;
    }

    /// @notice forge-std's `VmSafe.Log`.
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function addr(uint256 privateKey) external pure returns (address);
    function createWallet(uint256 privateKey) external returns (Wallet memory);
    function warp(uint256 timestamp) external;
    function roll(uint256 blockNumber) external;
    function chainId(uint256 newChainId) external;
    function prank(address sender) external;
    function assume(bool condition) external pure;
    function expectRevert(bytes calldata revertData) external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter) external;
    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory);
    function getDeployedCode(string calldata artifactPath) external view returns (bytes memory);
    function etch(address target, bytes calldata code) external;
    function toString(uint256 value) external pure returns (string memory);
    function toString(address value) external pure returns (string memory);
    function toString(bytes32 value) external pure returns (string memory);
}

/// @notice Assertions, cheatcodes and signing helpers shared by the test contracts.
abstract contract Base {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @dev secp256k1 group order.
    uint256 internal constant N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141;

    // The type strings of DESIGN.md section 2, written out again here on purpose.
    bytes32 internal constant T_DOMAIN =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 internal constant T_CERTIFICATE =
        keccak256("Certificate(address id,bytes publicKey,uint64 validUntil,uint64 issuedAt)");
    bytes32 internal constant T_RENEWAL = keccak256("Renewal(address id,uint64 validUntil,uint64 issuedAt)");
    bytes32 internal constant T_REVOCATION = keccak256("Revocation(address id,uint64 revokedAt)");
    bytes32 internal constant T_ENDPOINT = keccak256("Endpoint(address id,string endpoint,uint64 sequence)");
    bytes32 internal constant T_SESSION_REQUEST =
        keccak256("SessionRequest(address from,address to,uint64 timestamp,bytes32 ephemeralKeyHash)");

    // ---------------------------------------------------------------- assertions

    function fail(string memory message) internal pure {
        revert(message);
    }

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) fail(message);
    }

    function assertEq(uint256 a, uint256 b, string memory message) internal pure {
        if (a != b) fail(string.concat(message, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(address a, address b, string memory message) internal pure {
        if (a != b) fail(string.concat(message, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(bytes32 a, bytes32 b, string memory message) internal pure {
        if (a != b) fail(string.concat(message, ": ", vm.toString(a), " != ", vm.toString(b)));
    }

    function assertEq(bytes memory a, bytes memory b, string memory message) internal pure {
        if (keccak256(a) != keccak256(b)) fail(message);
    }

    /// @dev forge-std's `bound`, simplified: maps x into [lo, hi].
    function bound(uint256 x, uint256 lo, uint256 hi) internal pure returns (uint256) {
        require(lo <= hi, "bound: lo > hi");
        if (x >= lo && x <= hi) return x;
        return lo + x % (hi - lo + 1);
    }

    // ---------------------------------------------------------------- keys

    /// @dev 64-byte x‖y public key of `privateKey`.
    function publicKeyOf(uint256 privateKey) internal returns (bytes memory) {
        Vm.Wallet memory w = vm.createWallet(privateKey);
        return abi.encodePacked(w.publicKeyX, w.publicKeyY);
    }

    // ---------------------------------------------------------------- EIP-712

    function domainSeparator(uint256 chainId, address verifyingContract) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(T_DOMAIN, keccak256(bytes("chainmail")), keccak256(bytes("1")), chainId, verifyingContract)
        );
    }

    function digest(bytes32 domain, bytes32 structHash) internal pure returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", domain, structHash));
    }

    function certificateHash(address id, bytes memory publicKey, uint64 validUntil, uint64 issuedAt)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(T_CERTIFICATE, id, keccak256(publicKey), validUntil, issuedAt));
    }

    function renewalHash(address id, uint64 validUntil, uint64 issuedAt) internal pure returns (bytes32) {
        return keccak256(abi.encode(T_RENEWAL, id, validUntil, issuedAt));
    }

    function revocationHash(address id, uint64 revokedAt) internal pure returns (bytes32) {
        return keccak256(abi.encode(T_REVOCATION, id, revokedAt));
    }

    function endpointHash(address id, string memory endpoint, uint64 sequence) internal pure returns (bytes32) {
        return keccak256(abi.encode(T_ENDPOINT, id, keccak256(bytes(endpoint)), sequence));
    }

    function sessionRequestHash(address from, address to, uint64 timestamp, bytes32 ephemeralKeyHash)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(T_SESSION_REQUEST, from, to, timestamp, ephemeralKeyHash));
    }

    /// @dev 65-byte r‖s‖v signature of `hash` (forge signs with low s and v ∈ {27, 28}).
    function signHash(uint256 privateKey, bytes32 hash) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, hash);
        return abi.encodePacked(r, s, v);
    }

    /// @dev Signs `structHash` under the domain of `registry` on the current chain.
    function signStruct(IdentityRegistry registry, uint256 privateKey, bytes32 structHash)
        internal
        view
        returns (bytes memory)
    {
        return signHash(privateKey, digest(domainSeparator(block.chainid, address(registry)), structHash));
    }
}
