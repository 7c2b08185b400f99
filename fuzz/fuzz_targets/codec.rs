//! Fuzzes the application codec: any bytes either fail to decode with a
//! named error or decode to a value whose encoding is exactly those bytes
//! (one canonical encoding), never panic or over-allocate.
#![no_main]

use chainmail_core::codec::Codec;
use chainmail_core::wire::Wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(wire) = Wire::decode(data) {
        assert_eq!(wire.to_bytes(), data, "decoding is not canonical");
    }
});
