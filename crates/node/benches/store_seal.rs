//! What sealing the store at rest costs: committing a `Deliver`'s worth of
//! received messages (64 × 1 KiB, one transaction, fsynced) and reading them
//! back, into a store in clear and into a sealed one.
// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use chainmail_core::{Address, SecretKey};
use chainmail_node::seal::StoreKey;
use chainmail_node::store::{ReceivedMessage, ReceivedProof, Store};
use criterion::{Criterion, criterion_group, criterion_main};

fn messages(round: u64) -> Vec<ReceivedMessage> {
    let signature = SecretKey::from_bytes(&[1; 32])
        .unwrap()
        .sign_digest(&[2; 32]);
    (0..64u64)
        .map(|i| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&round.to_be_bytes());
            id[8..].copy_from_slice(&i.to_be_bytes());
            ReceivedMessage {
                message_id: id,
                from: Address([7; 20]),
                to: Address([8; 20]),
                sent_at: 1,
                body: "x".repeat(1024),
                proof: ReceivedProof::Single { signature },
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let secret = SecretKey::from_bytes(&[9; 32]).unwrap();
    let stores = [
        ("clear", Store::open(&dir.path().join("clear.db")).unwrap()),
        (
            "sealed",
            Store::open_sealed(&dir.path().join("sealed.db"), StoreKey::derive(&secret)).unwrap(),
        ),
    ];
    let mut g = c.benchmark_group("store_seal");
    g.sample_size(20);
    let key = StoreKey::derive(&secret);
    let body = vec![b'x'; 1024];
    g.bench_function("seal_1KiB", |b| {
        b.iter(|| key.seal("inbox", &[1; 36], &body).unwrap())
    });
    for (name, store) in &stores {
        let mut round = 0u64;
        g.bench_function(format!("commit_64x1KiB_{name}"), |b| {
            b.iter(|| {
                round += 1;
                store.store_received_all(&messages(round), 1).unwrap()
            })
        });
        g.bench_function(format!("read_64_{name}"), |b| {
            b.iter(|| store.inbox_after(0, 64).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
