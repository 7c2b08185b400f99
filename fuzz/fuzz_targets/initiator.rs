//! Fuzzes Bob's side: arbitrary bytes as the T_A2 answering a fixed T_B1
//! (deterministic E_B, so the seed corpus's valid T_A2 stays valid).
#![no_main]

mod common;

use chainmail_core::Initiator;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (alice, bob) = (common::alice(), common::bob());
    let (expect, _t_b1) = Initiator::start(
        &bob,
        &common::domain(),
        &alice.public_key(),
        &common::live(),
        common::NOW,
        &mut common::rng(7),
    )
    .expect("fixed handshake starts");
    if let Ok((mut session, _confirm)) = expect.read_t_a2(data) {
        let mut out = Vec::new();
        session.seal(b"ok", common::NOW, &mut out).expect("fresh session seals");
    }
});
