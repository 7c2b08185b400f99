#!/bin/sh
# Writes the seed corpora (valid handshake messages, frames, Wire values).
set -e
cd "$(dirname "$0")/.."
cargo run -q -p chainmail-core --example fuzz_seeds -- fuzz/corpus
