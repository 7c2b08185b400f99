// SPDX-License-Identifier: MIT OR Apache-2.0
// Invariant tests of IdentityRegistry: forge drives a handler that registers,
// renews, revokes, publishes endpoints, replays old signatures and moves time in
// random order over a few keys; after every step the invariants must hold. The
// central one (paper §4.1.2 step 3b, DESIGN.md section 3): a revoked ID never
// becomes valid again, by any sequence of calls.
pragma solidity 0.8.30;

import {IdentityRegistry} from "../src/IdentityRegistry.sol";
import {Base} from "./Base.sol";

/// @notice The actions forge calls in random order, with ghost state to check against.
contract RegistryHandler is Base {
    IdentityRegistry public immutable registry;
    uint256[4] internal keys = [uint256(0xa11ce), 0xb0b, 0xca201, 0xd00d];

    /// @dev Ghost state: what the contract must remember.
    mapping(address => uint64) public revokedAtSeen; // nonzero once revoked
    mapping(address => uint64) public registeredBlockSeen;
    mapping(address => uint64) public sequenceSeen;
    /// @dev Set if something happened that must never happen.
    string public violation;

    /// @dev Signatures once accepted, replayed later to prove they do nothing.
    struct Replay {
        uint8 kind; // 0 register, 1 renew, 2 revoke, 3 endpoint
        uint256 key;
        uint64 a;
        uint64 b;
        bytes sig;
    }

    Replay[] internal replays;
    uint256 public calls;

    constructor(IdentityRegistry registry_) {
        registry = registry_;
    }

    function idOf(uint256 k) public view returns (address) {
        return vm.addr(keys[k % keys.length]);
    }

    function keyCount() external view returns (uint256) {
        return keys.length;
    }

    function _now() internal view returns (uint64) {
        return uint64(block.timestamp);
    }

    function register(uint256 k, uint32 lifetime, uint32 age) external {
        calls++;
        uint256 key = keys[k % keys.length];
        address id = vm.addr(key);
        uint64 issuedAt = _now() - uint64(age % 1 days);
        uint64 validUntil = _now() + 1 + uint64(lifetime % (4 * 365 days));
        bytes memory pk = publicKeyOf(key);
        bytes memory sig = signStruct(registry, key, certificateHash(id, pk, validUntil, issuedAt));
        bool wasRegistered = registeredBlockSeen[id] != 0;
        try registry.register(pk, validUntil, issuedAt, sig) {
            if (wasRegistered) violation = "an ID was registered twice";
            registeredBlockSeen[id] = uint64(block.number);
            replays.push(Replay(0, key, validUntil, issuedAt, sig));
        } catch {
            if (!wasRegistered) violation = "a fresh, well-signed registration was refused";
        }
    }

    function renew(uint256 k, uint32 lifetime, uint16 back) external {
        calls++;
        uint256 key = keys[k % keys.length];
        address id = vm.addr(key);
        uint64 issuedAt = _now() - uint64(back % 1000);
        uint64 validUntil = _now() + 1 + uint64(lifetime % (4 * 365 days));
        bytes memory sig = signStruct(registry, key, renewalHash(id, validUntil, issuedAt));
        try registry.renew(id, validUntil, issuedAt, sig) {
            if (revokedAtSeen[id] != 0) violation = "a revoked ID was renewed";
            if (registeredBlockSeen[id] == 0) violation = "an unknown ID was renewed";
            replays.push(Replay(1, key, validUntil, issuedAt, sig));
        } catch {}
    }

    function revoke(uint256 k, uint64 revokedAt) external {
        calls++;
        uint256 key = keys[k % keys.length];
        address id = vm.addr(key);
        revokedAt = uint64(bound(revokedAt, 0, _now() + 300));
        bytes memory sig = signStruct(registry, key, revocationHash(id, revokedAt));
        try registry.revoke(id, revokedAt, sig) {
            if (revokedAtSeen[id] != 0) violation = "an ID was revoked twice";
            if (registeredBlockSeen[id] == 0) violation = "an unknown ID was revoked";
            revokedAtSeen[id] = _now() == 0 ? 1 : _now();
            replays.push(Replay(2, key, revokedAt, 0, sig));
        } catch {
            if (registeredBlockSeen[id] != 0 && revokedAtSeen[id] == 0) {
                violation = "a well-signed revocation of a live ID was refused";
            }
        }
    }

    function setEndpoint(uint256 k, uint32 step) external {
        calls++;
        uint256 key = keys[k % keys.length];
        address id = vm.addr(key);
        // Mostly a small step up; sometimes around the block-time bound, or far past it.
        uint64 limit = (_now() + 300) * 1000;
        uint64 sequence = sequenceSeen[id] + 1 + (step % 1000);
        if (step % 3 == 1) sequence = limit - 500 + (step % 1000);
        if (step % 3 == 2) sequence = limit + 1 + (uint64(bytes8(keccak256(abi.encode(step)))) >> 2);
        string memory endpoint = "198.51.100.1:7400";
        bytes memory sig = signStruct(registry, key, endpointHash(id, endpoint, sequence));
        try registry.setEndpoint(id, endpoint, sequence, sig) {
            if (revokedAtSeen[id] != 0) violation = "a revoked ID published an endpoint";
            if (sequence > limit) violation = "a sequence beyond (block time + skew) in ms was accepted";
            sequenceSeen[id] = sequence;
            replays.push(Replay(3, key, sequence, 0, sig));
        } catch {}
    }

    /// @dev Resubmits a signature accepted earlier; it must not succeed again.
    function replay(uint256 index) external {
        calls++;
        if (replays.length == 0) return;
        Replay memory r = replays[index % replays.length];
        address id = vm.addr(r.key);
        bool ok;
        if (r.kind == 0) {
            try registry.register(publicKeyOf(r.key), r.a, r.b, r.sig) {
                ok = true;
            } catch {}
        } else if (r.kind == 1) {
            try registry.renew(id, r.a, r.b, r.sig) {
                ok = true;
            } catch {}
        } else if (r.kind == 2) {
            try registry.revoke(id, r.a, r.sig) {
                ok = true;
            } catch {}
        } else {
            try registry.setEndpoint(id, "198.51.100.1:7400", r.a, r.sig) {
                ok = true;
            } catch {}
        }
        if (ok) violation = "a replayed signature was accepted";
    }

    function warp(uint32 seconds_) external {
        calls++;
        vm.warp(block.timestamp + (seconds_ % (200 days)));
        vm.roll(block.number + 1);
    }
}

contract IdentityRegistryInvariantTest is Base {
    IdentityRegistry internal registry;
    RegistryHandler internal handler;

    function setUp() public {
        vm.warp(1_750_000_000);
        vm.roll(1000);
        registry = new IdentityRegistry();
        handler = new RegistryHandler(registry);
    }

    /// @dev forge's invariant runner calls only the handler's functions.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function invariant_revokedIdNeverValidAgain() public view {
        for (uint256 k = 0; k < handler.keyCount(); k++) {
            address id = handler.idOf(k);
            uint64 revokedAt = handler.revokedAtSeen(id);
            if (revokedAt == 0) continue;
            (,, uint64 storedRevokedAt,) = registry.status(id);
            assertEq(storedRevokedAt, revokedAt, "revokedAt changed after revocation");
            assertTrue(!registry.isValid(id), "a revoked ID is valid again");
        }
    }

    function invariant_registrationIsPermanent() public view {
        for (uint256 k = 0; k < handler.keyCount(); k++) {
            address id = handler.idOf(k);
            (uint64 validUntil, uint64 issuedAt,, uint64 registeredBlock) = registry.status(id);
            assertEq(registeredBlock, handler.registeredBlockSeen(id), "registeredBlock changed or appeared");
            if (registeredBlock != 0) {
                assertTrue(issuedAt != 0 && validUntil > issuedAt, "registered status is well formed");
            } else {
                assertTrue(issuedAt == 0 && validUntil == 0, "unregistered status is empty");
                assertTrue(!registry.isValid(id), "an unregistered ID is valid");
            }
        }
    }

    function invariant_endpointSequenceMatchesGhost() public view {
        for (uint256 k = 0; k < handler.keyCount(); k++) {
            address id = handler.idOf(k);
            (, uint64 sequence) = registry.endpointOf(id);
            assertEq(sequence, handler.sequenceSeen(id), "endpoint sequence");
        }
    }

    function invariant_endpointSequenceWithinBlockTimeBound() public view {
        for (uint256 k = 0; k < handler.keyCount(); k++) {
            (, uint64 sequence) = registry.endpointOf(handler.idOf(k));
            assertTrue(sequence <= (block.timestamp + 300) * 1000, "stored sequence beyond the bound");
        }
    }

    function invariant_nothingForbiddenHappened() public view {
        assertEq(bytes(handler.violation()), "", handler.violation());
    }
}
