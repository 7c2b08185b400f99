//! Fuzzes the receive path of an established session: the input is a byte
//! stream split into records by `check_record` (incrementally, as the node
//! does) and each record opened by Alice's session after a valid confirm.
#![no_main]

mod common;

use chainmail_core::record::{RecordCheck, check_record};
use chainmail_core::{Initiator, MemoryReplayCache, Opened, Responder, Session};
use libfuzzer_sys::fuzz_target;

fn session() -> Session {
    let (alice, bob) = (common::alice(), common::bob());
    let mut rng = common::rng(9);
    let (expect, t_b1) = Initiator::start(
        &bob,
        &common::domain(),
        &alice.public_key(),
        &common::live(),
        common::NOW,
        &mut rng,
    )
    .unwrap();
    let (t_a2, mut a) = Responder::new(&alice, common::domain())
        .read_t_b1(&t_b1, common::NOW)
        .unwrap()
        .accept(&common::live(), &common::live(), &mut MemoryReplayCache::new(0, 4), common::NOW, &mut rng)
        .unwrap();
    let (_b, confirm) = expect.read_t_a2(&t_a2).unwrap();
    assert_eq!(a.open(&confirm, common::NOW), Ok(Opened::Confirmed));
    a
}

fuzz_target!(|data: &[u8]| {
    let mut alice = session();
    let mut buf = Vec::new();
    // Feed the stream in 7-byte pieces to exercise "need more bytes".
    for piece in data.chunks(7) {
        buf.extend_from_slice(piece);
        loop {
            match check_record(&buf) {
                Ok(RecordCheck::Incomplete { needed }) => {
                    assert!(needed > 0);
                    break;
                }
                Ok(RecordCheck::Complete { len }) => {
                    assert!(len <= buf.len());
                    let record: Vec<u8> = buf.drain(..len).collect();
                    let _ = alice.open(&record, common::NOW);
                }
                Err(_) => return,
            }
        }
    }
});
