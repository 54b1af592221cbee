//! Suite 1 (P-256) vs suite 2 (X-Wing) HPKE costs, measured in the same run: one seal and one
//! open of a PathSecrets-sized plaintext, and the sealing work of a failover rebuild at N = 1,000.

use std::hint::black_box;

use conclave_core::CipherSuite;
use conclave_core::hpke::{HpkeKeyPair, seal};
use criterion::{Criterion, criterion_group, criterion_main};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const SUITES: [(CipherSuite, &str); 2] = [
    (CipherSuite::P256Sha256ChaCha20Poly1305, "suite1-p256"),
    (CipherSuite::XWingSha256ChaCha20Poly1305, "suite2-xwing"),
];

fn bench(c: &mut Criterion) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let pt = vec![0x5Au8; 420]; // a PathSecrets of a 1,000-member tree: leaf + 10 path keys
    let mut g = c.benchmark_group("hpke");
    for (suite, name) in SUITES {
        let kp = HpkeKeyPair::generate(suite, &mut rng);
        let (enc, ct) = seal(suite, kp.public_key(), b"info", b"aad", &pt, &mut rng).unwrap();
        eprintln!(
            "{name}: public key {} B, enc {} B, sealed entry {} B",
            kp.public_key().len(),
            enc.len(),
            enc.len() + ct.len()
        );
        g.bench_function(format!("{name}/seal"), |b| {
            b.iter(|| {
                seal(
                    suite,
                    kp.public_key(),
                    b"info",
                    b"aad",
                    black_box(&pt),
                    &mut rng,
                )
                .unwrap()
            })
        });
        g.bench_function(format!("{name}/open"), |b| {
            b.iter(|| kp.open(black_box(&enc), b"info", b"aad", &ct).unwrap())
        });
    }
    g.finish();
    let mut g = c.benchmark_group("failover-rebuild-seals-n1000");
    g.sample_size(10);
    for (suite, name) in SUITES {
        let keys: Vec<HpkeKeyPair> = (0..1000)
            .map(|_| HpkeKeyPair::generate(suite, &mut rng))
            .collect();
        g.bench_function(name, |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(seal(suite, k.public_key(), b"info", b"aad", &pt, &mut rng).unwrap());
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
