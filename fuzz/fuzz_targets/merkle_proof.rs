//! Merkle multiproofs from a hostile relay (`merkle::compute_root`), and the prover's promise
//! (`merkle::prove`): arbitrary (n, entries, proof) never panic; a proof from `prove` always
//! yields the root; the root from a proof is only the true root when the entries are true;
//! and tampering with a valid proof or entry (if it still computes a root) changes the root.
#![no_main]

use arbitrary::Arbitrary;
use conclave_core::merkle::{self, MAX_MERKLE_LEAVES, MerkleError};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    /// Raw: list length (any usize, including huge) and hostile entries and proof.
    n: u32,
    entries: Vec<(u32, [u8; 32])>,
    proof: Vec<[u8; 32]>,
    /// Honest: list length (bounded), which entries to prove, and a tweak to apply.
    honest_n: u16,
    mask: Vec<u8>,
    tweak: Tweak,
}

#[derive(Arbitrary, Debug)]
enum Tweak {
    None,
    DropProofHash(u16),
    FlipProofBit(u16, u8),
    FlipEntryBit(u16, u8),
    ShiftIndex(u16),
    ChangeN(u16),
    AddProofHash([u8; 32]),
}

fn leaf(i: usize) -> [u8; 32] {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&(i as u64).to_le_bytes());
    h[8] = 0x5a;
    h
}

fuzz_target!(|input: Input| {
    // 1. Hostile input. n above MAX_MERKLE_LEAVES is also tried with its full u32 range and
    // (on 64-bit) shifted to exercise usize arithmetic.
    let entries: Vec<(usize, [u8; 32])> = input
        .entries
        .iter()
        .take(64)
        .map(|(i, h)| (*i as usize, *h))
        .collect();
    let proof = &input.proof[..input.proof.len().min(64)];
    for n in [
        input.n as usize,
        (input.n as usize) << 32 | 0xffff,
        usize::MAX - input.n as usize,
    ] {
        let r = merkle::compute_root(n, &entries, proof);
        if n > MAX_MERKLE_LEAVES {
            assert!(matches!(r, Err(MerkleError::TooLong { .. })), "{r:?}");
        }
    }

    // 2. Honest prover and verifier over a list of up to 600 leaves.
    let n = usize::from(input.honest_n) % 600;
    let leaves: Vec<[u8; 32]> = (0..n).map(leaf).collect();
    let root = merkle::root(&leaves);
    let idx: Vec<usize> = (0..n)
        .filter(|i| {
            input
                .mask
                .get(i / 8)
                .is_some_and(|b| b & (1 << (i % 8)) != 0)
        })
        .collect();
    let proof = merkle::prove(&leaves, &idx).expect("prove accepts ascending in-range indices");
    let mut entries: Vec<(usize, [u8; 32])> = idx.iter().map(|&i| (i, leaves[i])).collect();
    let got = merkle::compute_root(n, &entries, &proof);
    if idx.is_empty() {
        assert!(n == 0 || got.is_err());
        if n == 0 {
            assert_eq!(got, Ok(root));
        }
        return;
    }
    assert_eq!(
        got,
        Ok(root),
        "honest proof must verify (n {n}, idx {idx:?})"
    );
    let depth = n.next_power_of_two().trailing_zeros() as usize;
    assert!(proof.len() <= depth * idx.len());

    // 3. A tampered proof or entry never yields the true root.
    let mut proof = proof;
    let mut n2 = n;
    let changed = match input.tweak {
        Tweak::None => false,
        Tweak::DropProofHash(i) => {
            if proof.is_empty() {
                false
            } else {
                proof.remove(usize::from(i) % proof.len());
                true
            }
        }
        Tweak::FlipProofBit(i, b) => {
            if proof.is_empty() {
                false
            } else {
                let k = usize::from(i) % proof.len();
                proof[k][usize::from(b / 8) % 32] ^= 1 << (b % 8);
                true
            }
        }
        Tweak::FlipEntryBit(i, b) => {
            let k = usize::from(i) % entries.len();
            entries[k].1[usize::from(b / 8) % 32] ^= 1 << (b % 8);
            true
        }
        Tweak::ShiftIndex(d) => {
            let k = usize::from(d) % entries.len();
            let new = entries[k].0 + 1 + usize::from(d) % 7;
            // Moving an entry to another position must not keep the root (leaves are distinct).
            entries[k].0 = new;
            true
        }
        Tweak::ChangeN(m) => {
            // The root does not bind n on its own (a proof for n = 4 can also verify for
            // n = 3): the signed messages carry the count. Only check that nothing panics.
            n2 = usize::from(m) % 700;
            let _ = merkle::compute_root(n2, &entries, &proof);
            return;
        }
        Tweak::AddProofHash(h) => {
            proof.push(h);
            true
        }
    };
    let r = merkle::compute_root(n2, &entries, &proof);
    if changed {
        assert_ne!(
            r,
            Ok(root),
            "tweak {:?} still yields the true root",
            input.tweak
        );
    } else {
        assert_eq!(r, Ok(root));
    }
});
