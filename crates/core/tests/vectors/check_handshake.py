#!/usr/bin/env python3
"""Independent check of handshake.json with a second implementation:
Python's `cryptography` (OpenSSL) for secp256k1 ECDH, HKDF-SHA256 and
AES-256-GCM, and a from-scratch Keccak-256. It re-derives every secret from
the vector's inputs using PROTOCOL.md's formulas, decrypts T_B1, T_A2 and the
first frames, and checks every field of their layout.

Run: python3 crates/core/tests/vectors/check_handshake.py  (exit 0 = agree)
"""
import json, os, sys
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives import hashes, serialization

# --- Keccak-256 (Ethereum's, original padding 0x01) --------------------------
RC = [0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
      0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
      0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
      0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
      0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
      0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008]
ROT = [[0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14]]
M = (1 << 64) - 1
def rol(x, n): return ((x << n) | (x >> (64 - n))) & M if n else x
def keccak_f(A):
    for rc in RC:
        C = [A[x][0] ^ A[x][1] ^ A[x][2] ^ A[x][3] ^ A[x][4] for x in range(5)]
        D = [C[(x - 1) % 5] ^ rol(C[(x + 1) % 5], 1) for x in range(5)]
        A = [[A[x][y] ^ D[x] for y in range(5)] for x in range(5)]
        B = [[0] * 5 for _ in range(5)]
        for x in range(5):
            for y in range(5):
                B[y][(2 * x + 3 * y) % 5] = rol(A[x][y], ROT[x][y])
        A = [[B[x][y] ^ ((~B[(x + 1) % 5][y]) & B[(x + 2) % 5][y]) for y in range(5)] for x in range(5)]
        A[0][0] ^= rc
    return A
def keccak256(data: bytes) -> bytes:
    rate = 136
    msg = bytearray(data) + b"\x01"
    while len(msg) % rate: msg += b"\x00"
    msg[-1] |= 0x80
    A = [[0] * 5 for _ in range(5)]
    for off in range(0, len(msg), rate):
        block = msg[off:off + rate]
        for i in range(rate // 8):
            A[i % 5][i // 5] ^= int.from_bytes(block[8 * i:8 * i + 8], "little")
        A = keccak_f(A)
    return b"".join(A[i % 5][i // 5].to_bytes(8, "little") for i in range(4))
assert keccak256(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"

# --- helpers -------------------------------------------------------------------
def key(hexstr): return ec.derive_private_key(int(hexstr, 16), ec.SECP256K1())
def xy(k): return k.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)[1:]
def comp(k): return k.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
def ecdh(k, pub_xy): return k.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256K1(), b"\x04" + pub_xy))
def hkdf(salt, ikm, info): return HKDF(hashes.SHA256(), 32, salt, info.encode()).derive(ikm)
def addr(pub_xy): return keccak256(pub_xy)[12:]
def nonce(counter): return b"\x00" * 4 + counter.to_bytes(8, "big")

v = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "handshake.json")))
i, d, w = v["inputs"], v["derived"], {k: bytes.fromhex(x) for k, x in v["wire"].items()}
a, b = key(i["aliceSecretKey"]), key(i["bobSecretKey"])
eb, ea = key(i["bobEphemeralSecretKey"]), key(i["aliceEphemeralSecretKey"])
t = i["timestamp"]
contract = bytes.fromhex(i["domain"]["verifyingContract"][2:])

ss, es, ee = ecdh(b, xy(a)), ecdh(eb, xy(a)), ecdh(eb, xy(ea))
assert ss == ecdh(a, xy(b)) and es == ecdh(a, xy(eb)) and ee == ecdh(ea, xy(eb))
assert (ss.hex(), es.hex(), ee.hex()) == (d["ss"], d["es"], d["ee"])

# T_B1 = len ‖ [1, 0x01, chainId, contract, ID_A, E_B] ‖ AESGCM(k_T_B1, 0, header; ID_B ‖ T ‖ K_pubB ‖ sig)
t_b1 = w["T_B1"]
assert int.from_bytes(t_b1[:4], "big") == len(t_b1) - 4 == 256
body = t_b1[4:]
header = body[:83]
assert header[0] == 1 and header[1] == 1
assert int.from_bytes(header[2:10], "big") == i["domain"]["chainId"] and header[10:30] == contract
assert header[30:50] == addr(xy(a)) and header[50:83] == comp(eb)
k_b1 = hkdf(b"", es, "chainmail v1 T_B1 key")
assert k_b1.hex() == d["k_T_B1"]
pt = AESGCM(k_b1).decrypt(nonce(0), body[83:], header)
assert pt[:20] == addr(xy(b)) and int.from_bytes(pt[20:28], "big") == t and pt[28:92] == xy(b)
assert pt[92:157].hex() == d["T_B_signature"][2:] and len(pt) == 157

# T_A2 = len ‖ [1, 0x02, E_A] ‖ AESGCM(k_T_A2, 0, header; ID_A ‖ T+1 ‖ K_pubA ‖ sig)
t_a2 = w["T_A2"]
assert int.from_bytes(t_a2[:4], "big") == len(t_a2) - 4 == 208
body2 = t_a2[4:]
assert body2[0] == 1 and body2[1] == 2 and body2[2:35] == comp(ea)
h1 = keccak256(body)
assert h1.hex() == d["keccak_T_B1"]
k_a2 = hkdf(h1, es + ee, "chainmail v1 T_A2 key")
assert k_a2.hex() == d["k_T_A2"]
pt2 = AESGCM(k_a2).decrypt(nonce(0), body2[35:], body2[:35])
assert pt2[:20] == addr(xy(a)) and int.from_bytes(pt2[20:28], "big") == t + 1 and pt2[28:92] == xy(a)

# Session keys and the first two frames (Bob → Alice, counters 0 and 1).
th = keccak256(body + body2)
assert th.hex() == d["transcriptHash"]
i2r = hkdf(th, ss + es + ee, "chainmail v1 session initiator->responder")
r2i = hkdf(th, ss + es + ee, "chainmail v1 session responder->initiator")
assert (i2r.hex(), r2i.hex()) == (d["key_initiator_to_responder"], d["key_responder_to_initiator"])
assert hkdf(b"", i2r, "chainmail v1 rekey").hex() == d["key_initiator_to_responder_after_first_rekey"]
for counter, name, expected in [(0, "confirm", b"\x00"), (1, "firstDataFrame", b"\x01" + i["firstMessage"].encode())]:
    frame = w[name]
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert AESGCM(i2r).decrypt(nonce(counter), frame[4:], frame[:4]) == expected
print("handshake.json agrees with an independent implementation")
