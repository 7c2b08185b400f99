#!/usr/bin/env python3
"""Regenerates eip712.json: the eight chainmail typed structs signed by
`cast wallet sign --data` (Foundry 1.7.1) with anvil's key #0. The Rust test
`tests/eip712_cast.rs` recomputes every digest and signature and must match
byte for byte (RFC 6979 makes ECDSA deterministic on both sides).

Run from the repository root: python3 crates/core/tests/vectors/gen_eip712.py
"""
import glob, json, os, subprocess, tempfile

CAST = glob.glob("node_modules/@foundry-rs/cast-*/bin/cast")[0]
KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ID = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
PUB = subprocess.check_output([CAST, "wallet", "public-key", "--private-key", KEY], text=True).strip()
PEER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
DOMAIN = {"name": "chainmail", "version": "1", "chainId": 31337,
          "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3"}
DOMAIN_TYPE = [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
               {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}]

def fields(spec):
    return [{"name": n, "type": t} for t, n in (f.split(" ") for f in spec.split(","))]

STRUCTS = [
    ("Certificate", "address id,bytes publicKey,uint64 validUntil,uint64 issuedAt",
     {"id": ID, "publicKey": PUB, "validUntil": 1861920000, "issuedAt": 1764000000}),
    ("Renewal", "address id,uint64 validUntil,uint64 issuedAt",
     {"id": ID, "validUntil": 1893456000, "issuedAt": 1764000300}),
    ("Revocation", "address id,uint64 revokedAt", {"id": ID, "revokedAt": 1764000600}),
    ("Endpoint", "address id,string endpoint,uint64 sequence",
     {"id": ID, "endpoint": "203.0.113.7:7400", "sequence": 1764000000123}),
    ("SessionRequest", "address from,address to,uint64 timestamp,bytes32 ephemeralKeyHash",
     {"from": ID, "to": PEER, "timestamp": 1764000000, "ephemeralKeyHash": "0x" + "11" * 32}),
    ("SessionResponse", "address from,address to,uint64 timestamp,bytes32 ephemeralKeyHash,bytes32 requestHash",
     {"from": ID, "to": PEER, "timestamp": 1764000001, "ephemeralKeyHash": "0x" + "22" * 32,
      "requestHash": "0x" + "33" * 32}),
    ("Message", "address from,address to,bytes16 id,uint64 sentAt,bytes32 bodyHash",
     {"from": ID, "to": PEER, "id": "0x" + "ab" * 16, "sentAt": 1764000002, "bodyHash": "0x" + "cd" * 32}),
    ("MessageBatch", "address from,address to,bytes32 root,uint32 count",
     {"from": ID, "to": PEER, "root": "0x" + "ef" * 32, "count": 3}),
]

out = {"tool": subprocess.check_output([CAST, "--version"], text=True).splitlines()[0],
       "privateKey": KEY, "domain": DOMAIN, "vectors": []}
for name, spec, message in STRUCTS:
    typed = {"types": {"EIP712Domain": DOMAIN_TYPE, name: fields(spec)},
             "primaryType": name, "domain": DOMAIN, "message": message}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(typed, f)
    sig = subprocess.check_output([CAST, "wallet", "sign", "--private-key", KEY, "--data", "--from-file", f.name],
                                  text=True).strip()
    os.unlink(f.name)
    out["vectors"].append({"primaryType": name, "message": message, "signature": sig})
json.dump(out, open(os.path.join(os.path.dirname(__file__), "eip712.json"), "w"), indent=2)
print("wrote", len(out["vectors"]), "vectors")
