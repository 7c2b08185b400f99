#!/usr/bin/env bash
# Proves the core's EIP-712 digests against the real compiled IdentityRegistry:
# a real anvil (genesis time = the vector's T), the committed artifact deployed
# by anvil's account #0 (so it lands at 0x5FbDB…0aa3, the vectors' contract).
# Checks: the contract's DOMAIN_SEPARATOR() equals handshake.json's
# (computed by chainmail-core), and the contract's verifySession accepts the
# SessionRequest signature T_B that chainmail-core produced in handshake.json,
# once both vector identities are registered. Exits non-zero on any mismatch;
# anvil is always stopped.
#
# Usage (repo root): crates/core/tests/vectors/check_contract.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../../.." && pwd)
vec="$root/crates/core/tests/vectors/handshake.json"
artifact="$root/crates/chain/contracts/IdentityRegistry.json"
anvil=$("$root/scripts/foundry-bin" anvil)
cast=$("$root/scripts/foundry-bin" cast)
die() { echo "check_contract: FAIL: $*" >&2; exit 1; }
j() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

tmp=$(mktemp -d)
anvil_pid=""
cleanup() {
  if [ -n "$anvil_pid" ]; then kill "$anvil_pid" 2>/dev/null || true; wait "$anvil_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

t=$(j "$vec" 'j["inputs"]["timestamp"]')
"$anvil" --host 127.0.0.1 --port 0 --timestamp "$t" >"$tmp/anvil.log" 2>&1 &
anvil_pid=$!
port=""
for _ in $(seq 1 300); do
  port=$(sed -n 's/^Listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$tmp/anvil.log")
  [ -n "$port" ] && break
  kill -0 "$anvil_pid" 2>/dev/null || die "anvil exited: $(cat "$tmp/anvil.log")"
  sleep 0.1
done
[ -n "$port" ] || die "anvil did not start"
export ETH_RPC_URL="http://127.0.0.1:$port"

deployer=0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80
"$cast" send --private-key "$deployer" --json --create "$(j "$artifact" 'j["bytecode"]["object"]')" >"$tmp/deploy.json"
registry=$(j "$tmp/deploy.json" 'j["contractAddress"]')
want_registry=$(j "$vec" 'j["inputs"]["domain"]["verifyingContract"]')
[ "${registry,,}" = "${want_registry,,}" ] || die "deployed at $registry, vectors use $want_registry"

sep=$("$cast" call "$registry" "DOMAIN_SEPARATOR()(bytes32)")
[ "$sep" = "0x$(j "$vec" 'j["derived"]["domainSeparator"]')" ] || die "domain separator: contract $sep"
echo "DOMAIN_SEPARATOR matches chainmail-core: $sep"

# Register both vector identities (certificates signed by cast, which signs
# byte-identically to chainmail-core: tests/eip712_cast.rs).
register() {
  local key=$1 id pub
  id=$("$cast" wallet address --private-key "$key")
  pub=$("$cast" wallet public-key --private-key "$key")
  python3 - "$tmp/cert.json" "$id" "$pub" "$t" "$registry" <<'PY'
import json, sys
out, id_, pub, t, registry = sys.argv[1:]
json.dump({"types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
           {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
           "Certificate": [{"name": "id", "type": "address"}, {"name": "publicKey", "type": "bytes"},
           {"name": "validUntil", "type": "uint64"}, {"name": "issuedAt", "type": "uint64"}]},
           "primaryType": "Certificate",
           "domain": {"name": "chainmail", "version": "1", "chainId": 31337, "verifyingContract": registry},
           "message": {"id": id_, "publicKey": pub, "validUntil": int(t) + 86400 * 365, "issuedAt": int(t)}},
          open(out, "w"))
PY
  local sig
  sig=$("$cast" wallet sign --private-key "$key" --data --from-file "$tmp/cert.json")
  "$cast" send --private-key "$deployer" --json "$registry" "register(bytes,uint64,uint64,bytes)" \
    "$pub" "$((t + 86400 * 365))" "$t" "$sig" >"$tmp/reg.json"
  [ "$(j "$tmp/reg.json" 'int(j["status"], 16)')" = 1 ] || die "register $id failed"
}
register "0x$(j "$vec" 'j["inputs"]["aliceSecretKey"]')"
register "0x$(j "$vec" 'j["inputs"]["bobSecretKey"]')"

ok=$("$cast" call "$registry" "verifySession(address,address,uint64,bytes32,bytes)(bool)" \
  "$(j "$vec" 'j["derived"]["bobId"]')" "$(j "$vec" 'j["derived"]["aliceId"]')" "$t" \
  "0x$(j "$vec" 'j["derived"]["T_B_ephemeralKeyHash"]')" "$(j "$vec" 'j["derived"]["T_B_signature"]')")
[ "$ok" = true ] || die "verifySession returned $ok"
echo "verifySession accepts chainmail-core's T_B from handshake.json"

# And a T_B with one flipped signature bit is refused.
bad=$(python3 -c 'import sys; s=bytearray.fromhex(sys.argv[1][2:]); s[5]^=1; print("0x"+s.hex())' "$(j "$vec" 'j["derived"]["T_B_signature"]')")
if "$cast" call "$registry" "verifySession(address,address,uint64,bytes32,bytes)(bool)" \
  "$(j "$vec" 'j["derived"]["bobId"]')" "$(j "$vec" 'j["derived"]["aliceId"]')" "$t" \
  "0x$(j "$vec" 'j["derived"]["T_B_ephemeralKeyHash"]')" "$bad" >/dev/null 2>&1; then
  die "verifySession accepted a corrupted signature"
fi
echo "check_contract: OK"
