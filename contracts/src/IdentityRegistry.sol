// SPDX-License-Identifier: MIT OR Apache-2.0
// IdentityRegistry: the on-chain certificate authority of chainmail.
//
// The contract of the paper's section 4.1.1-4.1.3 (Khacef & Pujolle, "Secure
// Peer-to-Peer Communication Based on Blockchain") with its holes closed:
// renewal, final revocation, a signed endpoint record and EIP-712 signatures
// with one typed struct per meaning. DESIGN.md sections 2 and 3 are the
// specification; the ABI below is normative (the Rust chain crate, `cast` and
// wallets depend on it byte for byte).
pragma solidity 0.8.30;

/// @title chainmail identity registry
/// @notice Maps an identity (an Ethereum address, `keccak256(publicKey)[12..32]`)
/// to its certificate status. Every state change is authorized by an EIP-712
/// signature of the identity's own key, never by `msg.sender`: anyone (a relayer)
/// may submit it and pay the gas.
/// @dev Storage per ID is one packed slot (see `_status`). The public key lives
/// only in the `Registered` event: it hashes to the ID, so whoever reads it from a
/// log checks it without trusting the log's source. An ID is *registered* iff its
/// stored `issuedAt` is nonzero: `register` refuses `issuedAt == 0`, and `renew`
/// only ever raises it. A registered ID is never cleared, so it can never be
/// registered again, not even after revocation (paper §4.1.2 step 3b).
contract IdentityRegistry {
    // ------------------------------------------------------------------
    // Errors (decoded by name by the Rust chain crate: keep them stable)
    // ------------------------------------------------------------------

    /// @notice `id` was registered before (possibly revoked since); IDs are never re-registered.
    error AlreadyRegistered(address id);
    /// @notice `id` was never registered.
    error UnknownIdentity(address id);
    /// @notice `id` is revoked; revocation is final.
    error IdentityRevoked(address id);
    /// @notice `id` is registered but its `validUntil` is not after `block.timestamp`.
    error IdentityExpired(address id);
    /// @notice A signed timestamp lies outside the window this call allows around `blockTimestamp`.
    error StaleTimestamp(uint64 timestamp, uint64 blockTimestamp);
    /// @notice The signature is not 65 bytes r‖s‖v, has v ∉ {27, 28} or a high s,
    /// recovers to nobody, or recovers to someone other than the identity.
    error BadSignature();
    /// @notice The public key is not 64 bytes (uncompressed x‖y without the 0x04 prefix).
    error InvalidPublicKey();
    /// @notice `validUntil` is not in the future, not after `issuedAt`, or more than
    /// `MAX_LIFETIME` after `issuedAt`.
    error InvalidLifetime(uint64 validUntil, uint64 issuedAt);
    /// @notice A renewal's `issuedAt` is not strictly greater than the stored one (`current`).
    error StaleRenewal(uint64 issuedAt, uint64 current);
    /// @notice An endpoint's `sequence` is not strictly greater than the stored one (`current`).
    error StaleSequence(uint64 sequence, uint64 current);
    /// @notice An endpoint's `sequence` (milliseconds) lies beyond `limit`,
    /// `(block.timestamp + MAX_FUTURE_SKEW) * 1000`: a clock ahead, or a sequence chosen to
    /// freeze the endpoint (nothing could ever exceed a stored `type(uint64).max`).
    error FutureSequence(uint64 sequence, uint64 limit);
    /// @notice The endpoint is longer than `MAX_ENDPOINT_LENGTH` bytes.
    error EndpointTooLong(uint256 length);

    // ------------------------------------------------------------------
    // Events: one per state change
    // ------------------------------------------------------------------

    /// @notice `id` registered with `publicKey` (64 bytes x‖y; `keccak256(publicKey)` ends in `id`).
    /// @dev The only place the key is kept: fetch it from the block `status(id).registeredBlock`.
    event Registered(address indexed id, bytes publicKey);
    /// @notice `id`'s certificate renewed.
    event Renewed(address indexed id, uint64 validUntil, uint64 issuedAt);
    /// @notice `id` revoked for good; `revokedAt` is the block timestamp of the revocation.
    event Revoked(address indexed id, uint64 revokedAt);
    /// @notice `id` published where it can be reached.
    event EndpointSet(address indexed id, string endpoint, uint64 sequence);

    // ------------------------------------------------------------------
    // Public constants
    // ------------------------------------------------------------------

    /// @notice How far in the past a certificate's or renewal's `issuedAt` may lie
    /// (room for a transaction that waits in a mempool or a relayer's queue).
    uint64 public constant MAX_ISSUED_SKEW_PAST = 1 days;
    /// @notice How far ahead of `block.timestamp` a signed time may lie (clock skew;
    /// blocks are made on demand on some chains, so their time lags the wall clock).
    /// It bounds `issuedAt`, `revokedAt` and, in milliseconds, an endpoint's `sequence`.
    uint64 public constant MAX_FUTURE_SKEW = 5 minutes;
    /// @notice Longest certificate lifetime, `validUntil - issuedAt`: five 365-day years.
    uint64 public constant MAX_LIFETIME = 5 * 365 days;
    /// @notice `verifySession` accepts a `SessionRequest` timestamp within ± this many seconds.
    uint64 public constant SESSION_SKEW = 300;
    /// @notice Longest endpoint string, in bytes.
    uint256 public constant MAX_ENDPOINT_LENGTH = 255;

    /// @notice EIP-712 type hashes, one per meaning (DESIGN.md section 2).
    bytes32 public constant CERTIFICATE_TYPEHASH =
        keccak256("Certificate(address id,bytes publicKey,uint64 validUntil,uint64 issuedAt)");
    /// @notice EIP-712 type hash of `Renewal`.
    bytes32 public constant RENEWAL_TYPEHASH = keccak256("Renewal(address id,uint64 validUntil,uint64 issuedAt)");
    /// @notice EIP-712 type hash of `Revocation`.
    bytes32 public constant REVOCATION_TYPEHASH = keccak256("Revocation(address id,uint64 revokedAt)");
    /// @notice EIP-712 type hash of `Endpoint`.
    bytes32 public constant ENDPOINT_TYPEHASH = keccak256("Endpoint(address id,string endpoint,uint64 sequence)");
    /// @notice EIP-712 type hash of `SessionRequest`.
    bytes32 public constant SESSION_REQUEST_TYPEHASH =
        keccak256("SessionRequest(address from,address to,uint64 timestamp,bytes32 ephemeralKeyHash)");

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("chainmail");
    bytes32 private constant VERSION_HASH = keccak256("1");

    /// @dev secp256k1 group order n / 2: a signature with s above it is the
    /// malleated twin of a low-s one and is refused, so each signature has one encoding.
    uint256 private constant HALF_ORDER = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0;

    /// @dev keccak256("Registered(address,bytes)"), for the hand-made log in `register`.
    bytes32 private constant REGISTERED_TOPIC = keccak256("Registered(address,bytes)");

    // Bit layout of the packed status word: four uint64, lowest first.
    uint256 private constant VALID_UNTIL_SHIFT = 0;
    uint256 private constant ISSUED_AT_SHIFT = 64;
    uint256 private constant REVOKED_AT_SHIFT = 128;
    uint256 private constant REGISTERED_BLOCK_SHIFT = 192;
    uint256 private constant U64 = 0xffffffffffffffff;

    // ------------------------------------------------------------------
    // State
    // ------------------------------------------------------------------

    /// @dev Per ID, one slot: validUntil | issuedAt << 64 | revokedAt << 128 | registeredBlock << 192.
    /// Zero means never registered.
    mapping(address => uint256) private _status;

    /// @dev The latest signed endpoint of an ID.
    struct EndpointRecord {
        uint64 sequence;
        string endpoint;
    }

    mapping(address => EndpointRecord) private _endpoints;

    // The domain separator is cached for the chain the contract was deployed on
    // and recomputed if the chain id differs (a fork) or the code runs at another
    // address (delegatecall), so a signature never outlives its domain.
    uint256 private immutable _cachedChainId;
    address private immutable _cachedThis;
    bytes32 private immutable _cachedDomainSeparator;

    /// @notice No arguments: the same creation transaction deploys it on every chain.
    constructor() {
        _cachedChainId = block.chainid;
        _cachedThis = address(this);
        _cachedDomainSeparator = _buildDomainSeparator();
    }

    // ------------------------------------------------------------------
    // State-changing calls
    // ------------------------------------------------------------------

    /// @notice Registers the identity `address(keccak256(publicKey))` (paper §4.1.2).
    /// @dev Checks, in order: key length; the ID never registered; `issuedAt` in
    /// [now − MAX_ISSUED_SKEW_PAST, now + MAX_FUTURE_SKEW] and nonzero; `validUntil`
    /// after now and after `issuedAt`, at most `issuedAt + MAX_LIFETIME`; the
    /// signature of `Certificate(id, publicKey, validUntil, issuedAt)` by the key.
    /// `registeredBlock` is set to `block.number`.
    /// @param publicKey 64-byte uncompressed secp256k1 key x‖y, no 0x04 prefix.
    /// @param validUntil Expiry (unix seconds); valid while `block.timestamp < validUntil`.
    /// @param issuedAt When the certificate was signed (unix seconds).
    /// @param signature 65 bytes r‖s‖v over the EIP-712 digest of the `Certificate`.
    function register(bytes calldata publicKey, uint64 validUntil, uint64 issuedAt, bytes calldata signature) external {
        // The hot path of the contract, in one assembly block for gas (issue 3: at most
        // 55,000 per transaction): one copy of the key in memory, one hash of it, one
        // mapping slot, one SLOAD, one SSTORE, one LOG2, no internal calls. Every check
        // and error is the one the NatSpec above lists, in that order; the forge tests
        // pin each error's exact encoding, so a wrong selector below cannot pass them.
        bytes32 domainSeparator = DOMAIN_SEPARATOR();
        bytes32 certificateTypehash = CERTIFICATE_TYPEHASH;
        bytes32 registeredTopic = REGISTERED_TOPIC;
        assembly ("memory-safe") {
            // revert CustomError(a, b) with `selector` = the error's 4-byte selector; the
            // data is built past the free memory pointer.
            function fail(selector, a, b, size) {
                let p := mload(0x40)
                mstore(p, shl(224, selector))
                mstore(add(p, 0x04), a)
                mstore(add(p, 0x24), b)
                revert(p, size)
            }
            let u64 := 0xffffffffffffffff
            let addressMask := 0xffffffffffffffffffffffffffffffffffffffff

            if iszero(eq(publicKey.length, 64)) { fail(0xa2d0fee8, 0, 0, 0x04) } // InvalidPublicKey()

            // Lay the Registered event's data out now -- the ABI encoding of one `bytes`:
            // [offset 0x20][length 64][x][y] -- and hash the key in place: that hash gives
            // the ID and the Certificate's `publicKey` member, and the memory is logged at the end.
            let eventData := mload(0x40)
            mstore(0x40, add(eventData, 0x80))
            mstore(eventData, 0x20)
            mstore(add(eventData, 0x20), 64)
            calldatacopy(add(eventData, 0x40), publicKey.offset, 64)
            let keyHash := keccak256(add(eventData, 0x40), 64)
            let id := and(keyHash, addressMask)

            // _status[id]: Solidity's mapping slot keccak256(key . slot of the mapping).
            mstore(0x00, id)
            mstore(0x20, _status.slot)
            let slot := keccak256(0x00, 0x40)
            if sload(slot) { fail(0x45ed80e9, id, 0, 0x24) } // AlreadyRegistered(id)

            // The masks: Solidity leaves the bits above a uint64 undefined in assembly.
            // All sums below are of 64-bit values and small constants: no overflow.
            let vu := and(validUntil, u64)
            let ia := and(issuedAt, u64)
            let t := timestamp()
            // issuedAt nonzero, in [now - MAX_ISSUED_SKEW_PAST, now + MAX_FUTURE_SKEW]
            if or(iszero(ia), or(lt(add(ia, 86400), t), gt(ia, add(t, 300)))) {
                fail(0x1917ee8a, ia, t, 0x44) // StaleTimestamp(issuedAt, block.timestamp)
            }
            // validUntil after now, after issuedAt, at most issuedAt + MAX_LIFETIME (5 * 365 days)
            if or(or(iszero(gt(vu, t)), iszero(gt(vu, ia))), gt(vu, add(ia, 157680000))) {
                fail(0x05131ba4, vu, ia, 0x44) // InvalidLifetime(validUntil, issuedAt)
            }

            // The EIP-712 digest, in memory past the event data (not allocated: scratch):
            // structHash = keccak256(abi.encode(CERTIFICATE_TYPEHASH, id, keccak256(publicKey), validUntil, issuedAt))
            // digest     = keccak256(0x1901 . DOMAIN_SEPARATOR . structHash)
            let m := add(eventData, 0x80)
            mstore(m, certificateTypehash)
            mstore(add(m, 0x20), id)
            mstore(add(m, 0x40), keyHash)
            mstore(add(m, 0x60), vu)
            mstore(add(m, 0x80), ia)
            let structHash := keccak256(m, 0xa0)
            mstore(m, 0x1901000000000000000000000000000000000000000000000000000000000000)
            mstore(add(m, 0x02), domainSeparator)
            mstore(add(m, 0x22), structHash)
            let digest := keccak256(m, 0x42)

            // The signature: 65 bytes r.s.v, v 27 or 28, s <= n/2, recovering to id.
            if iszero(eq(signature.length, 65)) { fail(0x5cd5d233, 0, 0, 0x04) } // BadSignature()
            // The 65th byte; the word read may run past the signature, byte(0, ...) keeps only v.
            let v := byte(0, calldataload(add(signature.offset, 0x40)))
            let s := calldataload(add(signature.offset, 0x20))
            // ecrecover(digest, v, r, s): the precompile at address 1 returns the signer, or
            // nothing for an invalid signature, so its output word is zeroed first.
            mstore(m, digest)
            mstore(add(m, 0x20), v)
            calldatacopy(add(m, 0x40), signature.offset, 0x40) // r, s
            mstore(0x00, 0)
            pop(staticcall(gas(), 0x01, m, 0x80, 0x00, 0x20))
            let recovered := mload(0x00)
            // id is the low 160 bits of a hash: zero only if keccak256 is broken, and a
            // zero `recovered` (failure) must never match anyway.
            if iszero(
                and(
                    and(or(eq(v, 27), eq(v, 28)), iszero(gt(s, HALF_ORDER))),
                    and(iszero(iszero(recovered)), eq(recovered, id))
                )
            ) { fail(0x5cd5d233, 0, 0, 0x04) } // BadSignature()

            // validUntil | issuedAt << 64 | revokedAt (0) << 128 | registeredBlock << 192
            sstore(slot, or(or(vu, shl(64, ia)), shl(192, number())))
            // emit Registered(id, publicKey), from the memory laid out above.
            log2(eventData, 0x80, registeredTopic, id)
        }
    }

    /// @notice Replaces the validity of a registered, unrevoked ID (expired is fine).
    /// @dev Checks, in order: registered; not revoked; `issuedAt` strictly greater than
    /// the stored one; the same time window and lifetime rule as `register`; the
    /// signature of `Renewal(id, validUntil, issuedAt)` by the ID's key.
    /// @param id The identity.
    /// @param validUntil New expiry (unix seconds).
    /// @param issuedAt When the renewal was signed (unix seconds).
    /// @param signature 65 bytes r‖s‖v over the EIP-712 digest of the `Renewal`.
    function renew(address id, uint64 validUntil, uint64 issuedAt, bytes calldata signature) external {
        uint256 word = _status[id];
        uint64 current = _field(word, ISSUED_AT_SHIFT);
        if (current == 0) revert UnknownIdentity(id);
        if (_field(word, REVOKED_AT_SHIFT) != 0) revert IdentityRevoked(id);
        if (issuedAt <= current) revert StaleRenewal(issuedAt, current);
        _checkIssuedAt(issuedAt);
        _checkLifetime(validUntil, issuedAt);
        _checkSignature(id, _hashStruct3(RENEWAL_TYPEHASH, uint160(id), validUntil, issuedAt), signature);

        // Keep revokedAt (zero) and registeredBlock; replace the low 128 bits.
        _status[id] = (word & ~((U64 << VALID_UNTIL_SHIFT) | (U64 << ISSUED_AT_SHIFT)))
            | (uint256(validUntil) << VALID_UNTIL_SHIFT) | (uint256(issuedAt) << ISSUED_AT_SHIFT);
        emit Renewed(id, validUntil, issuedAt);
    }

    /// @notice Revokes a registered ID for good.
    /// @dev Checks, in order: registered; not already revoked; `revokedAt` at most
    /// `now + MAX_FUTURE_SKEW` (no lower bound: a revocation signed long ago and kept
    /// offline must still work once the key is lost); the signature of
    /// `Revocation(id, revokedAt)` by the ID's key. Stores `block.timestamp` (the
    /// effective time), not the signed `revokedAt`.
    /// @param id The identity.
    /// @param revokedAt When the revocation was signed (unix seconds).
    /// @param signature 65 bytes r‖s‖v over the EIP-712 digest of the `Revocation`.
    function revoke(address id, uint64 revokedAt, bytes calldata signature) external {
        uint256 word = _status[id];
        if (_field(word, ISSUED_AT_SHIFT) == 0) revert UnknownIdentity(id);
        if (_field(word, REVOKED_AT_SHIFT) != 0) revert IdentityRevoked(id);
        if (revokedAt > block.timestamp + MAX_FUTURE_SKEW) revert StaleTimestamp(revokedAt, _blockTime());
        _checkSignature(id, _hashStruct2(REVOCATION_TYPEHASH, uint160(id), revokedAt), signature);

        // A stored zero would read as "not revoked"; no real block has timestamp 0,
        // but a test chain might, and revocation must never be lost.
        uint64 effective = block.timestamp == 0 ? 1 : _blockTime();
        _status[id] = word | (uint256(effective) << REVOKED_AT_SHIFT);
        emit Revoked(id, effective);
    }

    /// @notice Publishes where `id` can be reached (the "peer information" of §4.2.1),
    /// e.g. `203.0.113.7:7400`. An empty string withdraws it.
    /// @dev Checks, in order: length ≤ `MAX_ENDPOINT_LENGTH`; the ID valid (registered,
    /// not revoked, not expired); `sequence` strictly greater than the stored one;
    /// `sequence` at most `(block.timestamp + MAX_FUTURE_SKEW) * 1000`; the signature of
    /// `Endpoint(id, endpoint, sequence)` by the ID's key. Clients use milliseconds
    /// since the epoch as `sequence`, so an older signed endpoint can never land after
    /// a newer one; the upper bound keeps a clock far ahead (or whoever holds the key)
    /// from storing a sequence that no later endpoint could exceed. Revocation still
    /// ends the ID, endpoint included.
    /// @param id The identity.
    /// @param endpoint Where to reach it; opaque bytes to the contract.
    /// @param sequence Strictly growing counter: milliseconds since the epoch, at most
    /// `MAX_FUTURE_SKEW` seconds ahead of the block time.
    /// @param signature 65 bytes r‖s‖v over the EIP-712 digest of the `Endpoint`.
    function setEndpoint(address id, string calldata endpoint, uint64 sequence, bytes calldata signature) external {
        if (bytes(endpoint).length > MAX_ENDPOINT_LENGTH) revert EndpointTooLong(bytes(endpoint).length);
        _requireValid(id, _status[id]);
        EndpointRecord storage record = _endpoints[id];
        uint64 current = record.sequence;
        if (sequence <= current) revert StaleSequence(sequence, current);
        // Unchecked: block.timestamp is a uint64 in every block header, so the limit is
        // below 2^75. It exceeds type(uint64).max only after the year 584 million, and
        // then no uint64 `sequence` is above it, so the cast in the revert is exact.
        unchecked {
            uint256 limit = (block.timestamp + MAX_FUTURE_SKEW) * 1000;
            // forge-lint: disable-next-line(unsafe-typecast)
            if (sequence > limit) revert FutureSequence(sequence, uint64(limit));
        }
        _checkSignature(
            id, _hashStruct3(ENDPOINT_TYPEHASH, uint160(id), uint256(keccak256(bytes(endpoint))), sequence), signature
        );

        record.sequence = sequence;
        record.endpoint = endpoint;
        emit EndpointSet(id, endpoint, sequence);
    }

    // ------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------

    /// @notice The certificate status of `id`; all zero if never registered.
    /// @return validUntil Expiry (unix seconds).
    /// @return issuedAt When the current certificate or renewal was signed; nonzero iff registered.
    /// @return revokedAt Block timestamp of the revocation; zero if not revoked.
    /// @return registeredBlock Block of the `Registered` event that holds the public key.
    function status(address id)
        external
        view
        returns (uint64 validUntil, uint64 issuedAt, uint64 revokedAt, uint64 registeredBlock)
    {
        uint256 word = _status[id];
        validUntil = _field(word, VALID_UNTIL_SHIFT);
        issuedAt = _field(word, ISSUED_AT_SHIFT);
        revokedAt = _field(word, REVOKED_AT_SHIFT);
        registeredBlock = _field(word, REGISTERED_BLOCK_SHIFT);
    }

    /// @notice True iff `id` is registered, not revoked and `block.timestamp < validUntil`.
    function isValid(address id) external view returns (bool) {
        uint256 word = _status[id];
        return _field(word, ISSUED_AT_SHIFT) != 0 && _field(word, REVOKED_AT_SHIFT) == 0
            && block.timestamp < _field(word, VALID_UNTIL_SHIFT);
    }

    /// @notice The latest endpoint `id` published and its sequence; ("", 0) if none.
    function endpointOf(address id) external view returns (string memory endpoint, uint64 sequence) {
        EndpointRecord storage record = _endpoints[id];
        return (record.endpoint, record.sequence);
    }

    /// @notice The smart-contract check of a session request T_B (paper §4.1.3 step 2 a–c).
    /// @dev Checks, in order: `from` valid, `to` valid (each: registered, not revoked,
    /// not expired at `block.timestamp`); `timestamp` within ± `SESSION_SKEW` of
    /// `block.timestamp`; the signature of
    /// `SessionRequest(from, to, timestamp, ephemeralKeyHash)` by `from`.
    /// @return Always true; every failure reverts with a named error.
    function verifySession(
        address from,
        address to,
        uint64 timestamp,
        bytes32 ephemeralKeyHash,
        bytes calldata signature
    ) external view returns (bool) {
        _requireValid(from, _status[from]);
        _requireValid(to, _status[to]);
        if (timestamp + uint256(SESSION_SKEW) < block.timestamp || timestamp > block.timestamp + SESSION_SKEW) {
            revert StaleTimestamp(timestamp, _blockTime());
        }
        bytes32 structHash;
        bytes32 typeHash = SESSION_REQUEST_TYPEHASH;
        uint256 signedAt = timestamp; // a uint256 (clean), and `timestamp` is an opcode name in assembly
        assembly ("memory-safe") {
            // keccak256(abi.encode(SESSION_REQUEST_TYPEHASH, from, to, timestamp, ephemeralKeyHash)),
            // in scratch memory past the free pointer.
            // Masks: Solidity leaves the bits above an address undefined in assembly.
            let addressMask := 0xffffffffffffffffffffffffffffffffffffffff
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            mstore(add(ptr, 0x20), and(from, addressMask))
            mstore(add(ptr, 0x40), and(to, addressMask))
            mstore(add(ptr, 0x60), signedAt)
            mstore(add(ptr, 0x80), ephemeralKeyHash)
            structHash := keccak256(ptr, 0xa0)
        }
        _checkSignature(from, structHash, signature);
        return true;
    }

    /// @notice The EIP-712 domain separator: {name "chainmail", version "1", this chain, this contract}.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() public view returns (bytes32) {
        if (block.chainid == _cachedChainId && address(this) == _cachedThis) return _cachedDomainSeparator;
        return _buildDomainSeparator();
    }

    /// @notice EIP-5267: the fields of the EIP-712 domain, for wallets and tools.
    function eip712Domain()
        external
        view
        returns (
            bytes1 fields,
            string memory name,
            string memory version,
            uint256 chainId,
            address verifyingContract,
            bytes32 salt,
            uint256[] memory extensions
        )
    {
        // 0x0f: name, version, chainId and verifyingContract present; no salt.
        return (hex"0f", "chainmail", "1", block.chainid, address(this), bytes32(0), new uint256[](0));
    }

    // ------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------

    /// @dev One uint64 field of a packed status word.
    function _field(uint256 word, uint256 shift) private pure returns (uint64) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint64(word >> shift); // truncation intended: keeps the 64 bits of the field
    }

    /// @dev `block.timestamp` as uint64 (exact until the year 584 billion).
    function _blockTime() private view returns (uint64) {
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint64(block.timestamp);
    }

    function _buildDomainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    /// @dev Reverts unless the packed status `word` of `id` is registered, unrevoked and unexpired.
    function _requireValid(address id, uint256 word) private view {
        if (_field(word, ISSUED_AT_SHIFT) == 0) revert UnknownIdentity(id);
        if (_field(word, REVOKED_AT_SHIFT) != 0) revert IdentityRevoked(id);
        if (block.timestamp >= _field(word, VALID_UNTIL_SHIFT)) revert IdentityExpired(id);
    }

    /// @dev `issuedAt` nonzero and within [now − MAX_ISSUED_SKEW_PAST, now + MAX_FUTURE_SKEW].
    function _checkIssuedAt(uint64 issuedAt) private view {
        // Unchecked: uint64 values plus constants below 2^32, summed in uint256, and
        // block.timestamp is a uint64 in every Ethereum block header: nothing can overflow.
        unchecked {
            if (
                issuedAt == 0 || uint256(issuedAt) + MAX_ISSUED_SKEW_PAST < block.timestamp
                    || issuedAt > block.timestamp + MAX_FUTURE_SKEW
            ) revert StaleTimestamp(issuedAt, _blockTime());
        }
    }

    /// @dev `validUntil` after now, after `issuedAt`, and at most `issuedAt + MAX_LIFETIME`.
    function _checkLifetime(uint64 validUntil, uint64 issuedAt) private view {
        unchecked {
            // uint64 + constant in uint256: cannot overflow.
            if (
                validUntil <= block.timestamp || validUntil <= issuedAt || validUntil > uint256(issuedAt) + MAX_LIFETIME
            ) revert InvalidLifetime(validUntil, issuedAt);
        }
    }

    /// @dev keccak256(abi.encode(typeHash, a, b)) in scratch memory.
    function _hashStruct2(bytes32 typeHash, uint256 a, uint256 b) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            mstore(add(ptr, 0x20), a)
            mstore(add(ptr, 0x40), b)
            h := keccak256(ptr, 0x60)
        }
    }

    /// @dev keccak256(abi.encode(typeHash, a, b, c)) in scratch memory.
    function _hashStruct3(bytes32 typeHash, uint256 a, uint256 b, uint256 c) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            mstore(add(ptr, 0x20), a)
            mstore(add(ptr, 0x40), b)
            mstore(add(ptr, 0x60), c)
            h := keccak256(ptr, 0x80)
        }
    }

    /// @dev Reverts with `BadSignature` unless `_signedBy(signer, structHash, signature)`.
    function _checkSignature(address signer, bytes32 structHash, bytes calldata signature) private view {
        if (!_signedBy(signer, structHash, signature)) revert BadSignature();
    }

    /// @dev True iff `signature` is 65 bytes r‖s‖v with v ∈ {27, 28} and s ≤ n/2 that
    /// recovers to `signer` (never zero) for the EIP-712 digest
    /// keccak256(0x1901 ‖ DOMAIN_SEPARATOR ‖ structHash).
    function _signedBy(address signer, bytes32 structHash, bytes calldata signature) private view returns (bool ok) {
        if (signature.length != 65) return false;
        bytes32 domainSeparator = DOMAIN_SEPARATOR();
        uint256 halfOrder = HALF_ORDER;
        assembly ("memory-safe") {
            let ptr := mload(0x40) // scratch memory past the free pointer
            mstore(ptr, hex"1901")
            mstore(add(ptr, 0x02), domainSeparator)
            mstore(add(ptr, 0x22), structHash)
            let digest := keccak256(ptr, 0x42)
            // The 65th byte; the word read may run past the signature, byte(0, …) keeps only v.
            let v := byte(0, calldataload(add(signature.offset, 0x40)))
            let s := calldataload(add(signature.offset, 0x20))
            // ecrecover(digest, v, r, s): the precompile at address 1 returns the signer,
            // or nothing for an invalid signature, so its output word starts at zero.
            mstore(ptr, digest)
            mstore(add(ptr, 0x20), v)
            calldatacopy(add(ptr, 0x40), signature.offset, 0x40) // r, s
            mstore(0x00, 0)
            pop(staticcall(gas(), 0x01, ptr, 0x80, 0x00, 0x20))
            let recovered := mload(0x00)
            ok := and(
                and(or(eq(v, 27), eq(v, 28)), iszero(gt(s, halfOrder))),
                and(iszero(iszero(recovered)), eq(recovered, and(signer, 0xffffffffffffffffffffffffffffffffffffffff)))
            )
        }
    }
}
