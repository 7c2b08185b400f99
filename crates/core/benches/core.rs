//! criterion benchmarks of the protocol core's costs: the curve operations,
//! each side of a full handshake, and frame seal/open at 64 B, 1 KiB, 16 KiB.
//! Run: `cargo bench -p chainmail-core --bench core`.

// criterion_group! generates undocumented public functions.
#![allow(missing_docs)]

use std::hint::black_box;

use chainmail_core::eip712::Domain;
use chainmail_core::{
    Address, IdStatus, Initiator, MemoryReplayCache, Opened, OpenedInPlace, Responder, SecretKey,
    Session, StaticShared,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rand::{SeedableRng, rngs::StdRng};

const NOW: u64 = 1_764_000_000;

fn domain() -> Domain {
    Domain {
        chain_id: 31337,
        verifying_contract: Address([0x5f; 20]),
    }
}

fn live() -> IdStatus {
    IdStatus {
        valid_until: NOW + 86_400,
        issued_at: NOW - 86_400,
        revoked_at: 0,
        registered_block: 1,
    }
}

fn curve(c: &mut Criterion) {
    let key = SecretKey::from_bytes(&[0x11; 32]).unwrap();
    let peer = SecretKey::from_bytes(&[0x22; 32]).unwrap().public_key();
    let digest = [0x33u8; 32];
    let sig = key.sign_digest(&digest);
    let public = key.public_key();
    c.bench_function("sign", |b| b.iter(|| key.sign_digest(black_box(&digest))));
    c.bench_function("verify", |b| {
        b.iter(|| sig.verify(black_box(&digest), &public).unwrap())
    });
    c.bench_function("recover", |b| {
        b.iter(|| sig.recover(black_box(&digest)).unwrap())
    });
    c.bench_function("ecdh", |b| b.iter(|| key.diffie_hellman(black_box(&peer))));
    let mut rng = StdRng::seed_from_u64(1);
    c.bench_function("ephemeral_keygen", |b| {
        b.iter(|| SecretKey::generate(&mut rng))
    });
}

fn handshake(c: &mut Criterion) {
    let alice = SecretKey::from_bytes(&[0xa1; 32]).unwrap();
    let bob = SecretKey::from_bytes(&[0xb0; 32]).unwrap();
    let d = domain();
    let mut rng = StdRng::seed_from_u64(2);
    // iter_batched's setup and routine are separate closures: one RNG each.
    let mut setup_rng = StdRng::seed_from_u64(20);
    let ss_alice = StaticShared::compute(&alice, &bob.public_key());
    let ss_bob = StaticShared::compute(&bob, &alice.public_key());

    c.bench_function("handshake/initiator_start (T_B1)", |b| {
        b.iter(|| Initiator::start(&bob, &d, &alice.public_key(), &live(), NOW, &mut rng).unwrap())
    });
    c.bench_function("handshake/initiator_start_with_ss", |b| {
        b.iter(|| {
            Initiator::start_with_ss(
                &bob,
                &ss_bob,
                &d,
                &alice.public_key(),
                &live(),
                NOW,
                &mut rng,
            )
            .unwrap()
        })
    });

    let responder = Responder::new(&alice, d);
    let mut cache = MemoryReplayCache::new(0, usize::MAX);
    c.bench_function(
        "handshake/responder_full (read T_B1 + accept → T_A2)",
        |b| {
            b.iter_batched(
                || {
                    Initiator::start(&bob, &d, &alice.public_key(), &live(), NOW, &mut setup_rng)
                        .unwrap()
                        .1
                },
                |t_b1| {
                    responder
                        .read_t_b1(&t_b1, NOW)
                        .unwrap()
                        .accept(&live(), &live(), &mut cache, NOW, &mut rng)
                        .unwrap()
                },
                BatchSize::SmallInput,
            )
        },
    );
    c.bench_function("handshake/responder_full_with_ss_cached", |b| {
        b.iter_batched(
            || {
                Initiator::start(&bob, &d, &alice.public_key(), &live(), NOW, &mut setup_rng)
                    .unwrap()
                    .1
            },
            |t_b1| {
                responder
                    .read_t_b1(&t_b1, NOW)
                    .unwrap()
                    .accept_with_ss(&ss_alice, &live(), &live(), &mut cache, NOW, &mut rng)
                    .unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    c.bench_function(
        "handshake/responder_reject_bad_signature_path (read only)",
        |b| {
            b.iter_batched(
                || {
                    Initiator::start(&bob, &d, &alice.public_key(), &live(), NOW, &mut setup_rng)
                        .unwrap()
                        .1
                },
                |t_b1| responder.read_t_b1(&t_b1, NOW).unwrap(),
                BatchSize::SmallInput,
            )
        },
    );
    c.bench_function("handshake/initiator_finish (read T_A2)", |b| {
        b.iter_batched(
            || {
                let (expect, t_b1) =
                    Initiator::start(&bob, &d, &alice.public_key(), &live(), NOW, &mut setup_rng)
                        .unwrap();
                let (t_a2, _) = responder
                    .read_t_b1(&t_b1, NOW)
                    .unwrap()
                    .accept(&live(), &live(), &mut cache, NOW, &mut setup_rng)
                    .unwrap();
                (expect, t_a2)
            },
            |(expect, t_a2)| expect.read_t_a2(&t_a2).unwrap(),
            BatchSize::SmallInput,
        )
    });
}

fn pair() -> (Session, Session) {
    let alice = SecretKey::from_bytes(&[0xa1; 32]).unwrap();
    let bob = SecretKey::from_bytes(&[0xb0; 32]).unwrap();
    let mut rng = StdRng::seed_from_u64(3);
    let (expect, t_b1) =
        Initiator::start(&bob, &domain(), &alice.public_key(), &live(), NOW, &mut rng).unwrap();
    let (t_a2, mut a) = Responder::new(&alice, domain())
        .read_t_b1(&t_b1, NOW)
        .unwrap()
        .accept(
            &live(),
            &live(),
            &mut MemoryReplayCache::new(0, 10),
            NOW,
            &mut rng,
        )
        .unwrap();
    let (b, confirm) = expect.read_t_a2(&t_a2).unwrap();
    assert_eq!(a.open(&confirm, NOW), Ok(Opened::Confirmed));
    (b, a)
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("frame");
    for size in [64usize, 1024, 16 * 1024] {
        let payload = vec![0x42u8; size];
        group.throughput(Throughput::Bytes(size as u64));
        let (mut bob, _) = pair();
        let mut out = Vec::with_capacity(size + 64);
        group.bench_function(format!("seal/{size}"), |b| {
            b.iter(|| {
                out.clear();
                bob.seal(black_box(&payload), NOW, &mut out).unwrap();
            })
        });
        // Open needs frames in counter order: seal them in order in the
        // (untimed) setup of each batch, then open them in order.
        let (mut sender, mut receiver) = pair();
        group.bench_function(format!("open/{size}"), |b| {
            b.iter_batched(
                || {
                    let mut f = Vec::with_capacity(size + 64);
                    sender.seal(&payload, NOW, &mut f).unwrap();
                    f
                },
                |f| receiver.open(&f, NOW).unwrap(),
                BatchSize::SmallInput,
            )
        });
        // The same, decrypting in the record's own buffer (no copy).
        let (mut sender, mut receiver) = pair();
        group.bench_function(format!("open_in_place/{size}"), |b| {
            b.iter_batched(
                || {
                    let mut f = Vec::with_capacity(size + 64);
                    sender.seal(&payload, NOW, &mut f).unwrap();
                    f
                },
                |mut f| {
                    let n = match receiver.open_in_place(&mut f, NOW).unwrap() {
                        OpenedInPlace::Data(p) => p.len(),
                        OpenedInPlace::Confirmed => unreachable!("data frames only"),
                    };
                    (f, n)
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, curve, handshake, frames);
criterion_main!(benches);
