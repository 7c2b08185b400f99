//! Writes seed corpora for the cargo-fuzz targets in `fuzz/` (valid T_B1,
//! T_A2, frames and `Wire` values made with the same fixed keys and seeds as
//! the targets), so libFuzzer starts from inputs that pass the parsers.
//! Run: `cargo run -p chainmail-core --example fuzz_seeds -- fuzz/corpus`.

use std::path::Path;

use chainmail_core::codec::Codec;
use chainmail_core::eip712::Domain;
use chainmail_core::wire::{Ack, Close, CloseReason, Deliver, Envelope, Wire};
use chainmail_core::{IdStatus, Initiator, MemoryReplayCache, Responder, SecretKey};
use rand::{SeedableRng, rngs::StdRng};

const NOW: u64 = 1_764_000_000;

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("create corpus dir");
    std::fs::write(d.join(name), bytes).expect("write seed");
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus".into());
    let dir = Path::new(&out);
    let alice = SecretKey::from_bytes(&[0xa1; 32]).unwrap();
    let bob = SecretKey::from_bytes(&[0xb0; 32]).unwrap();
    let domain = Domain {
        chain_id: 31337,
        verifying_contract: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
            .parse()
            .unwrap(),
    };
    let live = IdStatus {
        valid_until: NOW + 86_400,
        issued_at: NOW - 86_400,
        revoked_at: 0,
        registered_block: 1,
    };
    // The initiator target starts with StdRng(7): answer that exact T_B1.
    let (expect, t_b1) = Initiator::start(
        &bob,
        &domain,
        &alice.public_key(),
        &live,
        NOW,
        &mut StdRng::seed_from_u64(7),
    )
    .unwrap();
    write(dir, "responder", "t_b1", &t_b1);
    let (t_a2, mut a) = Responder::new(&alice, domain)
        .read_t_b1(&t_b1, NOW)
        .unwrap()
        .accept(
            &live,
            &live,
            &mut MemoryReplayCache::new(0, 4),
            NOW,
            &mut StdRng::seed_from_u64(8),
        )
        .unwrap();
    write(dir, "initiator", "t_a2", &t_a2);
    let (_, confirm) = expect.read_t_a2(&t_a2).unwrap();
    a.open(&confirm, NOW).unwrap();

    let mut rng = StdRng::seed_from_u64(1);
    let envelopes = vec![
        Envelope::new(b"hello".to_vec(), NOW, &mut rng),
        Envelope::new(b"world".to_vec(), NOW, &mut rng),
    ];
    let wires = [
        Wire::Deliver(
            Deliver::sign_each(&bob, &domain, alice.address(), envelopes.clone()).unwrap(),
        ),
        Wire::Deliver(Deliver::sign_batch(&bob, &domain, alice.address(), envelopes).unwrap()),
        Wire::Ack(Ack {
            ids: vec![[1; 16], [2; 16]],
        }),
        Wire::Close(Close {
            reason: CloseReason::PeerRevoked,
        }),
    ];
    for (i, w) in wires.iter().enumerate() {
        write(dir, "codec", &format!("wire{i}"), &w.to_bytes());
    }

    // The frame_decoder target's session comes from StdRng(9): rebuild it
    // and seal a stream of frames (confirm already consumed there).
    let mut rng = StdRng::seed_from_u64(9);
    let (expect, t_b1) =
        Initiator::start(&bob, &domain, &alice.public_key(), &live, NOW, &mut rng).unwrap();
    let (t_a2, _) = Responder::new(&alice, domain)
        .read_t_b1(&t_b1, NOW)
        .unwrap()
        .accept(
            &live,
            &live,
            &mut MemoryReplayCache::new(0, 4),
            NOW,
            &mut rng,
        )
        .unwrap();
    let (mut b, _confirm) = expect.read_t_a2(&t_a2).unwrap();
    let mut stream = Vec::new();
    for w in &wires {
        b.seal(&w.to_bytes(), NOW, &mut stream).unwrap();
    }
    write(dir, "frame_decoder", "stream", &stream);
    println!("seeds written under {}", dir.display());
}
