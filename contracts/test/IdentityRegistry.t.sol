// SPDX-License-Identifier: MIT OR Apache-2.0
// Unit and fuzz tests of IdentityRegistry: every rule of issue 3 and DESIGN.md
// section 3, every revert path with its exact custom error and arguments, the
// skew and lifetime bounds exactly at the edge and one past, and signatures that
// are malformed, malleated, for another struct, another chain or another contract.
pragma solidity 0.8.30;

import {IdentityRegistry} from "../src/IdentityRegistry.sol";
import {Base, Vm} from "./Base.sol";

contract IdentityRegistryTest is Base {
    IdentityRegistry internal registry;

    uint256 internal constant ALICE_KEY = 0xa11ce;
    uint256 internal constant BOB_KEY = 0xb0b;
    uint256 internal constant MALLORY_KEY = 0xbad;
    address internal constant RELAYER = address(0x4e1a7);

    uint64 internal constant START = 1_750_000_000; // a realistic unix time
    uint64 internal constant YEAR = 365 days;

    address internal alice;
    address internal bob;

    event Registered(address indexed id, bytes publicKey);
    event Renewed(address indexed id, uint64 validUntil, uint64 issuedAt);
    event Revoked(address indexed id, uint64 revokedAt);
    event EndpointSet(address indexed id, string endpoint, uint64 sequence);

    function setUp() public {
        vm.warp(START);
        vm.roll(1000);
        registry = new IdentityRegistry();
        alice = vm.addr(ALICE_KEY);
        bob = vm.addr(BOB_KEY);
    }

    // ------------------------------------------------------------ helpers

    function now64() internal view returns (uint64) {
        return uint64(block.timestamp);
    }

    function certSig(uint256 key, uint64 validUntil, uint64 issuedAt) internal returns (bytes memory) {
        return signStruct(registry, key, certificateHash(vm.addr(key), publicKeyOf(key), validUntil, issuedAt));
    }

    function doRegister(uint256 key, uint64 validUntil, uint64 issuedAt) internal {
        registry.register(publicKeyOf(key), validUntil, issuedAt, certSig(key, validUntil, issuedAt));
    }

    function registerDefault(uint256 key) internal {
        doRegister(key, now64() + YEAR, now64());
    }

    function renewSig(uint256 key, uint64 validUntil, uint64 issuedAt) internal view returns (bytes memory) {
        return signStruct(registry, key, renewalHash(vm.addr(key), validUntil, issuedAt));
    }

    function revokeSig(uint256 key, uint64 revokedAt) internal view returns (bytes memory) {
        return signStruct(registry, key, revocationHash(vm.addr(key), revokedAt));
    }

    function endpointSig(uint256 key, string memory endpoint, uint64 sequence) internal view returns (bytes memory) {
        return signStruct(registry, key, endpointHash(vm.addr(key), endpoint, sequence));
    }

    function sessionSig(uint256 key, address to, uint64 timestamp, bytes32 eph) internal view returns (bytes memory) {
        return signStruct(registry, key, sessionRequestHash(vm.addr(key), to, timestamp, eph));
    }

    function expectError(bytes4 selector) internal {
        vm.expectRevert(abi.encodeWithSelector(selector));
    }

    function statusOf(address id) internal view returns (uint64 v, uint64 i, uint64 r, uint64 b) {
        return registry.status(id);
    }

    // ------------------------------------------------------------ constants and domain

    function test_constants() public view {
        assertEq(registry.MAX_ISSUED_SKEW_PAST(), 86_400, "MAX_ISSUED_SKEW_PAST");
        assertEq(registry.MAX_FUTURE_SKEW(), 300, "MAX_FUTURE_SKEW");
        assertEq(registry.MAX_LIFETIME(), 5 * 365 * 86_400, "MAX_LIFETIME");
        assertEq(registry.SESSION_SKEW(), 300, "SESSION_SKEW");
        assertEq(registry.MAX_ENDPOINT_LENGTH(), 255, "MAX_ENDPOINT_LENGTH");
        assertEq(registry.CERTIFICATE_TYPEHASH(), T_CERTIFICATE, "Certificate typehash");
        assertEq(registry.RENEWAL_TYPEHASH(), T_RENEWAL, "Renewal typehash");
        assertEq(registry.REVOCATION_TYPEHASH(), T_REVOCATION, "Revocation typehash");
        assertEq(registry.ENDPOINT_TYPEHASH(), T_ENDPOINT, "Endpoint typehash");
        assertEq(registry.SESSION_REQUEST_TYPEHASH(), T_SESSION_REQUEST, "SessionRequest typehash");
    }

    function test_domainSeparatorMatchesEip712() public view {
        assertEq(registry.DOMAIN_SEPARATOR(), domainSeparator(block.chainid, address(registry)), "domain separator");
        (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifying,
            bytes32 salt,
            uint256[] memory extensions
        ) = registry.eip712Domain();
        assertTrue(fields == hex"0f", "fields");
        assertEq(bytes(name), bytes("chainmail"), "name");
        assertEq(bytes(version), bytes("1"), "version");
        assertEq(chainId, block.chainid, "chainId");
        assertEq(verifying, address(registry), "verifyingContract");
        assertEq(salt, bytes32(0), "salt");
        assertEq(extensions.length, 0, "extensions");
    }

    function test_domainSeparatorFollowsChainId() public {
        bytes32 before = registry.DOMAIN_SEPARATOR();
        vm.chainId(block.chainid + 7);
        bytes32 afterFork = registry.DOMAIN_SEPARATOR();
        assertTrue(before != afterFork, "domain separator must change with the chain id");
        assertEq(afterFork, domainSeparator(block.chainid, address(registry)), "recomputed separator");
    }

    /// @dev Known answers: signatures made by `cast wallet sign --data` (foundry 1.7.1) over
    /// typed-data JSON for this exact domain (chain 31337, the registry address forge
    /// gives the first contract a test deploys). Regenerate with scripts/cast-interop's
    /// JSON shape if the domain ever changes. The digest is the one the Rust core must
    /// produce for the same Certificate.
    function test_knownAnswer_castSignatures() public {
        assertEq(address(registry), 0x5615dEB798BB3E4dFa0139dFa1b3D433Cc23b72f, "deploy address of the vector");
        assertEq(block.chainid, 31337, "chain id of the vector");
        bytes memory pk = publicKeyOf(ALICE_KEY);
        assertEq(
            pk,
            hex"a64db41e2968c849c2a5615ba0d6e816734a6d3e6ea6ecd6f3acb7d59daa9102e7af12d6e07238e7d5f5f6e9d6a529833a30f7385075fd74029db8009a5ace9a",
            "public key of 0xa11ce"
        );
        assertEq(alice, 0xe05fcC23807536bEe418f142D19fa0d21BB0cfF7, "id of 0xa11ce");
        uint64 validUntil = 1_781_536_000;
        uint64 issuedAt = 1_750_000_000;
        assertEq(
            digest(registry.DOMAIN_SEPARATOR(), certificateHash(alice, pk, validUntil, issuedAt)),
            0xee058f73f81123a74c20cd334e3185429f1d9597bf1313962fb1f2c94fda0381,
            "Certificate digest"
        );
        registry.register(
            pk,
            validUntil,
            issuedAt,
            hex"ed0f1b3fa531836ee5657c59b70d1de490c7f0617eeaa066bd571918f0c3531e633c8a982830596b16b06b3a2f54c07a50ae3275b2d5ddc02211d1bb74c2bf331c"
        );
        registerDefault(BOB_KEY);
        assertTrue(
            registry.verifySession(
                alice,
                bob,
                1_750_000_000,
                0x1111111111111111111111111111111111111111111111111111111111111111,
                hex"2313aec33d5687eeab842af1814743ee2930255235f107e2fe35398243fc0d33264e73956ea871df3d24542d3f501aa692c3348af44a9aaa780476bf3230330b1b"
            ),
            "cast-signed SessionRequest"
        );
    }

    /// @dev The runtime code placed directly in state (a genesis allocation, no
    /// constructor) has zero immutables: the domain separator is then recomputed on
    /// every call, so signatures still bind this chain and this address.
    function test_runtimeCodeWithoutConstructorStillBindsDomain() public {
        address placed = address(0xC0FFEE);
        vm.etch(placed, vm.getDeployedCode("IdentityRegistry.sol:IdentityRegistry"));
        IdentityRegistry genesis = IdentityRegistry(placed);
        assertEq(genesis.DOMAIN_SEPARATOR(), domainSeparator(block.chainid, placed), "recomputed separator");
        bytes memory pk = publicKeyOf(ALICE_KEY);
        bytes memory sig = signStruct(genesis, ALICE_KEY, certificateHash(alice, pk, START + YEAR, START));
        expectError(IdentityRegistry.BadSignature.selector);
        registry.register(pk, START + YEAR, START, sig); // not valid on the other instance
        genesis.register(pk, START + YEAR, START, sig);
        assertTrue(genesis.isValid(alice), "registered on the genesis-placed registry");
    }

    // ------------------------------------------------------------ register

    function test_register_storesStatusAndEmitsKey() public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        uint64 validUntil = START + YEAR;
        bytes memory sig = certSig(ALICE_KEY, validUntil, START);

        vm.expectEmit(true, false, false, true, address(registry));
        emit Registered(alice, pk);
        vm.prank(RELAYER); // msg.sender plays no part
        registry.register(pk, validUntil, START, sig);

        (uint64 v, uint64 i, uint64 r, uint64 b) = statusOf(alice);
        assertEq(v, validUntil, "validUntil");
        assertEq(i, START, "issuedAt");
        assertEq(r, 0, "revokedAt");
        assertEq(b, block.number, "registeredBlock");
        assertTrue(registry.isValid(alice), "alice valid");
        assertTrue(!registry.isValid(bob), "bob unknown");
    }

    function test_register_logDataIsAbiEncodedKey() public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        vm.recordLogs();
        registerDefault(ALICE_KEY);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        assertEq(logs.length, 1, "one log");
        assertEq(logs[0].topics.length, 2, "two topics");
        assertEq(logs[0].topics[0], keccak256("Registered(address,bytes)"), "topic0");
        assertEq(logs[0].topics[1], bytes32(uint256(uint160(alice))), "topic1 = id");
        assertEq(logs[0].data, abi.encode(pk), "data = abi.encode(publicKey)");
    }

    function test_register_rejectsKeyLengths() public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        uint64 validUntil = START + YEAR;
        bytes memory sig = certSig(ALICE_KEY, validUntil, START);
        uint256[5] memory lengths = [uint256(0), 33, 63, 65, 128];
        for (uint256 k = 0; k < lengths.length; k++) {
            bytes memory bad = new bytes(lengths[k]);
            for (uint256 j = 0; j < bad.length && j < 64; j++) {
                bad[j] = pk[j];
            }
            expectError(IdentityRegistry.InvalidPublicKey.selector);
            registry.register(bad, validUntil, START, sig);
        }
        // 0x04-prefixed uncompressed key (65 bytes) is refused as well.
        expectError(IdentityRegistry.InvalidPublicKey.selector);
        registry.register(abi.encodePacked(hex"04", pk), validUntil, START, sig);
    }

    function test_register_neverTwice() public {
        registerDefault(ALICE_KEY);
        uint64 validUntil = START + 2 * YEAR;
        bytes memory sig = certSig(ALICE_KEY, validUntil, START + 1);
        bytes memory pk = publicKeyOf(ALICE_KEY);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.AlreadyRegistered.selector, alice));
        registry.register(pk, validUntil, START + 1, sig);
    }

    function test_register_neverAfterRevoke() public {
        registerDefault(ALICE_KEY);
        registry.revoke(alice, START, revokeSig(ALICE_KEY, START));
        vm.warp(START + 10 days);
        uint64 t = now64();
        bytes memory sig = certSig(ALICE_KEY, t + YEAR, t);
        bytes memory pk = publicKeyOf(ALICE_KEY);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.AlreadyRegistered.selector, alice));
        registry.register(pk, t + YEAR, t, sig);
        assertTrue(!registry.isValid(alice), "still revoked");
    }

    function test_register_issuedAtWindowEdges() public {
        // exactly now - 1 day: accepted
        doRegister(ALICE_KEY, START + YEAR, START - 1 days);
        // exactly now + 5 minutes: accepted
        doRegister(BOB_KEY, START + YEAR, START + 5 minutes);

        bytes memory pk = publicKeyOf(MALLORY_KEY);
        uint64 past = START - 1 days - 1;
        bytes memory sig = certSig(MALLORY_KEY, START + YEAR, past);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, past, START));
        registry.register(pk, START + YEAR, past, sig);

        uint64 future = START + 5 minutes + 1;
        sig = certSig(MALLORY_KEY, START + YEAR, future);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, future, START));
        registry.register(pk, START + YEAR, future, sig);
    }

    function test_register_issuedAtZeroRefusedEvenAtGenesisTime() public {
        // At block.timestamp < 1 day, issuedAt = 0 would sit inside the window;
        // it is refused because issuedAt == 0 means "never registered".
        vm.warp(1000);
        bytes memory pk = publicKeyOf(ALICE_KEY);
        bytes memory sig = certSig(ALICE_KEY, 2000, 0);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, uint64(0), uint64(1000)));
        registry.register(pk, 2000, 0, sig);
    }

    function test_register_lifetimeEdges() public {
        // validUntil exactly issuedAt + MAX_LIFETIME: accepted
        doRegister(ALICE_KEY, START + 5 * YEAR, START);
        // validUntil = now + 1 (> issuedAt): accepted
        doRegister(BOB_KEY, START + 1, START);

        bytes memory pk = publicKeyOf(MALLORY_KEY);
        uint64[3] memory bad = [START + 5 * YEAR + 1, START, START - 1];
        for (uint256 k = 0; k < bad.length; k++) {
            bytes memory sig = certSig(MALLORY_KEY, bad[k], START);
            vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.InvalidLifetime.selector, bad[k], START));
            registry.register(pk, bad[k], START, sig);
        }
        // Not after issuedAt (issuedAt in the allowed future, validUntil between now and it).
        uint64 issued = START + 200;
        bytes memory sig2 = certSig(MALLORY_KEY, START + 100, issued);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.InvalidLifetime.selector, START + 100, issued));
        registry.register(pk, START + 100, issued, sig2);
    }

    function test_register_extremeTimesDoNotOverflow() public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        uint64 max = type(uint64).max;
        bytes memory sig = certSig(ALICE_KEY, max, max);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, max, START));
        registry.register(pk, max, max, sig);
        sig = certSig(ALICE_KEY, max, START);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.InvalidLifetime.selector, max, START));
        registry.register(pk, max, START, sig);
    }

    function test_register_signatureMustCoverEveryField() public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        bytes memory sig = certSig(ALICE_KEY, START + YEAR, START);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.register(pk, START + YEAR + 1, START, sig);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.register(pk, START + YEAR, START - 1, sig);
        // Mallory's key with Alice's signature.
        expectError(IdentityRegistry.BadSignature.selector);
        registry.register(publicKeyOf(MALLORY_KEY), START + YEAR, START, sig);
    }

    function test_register_signedByAnotherKey() public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        bytes memory sig = signStruct(registry, MALLORY_KEY, certificateHash(alice, pk, START + YEAR, START));
        expectError(IdentityRegistry.BadSignature.selector);
        registry.register(pk, START + YEAR, START, sig);
    }

    function test_register_badSignatureEncodings() public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        uint64 vu = START + YEAR;
        bytes32 d = digest(registry.DOMAIN_SEPARATOR(), certificateHash(alice, pk, vu, START));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_KEY, d);

        bytes[] memory bad = new bytes[](9);
        bad[0] = abi.encodePacked(r, s); // 64 bytes (EIP-2098 compact is not accepted)
        bad[1] = abi.encodePacked(r, s, v, uint8(0)); // 66 bytes
        bad[2] = "";
        bad[3] = abi.encodePacked(r, s, v - 27); // v = 0 / 1
        bad[4] = abi.encodePacked(r, s, uint8(29));
        bad[5] = abi.encodePacked(r, s, uint8(v == 27 ? 28 : 27)); // wrong recovery id
        // High s: the malleated twin recovers to the same key but is refused.
        bad[6] = abi.encodePacked(r, bytes32(N - uint256(s)), uint8(v == 27 ? 28 : 27));
        bad[7] = abi.encodePacked(bytes32(0), s, v); // r = 0: ecrecover returns zero
        bad[8] = abi.encodePacked(r, s, v + 8); // EIP-155 style v
        for (uint256 k = 0; k < bad.length; k++) {
            expectError(IdentityRegistry.BadSignature.selector);
            registry.register(pk, vu, START, bad[k]);
        }
        // The untouched signature still works, so each case failed for its own reason.
        registry.register(pk, vu, START, abi.encodePacked(r, s, v));
    }

    function test_register_highSIsARealSignatureYetRefused() public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        uint64 vu = START + YEAR;
        bytes32 d = digest(registry.DOMAIN_SEPARATOR(), certificateHash(alice, pk, vu, START));
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(ALICE_KEY, d);
        uint8 v2 = v == 27 ? 28 : 27;
        bytes32 s2 = bytes32(N - uint256(s));
        assertEq(ecrecover(d, v2, r, s2), alice, "the twin is valid for ecrecover");
        expectError(IdentityRegistry.BadSignature.selector);
        registry.register(pk, vu, START, abi.encodePacked(r, s2, v2));
    }

    function test_register_zeroAddressRecovery() public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        // r not the x of any curve point (x = 5 is not on secp256k1... use an r ≥ p): ecrecover returns 0.
        bytes memory sig = abi.encodePacked(bytes32(type(uint256).max), bytes32(uint256(1)), uint8(27));
        expectError(IdentityRegistry.BadSignature.selector);
        registry.register(pk, START + YEAR, START, sig);
    }

    function test_register_wrongDomainChainOrContract() public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        bytes32 structHash = certificateHash(alice, pk, START + YEAR, START);
        bytes[] memory bad = new bytes[](5);
        bad[0] = signHash(ALICE_KEY, digest(domainSeparator(block.chainid + 1, address(registry)), structHash));
        bad[1] = signHash(ALICE_KEY, digest(domainSeparator(block.chainid, address(0xdead)), structHash));
        bad[2] = signHash(ALICE_KEY, structHash); // no EIP-712 envelope at all
        bad[3] = signHash( // eth_sign / personal_sign of the struct hash
            ALICE_KEY,
            keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", structHash))
        );
        bad[4] = signHash( // a domain with another name
            ALICE_KEY,
            digest(
                keccak256(
                    abi.encode(T_DOMAIN, keccak256("chainmail2"), keccak256("1"), block.chainid, address(registry))
                ),
                structHash
            )
        );
        for (uint256 k = 0; k < bad.length; k++) {
            expectError(IdentityRegistry.BadSignature.selector);
            registry.register(pk, START + YEAR, START, bad[k]);
        }
    }

    function test_register_signatureForAnotherRegistryInstance() public {
        IdentityRegistry other = new IdentityRegistry();
        bytes memory pk = publicKeyOf(ALICE_KEY);
        bytes memory sig = signStruct(other, ALICE_KEY, certificateHash(alice, pk, START + YEAR, START));
        other.register(pk, START + YEAR, START, sig); // fine where it was meant for
        expectError(IdentityRegistry.BadSignature.selector);
        registry.register(pk, START + YEAR, START, sig);
    }

    function test_register_signatureAfterChainIdChange() public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        bytes memory sig = certSig(ALICE_KEY, START + YEAR, START);
        vm.chainId(block.chainid + 1); // a fork: the old chain's signatures are void here
        expectError(IdentityRegistry.BadSignature.selector);
        registry.register(pk, START + YEAR, START, sig);
        registry.register(pk, START + YEAR, START, certSig(ALICE_KEY, START + YEAR, START));
    }

    // ------------------------------------------------------------ cross-struct replay

    function test_replay_renewalSignatureAsRevocationAndCertificate() public {
        registerDefault(ALICE_KEY);
        uint64 t = START + 10;
        vm.warp(t);
        bytes memory renewal = renewSig(ALICE_KEY, t + YEAR, t);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.revoke(alice, t, renewal);
        // Certificate fields (id, key, validUntil, issuedAt) vs Renewal (id, validUntil, issuedAt)
        expectError(IdentityRegistry.BadSignature.selector);
        registry.register(publicKeyOf(MALLORY_KEY), t + YEAR, t, renewal);
        registry.renew(alice, t + YEAR, t, renewal); // the right place
    }

    function test_replay_certificateSignatureAsRenewal() public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        bytes memory cert = certSig(ALICE_KEY, START + YEAR, START);
        registry.register(pk, START + YEAR, START, cert);
        vm.warp(START + 1);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.renew(alice, START + YEAR, START + 1, certSig(ALICE_KEY, START + YEAR, START + 1));
    }

    function test_replay_revocationSignatureAsEndpointOrSession() public {
        registerDefault(ALICE_KEY);
        registerDefault(BOB_KEY);
        bytes memory revocation = revokeSig(ALICE_KEY, START);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.setEndpoint(alice, "", START, revocation);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.verifySession(alice, bob, START, bytes32(0), revocation);
    }

    function test_replay_sessionSignatureAsEndpoint() public {
        registerDefault(ALICE_KEY);
        registerDefault(BOB_KEY);
        bytes memory session = sessionSig(ALICE_KEY, bob, START, bytes32(uint256(7)));
        assertTrue(registry.verifySession(alice, bob, START, bytes32(uint256(7)), session), "session ok");
        expectError(IdentityRegistry.BadSignature.selector);
        registry.setEndpoint(alice, "x", START, session);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.revoke(alice, START, session);
    }

    // ------------------------------------------------------------ renew

    function test_renew_updatesValidityKeepsBlock() public {
        registerDefault(ALICE_KEY);
        uint256 regBlock = block.number;
        vm.roll(block.number + 50);
        vm.warp(START + 100 days);
        uint64 t = now64();
        bytes memory sig = renewSig(ALICE_KEY, t + 2 * YEAR, t);
        vm.expectEmit(true, false, false, true, address(registry));
        emit Renewed(alice, t + 2 * YEAR, t);
        vm.prank(RELAYER);
        registry.renew(alice, t + 2 * YEAR, t, sig);
        (uint64 v, uint64 i, uint64 r, uint64 b) = statusOf(alice);
        assertEq(v, t + 2 * YEAR, "validUntil");
        assertEq(i, t, "issuedAt");
        assertEq(r, 0, "revokedAt");
        assertEq(b, regBlock, "registeredBlock kept");
    }

    function test_renew_afterExpiry() public {
        doRegister(ALICE_KEY, START + 1 days, START);
        vm.warp(START + 1 days); // validUntil == now: expired
        assertTrue(!registry.isValid(alice), "expired at validUntil");
        vm.warp(START + 30 days);
        uint64 t = now64();
        registry.renew(alice, t + YEAR, t, renewSig(ALICE_KEY, t + YEAR, t));
        assertTrue(registry.isValid(alice), "valid again after renewal");
    }

    function test_renew_unknownIdentity() public {
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.UnknownIdentity.selector, alice));
        registry.renew(alice, START + YEAR, START, renewSig(ALICE_KEY, START + YEAR, START));
    }

    function test_renew_revoked() public {
        registerDefault(ALICE_KEY);
        registry.revoke(alice, START, revokeSig(ALICE_KEY, START));
        vm.warp(START + 1);
        uint64 t = now64();
        bytes memory sig = renewSig(ALICE_KEY, t + YEAR, t);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.IdentityRevoked.selector, alice));
        registry.renew(alice, t + YEAR, t, sig);
    }

    function test_renew_issuedAtMustGrow() public {
        registerDefault(ALICE_KEY);
        bytes memory same = renewSig(ALICE_KEY, START + 2 * YEAR, START);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleRenewal.selector, START, START));
        registry.renew(alice, START + 2 * YEAR, START, same);
        bytes memory older = renewSig(ALICE_KEY, START + 2 * YEAR, START - 1);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleRenewal.selector, START - 1, START));
        registry.renew(alice, START + 2 * YEAR, START - 1, older);
        // A renewal can be replayed only once.
        bytes memory next = renewSig(ALICE_KEY, START + 2 * YEAR, START + 1);
        registry.renew(alice, START + 2 * YEAR, START + 1, next);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleRenewal.selector, START + 1, START + 1));
        registry.renew(alice, START + 2 * YEAR, START + 1, next);
    }

    function test_renew_windowAndLifetimeEdges() public {
        registerDefault(ALICE_KEY);
        uint64 t = START + 2 days;
        vm.warp(t);
        uint64 past = t - 1 days - 1;
        bytes memory sig = renewSig(ALICE_KEY, t + YEAR, past);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, past, t));
        registry.renew(alice, t + YEAR, past, sig);

        uint64 future = t + 301;
        sig = renewSig(ALICE_KEY, t + YEAR, future);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, future, t));
        registry.renew(alice, t + YEAR, future, sig);

        sig = renewSig(ALICE_KEY, t + 300 + 5 * YEAR + 1, t + 300);
        vm.expectRevert(
            abi.encodeWithSelector(IdentityRegistry.InvalidLifetime.selector, t + 300 + 5 * YEAR + 1, t + 300)
        );
        registry.renew(alice, t + 300 + 5 * YEAR + 1, t + 300, sig);

        sig = renewSig(ALICE_KEY, t, t - 1 days);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.InvalidLifetime.selector, t, t - 1 days));
        registry.renew(alice, t, t - 1 days, sig);

        // Both edges exactly: accepted.
        registry.renew(alice, t + 1, t - 1 days, renewSig(ALICE_KEY, t + 1, t - 1 days));
        registry.renew(alice, t + 300 + 5 * YEAR, t + 300, renewSig(ALICE_KEY, t + 300 + 5 * YEAR, t + 300));
        (uint64 v, uint64 i,,) = statusOf(alice);
        assertEq(v, t + 300 + 5 * YEAR, "validUntil at the lifetime edge");
        assertEq(i, t + 300, "issuedAt at the future edge");
    }

    function test_renew_badSignature() public {
        registerDefault(ALICE_KEY);
        uint64 t = START + 1;
        bytes memory sig = signStruct(registry, MALLORY_KEY, renewalHash(alice, t + YEAR, t));
        expectError(IdentityRegistry.BadSignature.selector);
        registry.renew(alice, t + YEAR, t, sig);
        sig = renewSig(ALICE_KEY, t + YEAR, t);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.renew(alice, t + YEAR + 1, t, sig);
    }

    // ------------------------------------------------------------ revoke

    function test_revoke_isFinalAndStoresBlockTime() public {
        registerDefault(ALICE_KEY);
        vm.warp(START + 500);
        bytes memory sig = revokeSig(ALICE_KEY, START);
        vm.expectEmit(true, false, false, true, address(registry));
        emit Revoked(alice, START + 500);
        vm.prank(RELAYER);
        registry.revoke(alice, START, sig);
        (uint64 v, uint64 i, uint64 r,) = statusOf(alice);
        assertEq(r, START + 500, "revokedAt = block.timestamp, not the signed time");
        assertEq(v, START + YEAR, "validUntil kept");
        assertEq(i, START, "issuedAt kept");
        assertTrue(!registry.isValid(alice), "revoked is invalid");

        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.IdentityRevoked.selector, alice));
        registry.revoke(alice, START, sig);
        bytes memory sig2 = revokeSig(ALICE_KEY, START + 500);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.IdentityRevoked.selector, alice));
        registry.revoke(alice, START + 500, sig2);
    }

    function test_revoke_beforeRegisterRefused() public {
        bytes memory sig = revokeSig(ALICE_KEY, START);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.UnknownIdentity.selector, alice));
        registry.revoke(alice, START, sig);
        // The refused revocation left nothing behind: registration still works.
        registerDefault(ALICE_KEY);
        assertTrue(registry.isValid(alice), "registered after refused revoke");
        // ... and the same offline revocation certificate now works.
        registry.revoke(alice, START, sig);
        assertTrue(!registry.isValid(alice), "revoked");
    }

    function test_revoke_oldOfflineCertificateAndSkewEdge() public {
        bytes memory ancient = revokeSig(ALICE_KEY, 0); // signed "at creation", kept offline
        registerDefault(ALICE_KEY);
        vm.warp(START + 3 * YEAR); // long expired too
        registry.revoke(alice, 0, ancient);
        (,, uint64 r,) = statusOf(alice);
        assertEq(r, START + 3 * YEAR, "effective time");

        registerDefault(BOB_KEY);
        uint64 tooLate = now64() + 301;
        bytes memory sig = revokeSig(BOB_KEY, tooLate);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, tooLate, now64()));
        registry.revoke(bob, tooLate, sig);
        uint64 edge = now64() + 300;
        registry.revoke(bob, edge, revokeSig(BOB_KEY, edge));
        assertTrue(!registry.isValid(bob), "bob revoked at the edge");
    }

    function test_revoke_extremeRevokedAt() public {
        registerDefault(ALICE_KEY);
        uint64 max = type(uint64).max;
        bytes memory sig = revokeSig(ALICE_KEY, max);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, max, START));
        registry.revoke(alice, max, sig);
    }

    function test_revoke_atTimestampZeroStillRevokes() public {
        vm.warp(100);
        doRegister(ALICE_KEY, 1000, 50);
        vm.warp(0);
        registry.revoke(alice, 0, revokeSig(ALICE_KEY, 0));
        (,, uint64 r,) = statusOf(alice);
        assertEq(r, 1, "a zero block time is stored as 1, never as 'not revoked'");
        assertTrue(!registry.isValid(alice), "revoked");
    }

    function test_revoke_badSignature() public {
        registerDefault(ALICE_KEY);
        bytes memory sig = signStruct(registry, MALLORY_KEY, revocationHash(alice, START));
        expectError(IdentityRegistry.BadSignature.selector);
        registry.revoke(alice, START, sig);
        sig = revokeSig(ALICE_KEY, START);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.revoke(alice, START - 1, sig);
        assertTrue(registry.isValid(alice), "still valid");
    }

    // ------------------------------------------------------------ setEndpoint

    function test_endpoint_setAndRead() public {
        registerDefault(ALICE_KEY);
        (string memory e0, uint64 s0) = registry.endpointOf(alice);
        assertEq(bytes(e0), "", "no endpoint yet");
        assertEq(s0, 0, "no sequence yet");

        string memory ep = "203.0.113.7:7400";
        uint64 seq = 1_750_000_000_000;
        bytes memory sig = endpointSig(ALICE_KEY, ep, seq);
        vm.expectEmit(true, false, false, true, address(registry));
        emit EndpointSet(alice, ep, seq);
        vm.prank(RELAYER);
        registry.setEndpoint(alice, ep, seq, sig);
        (string memory e1, uint64 s1) = registry.endpointOf(alice);
        assertEq(bytes(e1), bytes(ep), "endpoint");
        assertEq(s1, seq, "sequence");

        // Withdraw with an empty string and a greater sequence.
        registry.setEndpoint(alice, "", seq + 1, endpointSig(ALICE_KEY, "", seq + 1));
        (string memory e2, uint64 s2) = registry.endpointOf(alice);
        assertEq(bytes(e2), "", "withdrawn");
        assertEq(s2, seq + 1, "sequence grew");
    }

    function test_endpoint_sequenceStrictlyGrows() public {
        registerDefault(ALICE_KEY);
        bytes memory s10 = endpointSig(ALICE_KEY, "new:1", 10);
        registry.setEndpoint(alice, "new:1", 10, s10);
        bytes memory s9 = endpointSig(ALICE_KEY, "old:1", 9);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleSequence.selector, uint64(9), uint64(10)));
        registry.setEndpoint(alice, "old:1", 9, s9);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleSequence.selector, uint64(10), uint64(10)));
        registry.setEndpoint(alice, "new:1", 10, s10);
        bytes memory zero = endpointSig(ALICE_KEY, "z", 0);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleSequence.selector, uint64(0), uint64(10)));
        registry.setEndpoint(alice, "z", 0, zero);
        // A fresh ID starts at 0, so sequence 0 is refused there too.
        registerDefault(BOB_KEY);
        bytes memory bobZero = endpointSig(BOB_KEY, "z", 0);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleSequence.selector, uint64(0), uint64(0)));
        registry.setEndpoint(bob, "z", 0, bobZero);
    }

    function test_endpoint_sequenceBoundedByBlockTime() public {
        registerDefault(ALICE_KEY);
        uint64 limit = (START + 300) * 1000; // (block.timestamp + MAX_FUTURE_SKEW) in ms
        // One past the bound: refused with the sequence and the limit.
        bytes memory past = endpointSig(ALICE_KEY, "a:1", limit + 1);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.FutureSequence.selector, limit + 1, limit));
        registry.setEndpoint(alice, "a:1", limit + 1, past);
        // The sequence that would freeze the endpoint for good.
        bytes memory frozen = endpointSig(ALICE_KEY, "a:1", type(uint64).max);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.FutureSequence.selector, type(uint64).max, limit));
        registry.setEndpoint(alice, "a:1", type(uint64).max, frozen);
        // Exactly at the bound: accepted.
        registry.setEndpoint(alice, "a:1", limit, endpointSig(ALICE_KEY, "a:1", limit));
        (, uint64 s) = registry.endpointOf(alice);
        assertEq(s, limit, "sequence at the bound stored");
        // Not frozen: a second later the bound has moved and a newer endpoint lands.
        vm.warp(START + 1);
        registry.setEndpoint(alice, "a:2", limit + 1, endpointSig(ALICE_KEY, "a:2", limit + 1));
        (string memory e, uint64 s2) = registry.endpointOf(alice);
        assertEq(bytes(e), "a:2", "newer endpoint");
        assertEq(s2, limit + 1, "newer sequence");
        // The bound is checked after the stale rule and before the signature.
        uint64 limit2 = (START + 1 + 300) * 1000;
        bytes memory wrong = endpointSig(MALLORY_KEY, "a:3", limit2 + 1);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.FutureSequence.selector, limit2 + 1, limit2));
        registry.setEndpoint(alice, "a:3", limit2 + 1, wrong);
    }

    function test_endpoint_revocationEndsAnEndpointAtTheBound() public {
        registerDefault(ALICE_KEY);
        uint64 limit = (START + 300) * 1000;
        registry.setEndpoint(alice, "a:1", limit, endpointSig(ALICE_KEY, "a:1", limit));
        registry.revoke(alice, START, revokeSig(ALICE_KEY, START));
        assertTrue(!registry.isValid(alice), "revoked");
        // However far time moves, a revoked ID publishes nothing again, in or out of bounds.
        vm.warp(START + 2 * YEAR);
        bytes memory sig = endpointSig(ALICE_KEY, "a:2", limit + 1);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.IdentityRevoked.selector, alice));
        registry.setEndpoint(alice, "a:2", limit + 1, sig);
        sig = endpointSig(ALICE_KEY, "a:2", type(uint64).max);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.IdentityRevoked.selector, alice));
        registry.setEndpoint(alice, "a:2", type(uint64).max, sig);
    }

    /// @dev Any sequence: accepted iff above the stored one and at most (now + 300 s) in ms.
    function testFuzz_endpointSequenceBound(uint64 sequence, uint32 later) public {
        registerDefault(ALICE_KEY);
        vm.warp(uint256(START) + (later % (300 days)));
        uint64 limit = (now64() + 300) * 1000;
        bytes memory sig = endpointSig(ALICE_KEY, "f:1", sequence);
        if (sequence == 0) {
            vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleSequence.selector, uint64(0), uint64(0)));
        } else if (sequence > limit) {
            vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.FutureSequence.selector, sequence, limit));
        }
        registry.setEndpoint(alice, "f:1", sequence, sig);
    }

    function test_endpoint_lengthLimit() public {
        registerDefault(ALICE_KEY);
        string memory max = string(new bytes(255));
        registry.setEndpoint(alice, max, 1, endpointSig(ALICE_KEY, max, 1));
        (string memory e,) = registry.endpointOf(alice);
        assertEq(bytes(e).length, 255, "255 bytes stored");
        string memory tooLong = string(new bytes(256));
        bytes memory sig = endpointSig(ALICE_KEY, tooLong, 2);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.EndpointTooLong.selector, uint256(256)));
        registry.setEndpoint(alice, tooLong, 2, sig);
    }

    function test_endpoint_requiresValidIdentity() public {
        bytes memory sig = endpointSig(ALICE_KEY, "a:1", 1);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.UnknownIdentity.selector, alice));
        registry.setEndpoint(alice, "a:1", 1, sig);

        doRegister(ALICE_KEY, START + 10, START);
        vm.warp(START + 10);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.IdentityExpired.selector, alice));
        registry.setEndpoint(alice, "a:1", 1, sig);

        vm.warp(START + 9);
        registry.revoke(alice, START, revokeSig(ALICE_KEY, START));
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.IdentityRevoked.selector, alice));
        registry.setEndpoint(alice, "a:1", 1, sig);
    }

    function test_endpoint_badSignature() public {
        registerDefault(ALICE_KEY);
        bytes memory sig = endpointSig(ALICE_KEY, "a:1", 1);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.setEndpoint(alice, "a:2", 1, sig);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.setEndpoint(alice, "a:1", 2, sig);
        sig = signStruct(registry, MALLORY_KEY, endpointHash(alice, "a:1", 1));
        expectError(IdentityRegistry.BadSignature.selector);
        registry.setEndpoint(alice, "a:1", 1, sig);
    }

    // ------------------------------------------------------------ verifySession

    function test_session_valid() public {
        registerDefault(ALICE_KEY);
        registerDefault(BOB_KEY);
        bytes32 eph = keccak256("E_B");
        bytes memory sig = sessionSig(BOB_KEY, alice, START, eph);
        assertTrue(registry.verifySession(bob, alice, START, eph, sig), "T_B accepted");
    }

    function test_session_skewEdges() public {
        registerDefault(ALICE_KEY);
        registerDefault(BOB_KEY);
        vm.warp(START + 1000);
        bytes32 eph = keccak256("E_B");
        uint64 lo = START + 700;
        uint64 hi = START + 1300;
        assertTrue(registry.verifySession(bob, alice, lo, eph, sessionSig(BOB_KEY, alice, lo, eph)), "now-300");
        assertTrue(registry.verifySession(bob, alice, hi, eph, sessionSig(BOB_KEY, alice, hi, eph)), "now+300");
        bytes memory sig = sessionSig(BOB_KEY, alice, lo - 1, eph);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, lo - 1, START + 1000));
        registry.verifySession(bob, alice, lo - 1, eph, sig);
        sig = sessionSig(BOB_KEY, alice, hi + 1, eph);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, hi + 1, START + 1000));
        registry.verifySession(bob, alice, hi + 1, eph, sig);
        uint64 max = type(uint64).max;
        sig = sessionSig(BOB_KEY, alice, max, eph);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, max, START + 1000));
        registry.verifySession(bob, alice, max, eph, sig);
    }

    function test_session_identityErrors() public {
        bytes32 eph = keccak256("E_B");
        bytes memory sig = sessionSig(BOB_KEY, alice, START, eph);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.UnknownIdentity.selector, bob));
        registry.verifySession(bob, alice, START, eph, sig);
        registerDefault(BOB_KEY);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.UnknownIdentity.selector, alice));
        registry.verifySession(bob, alice, START, eph, sig);

        doRegister(ALICE_KEY, START + 100, START);
        vm.warp(START + 100);
        sig = sessionSig(BOB_KEY, alice, START + 100, eph);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.IdentityExpired.selector, alice));
        registry.verifySession(bob, alice, START + 100, eph, sig);

        registry.revoke(bob, START, revokeSig(BOB_KEY, START));
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.IdentityRevoked.selector, bob));
        registry.verifySession(bob, alice, START + 100, eph, sig);
    }

    function test_session_signatureErrors() public {
        registerDefault(ALICE_KEY);
        registerDefault(BOB_KEY);
        bytes32 eph = keccak256("E_B");
        // Signed by the recipient instead of the sender.
        bytes memory sig = sessionSig(ALICE_KEY, bob, START, eph);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.verifySession(bob, alice, START, eph, sig);
        // For another ephemeral key, another recipient, another time.
        sig = sessionSig(BOB_KEY, alice, START, eph);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.verifySession(bob, alice, START, keccak256("E_other"), sig);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.verifySession(bob, bob, START, eph, sig);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.verifySession(bob, alice, START + 1, eph, sig);
        // Malformed.
        expectError(IdentityRegistry.BadSignature.selector);
        registry.verifySession(bob, alice, START, eph, hex"00");
    }

    // ------------------------------------------------------------ fuzz

    function testFuzz_registerAnyKey(uint256 key, uint64 lifetime, uint64 issuedOffset) public {
        key = bound(key, 1, N - 1);
        uint64 issued = uint64(bound(issuedOffset, START - 1 days, START + 5 minutes));
        uint64 vu = uint64(bound(lifetime, (START > issued ? START : issued) + 1, issued + 5 * YEAR));
        bytes memory pk = publicKeyOf(key);
        address id = vm.addr(key);
        registry.register(pk, vu, issued, certSig(key, vu, issued));
        (uint64 v, uint64 i,,) = statusOf(id);
        assertEq(v, vu, "validUntil");
        assertEq(i, issued, "issuedAt");
        assertTrue(registry.isValid(id), "valid");
    }

    /// @dev issuedAt around now (both edges of the window hit often) is accepted iff it
    /// lies in [now - 1 day, now + 5 min].
    function testFuzz_issuedAtWindow(uint32 back, uint16 ahead, bool future, uint64 nowSeed) public {
        uint64 t = uint64(bound(nowSeed, 2 days, 1 << 40));
        vm.warp(t);
        uint64 issued = future ? t + (ahead % 1000) : t - (back % 2 days);
        uint64 vu = (issued > t ? issued : t) + 1;
        bytes memory pk = publicKeyOf(ALICE_KEY);
        bytes memory sig = certSig(ALICE_KEY, vu, issued);
        bool inWindow = uint256(issued) + 1 days >= t && uint256(issued) <= uint256(t) + 5 minutes;
        if (!inWindow) {
            vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, issued, t));
        }
        registry.register(pk, vu, issued, sig);
        assertTrue(registry.isValid(alice) == inWindow, "accepted iff in window");
    }

    /// @dev Any uint64 issuedAt far from now is refused, without overflow.
    function testFuzz_issuedAtAnyValue(uint64 issued) public {
        bool inWindow = uint256(issued) + 1 days >= START && uint256(issued) <= uint256(START) + 5 minutes;
        vm.assume(!inWindow);
        bytes memory pk = publicKeyOf(ALICE_KEY);
        bytes memory sig = certSig(ALICE_KEY, START + 1, issued);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, issued, START));
        registry.register(pk, START + 1, issued, sig);
    }

    /// @dev Flipping any bit of a good signature never yields an accepted one.
    function testFuzz_tamperedSignatureRefused(uint256 bit) public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        bytes memory sig = certSig(ALICE_KEY, START + YEAR, START);
        bit = bound(bit, 0, 65 * 8 - 1);
        sig[bit / 8] = sig[bit / 8] ^ bytes1(uint8(2 ** (bit % 8)));
        expectError(IdentityRegistry.BadSignature.selector);
        registry.register(pk, START + YEAR, START, sig);
    }

    /// @dev Random 65 bytes never pass for Alice's signature.
    function testFuzz_randomSignatureRefused(bytes32 r, bytes32 s, uint8 v) public {
        bytes memory pk = publicKeyOf(ALICE_KEY);
        expectError(IdentityRegistry.BadSignature.selector);
        registry.register(pk, START + YEAR, START, abi.encodePacked(r, s, v));
    }

    /// @dev A session request is accepted iff its timestamp is within ±300 s.
    function testFuzz_sessionWindow(uint64 ts, uint256 key1, uint256 key2) public {
        key1 = bound(key1, 1, N - 1);
        key2 = bound(key2, 1, N - 1);
        vm.assume(key1 != key2);
        doRegister(key1, START + YEAR, START);
        doRegister(key2, START + YEAR, START);
        address from = vm.addr(key1);
        address to = vm.addr(key2);
        bytes32 eph = keccak256(abi.encode(ts));
        bytes memory sig = sessionSig(key1, to, ts, eph);
        bool ok = uint256(ts) + 300 >= START && uint256(ts) <= uint256(START) + 300;
        if (!ok) vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.StaleTimestamp.selector, ts, START));
        registry.verifySession(from, to, ts, eph, sig);
    }

    /// @dev Renewal, revocation and endpoint for arbitrary keys and times.
    function testFuzz_lifecycle(uint256 key, uint32 gap, uint32 extra) public {
        key = bound(key, 1, N - 1);
        address id = vm.addr(key);
        doRegister(key, START + YEAR, START);
        vm.warp(uint256(START) + 1 + gap);
        uint64 t = now64();
        uint64 vu = uint64(bound(extra, 1, 5 * YEAR)) + t;
        registry.renew(id, vu, t, renewSig(key, vu, t));
        registry.setEndpoint(id, "h:1", t, endpointSig(key, "h:1", t));
        registry.revoke(id, t, revokeSig(key, t));
        assertTrue(!registry.isValid(id), "revoked");
        bytes memory cert = certSig(key, t + YEAR, t);
        bytes memory pk = publicKeyOf(key);
        vm.expectRevert(abi.encodeWithSelector(IdentityRegistry.AlreadyRegistered.selector, id));
        registry.register(pk, t + YEAR, t, cert);
    }
}
