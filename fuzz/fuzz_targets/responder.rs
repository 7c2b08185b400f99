//! Fuzzes Alice's side: arbitrary bytes as a T_B1 record (the seed corpus
//! holds a valid one), through every check and, if they pass, `accept`.
#![no_main]

mod common;

use chainmail_core::record::{RecordCheck, check_record};
use chainmail_core::{MemoryReplayCache, Responder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = check_record(data);
    let alice = common::alice();
    let responder = Responder::new(&alice, common::domain());
    if let Ok(pending) = responder.read_t_b1(data, common::NOW) {
        // Passing the local checks means the record is a complete one.
        assert!(matches!(check_record(data), Ok(RecordCheck::Complete { len }) if len == data.len()));
        let mut cache = MemoryReplayCache::new(0, 16);
        let _ = pending.accept(
            &common::live(),
            &common::live(),
            &mut cache,
            common::NOW,
            &mut common::rng(1),
        );
    }
});
