//! Merkle commitments with multiproofs (`spec/key-schedule.md` section 10).
//!
//! A commit or heartbeat signs the root of a list; a relay may hand each member only the entries
//! it needs together with a multiproof, so a member verifies the leader's signature with
//! O(log N) extra data.

use crate::schedule::{labeled_hash, labels};

/// Why a Merkle proof was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerkleError {
    /// An entry index is not below the list length.
    #[error("entry index {index} is outside a list of {len}")]
    IndexOutOfRange {
        /// The index.
        index: usize,
        /// The list length.
        len: usize,
    },
    /// Entry indices are not strictly ascending.
    #[error("entry indices are not strictly ascending")]
    Unordered,
    /// The proof has too few hashes.
    #[error("Merkle proof is missing hashes")]
    ProofTooShort,
    /// The proof has hashes left over.
    #[error("Merkle proof has {0} unused hashes")]
    ProofTooLong(usize),
    /// The list is longer than the protocol allows.
    #[error("list of {len} entries exceeds the limit of {max}")]
    TooLong {
        /// The length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Longest list a Merkle commitment may cover.
pub const MAX_MERKLE_LEAVES: usize = 1 << 16;

/// The padding leaf hash `Empty`.
pub fn empty() -> [u8; 32] {
    labeled_hash(labels::MERKLE_EMPTY, &[])
}

/// `Node(l, r)`.
pub fn node(l: &[u8; 32], r: &[u8; 32]) -> [u8; 32] {
    let mut c = [0u8; 64];
    c[..32].copy_from_slice(l);
    c[32..].copy_from_slice(r);
    labeled_hash(labels::MERKLE_NODE, &c)
}

fn width(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// Hashes of all-padding subtrees, by level.
fn empty_levels(levels: usize) -> Vec<[u8; 32]> {
    let mut out = Vec::with_capacity(levels + 1);
    let mut h = empty();
    out.push(h);
    for _ in 0..levels {
        h = node(&h, &h);
        out.push(h);
    }
    out
}

/// The root over a full list of leaf hashes.
pub fn root(leaves: &[[u8; 32]]) -> [u8; 32] {
    let p = width(leaves.len());
    let mut level: Vec<[u8; 32]> = leaves.to_vec();
    level.resize(p, empty());
    while level.len() > 1 {
        level = level.chunks_exact(2).map(|c| node(&c[0], &c[1])).collect();
    }
    level.first().copied().unwrap_or_else(empty)
}

/// The multiproof for the entries at `indices` (strictly ascending) of `leaves`.
pub fn prove(leaves: &[[u8; 32]], indices: &[usize]) -> Result<Vec<[u8; 32]>, MerkleError> {
    check_indices(leaves.len(), indices)?;
    let n = leaves.len();
    let p = width(n);
    let mut level: Vec<[u8; 32]> = leaves.to_vec();
    level.resize(p, empty());
    let mut known: Vec<usize> = indices.to_vec();
    let mut proof = Vec::new();
    let mut depth = 0u32;
    while level.len() > 1 {
        for (pos, &j) in known.iter().enumerate() {
            let sib = j ^ 1;
            let sib_known = if sib > j {
                known.get(pos + 1) == Some(&sib)
            } else {
                pos > 0 && known.get(pos - 1) == Some(&sib)
            };
            if !sib_known
                && !is_padding(sib, depth, n)
                && let Some(h) = level.get(sib)
            {
                proof.push(*h);
            }
        }
        known = parents(&known);
        level = level.chunks_exact(2).map(|c| node(&c[0], &c[1])).collect();
        depth += 1;
    }
    Ok(proof)
}

/// Whether node `j` at level `depth` covers only padding leaves of a list of `n`.
fn is_padding(j: usize, depth: u32, n: usize) -> bool {
    j.checked_shl(depth).is_none_or(|first| first >= n)
}

fn parents(known: &[usize]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(known.len());
    for &j in known {
        let p = j >> 1;
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    out
}

fn check_indices(n: usize, indices: &[usize]) -> Result<(), MerkleError> {
    if n > MAX_MERKLE_LEAVES {
        return Err(MerkleError::TooLong {
            len: n,
            max: MAX_MERKLE_LEAVES,
        });
    }
    for w in indices.windows(2) {
        if let [a, b] = w
            && a >= b
        {
            return Err(MerkleError::Unordered);
        }
    }
    if let Some(&last) = indices.last()
        && last >= n
    {
        return Err(MerkleError::IndexOutOfRange {
            index: last,
            len: n,
        });
    }
    Ok(())
}

/// Computes the root implied by `entries` (index, leaf hash; strictly ascending indices) of a
/// list of `n` and the multiproof `proof`. The caller compares it with the signed root.
pub fn compute_root(
    n: usize,
    entries: &[(usize, [u8; 32])],
    proof: &[[u8; 32]],
) -> Result<[u8; 32], MerkleError> {
    let indices: Vec<usize> = entries.iter().map(|(i, _)| *i).collect();
    check_indices(n, &indices)?;
    let p = width(n);
    let levels = p.trailing_zeros() as usize;
    let empties = empty_levels(levels);
    let mut known: Vec<(usize, [u8; 32])> = entries.to_vec();
    let mut proof_iter = proof.iter();
    let mut depth = 0u32;
    let mut size = p;
    while size > 1 {
        let empty_here = empties.get(depth as usize).copied().unwrap_or_else(empty);
        let mut next: Vec<(usize, [u8; 32])> = Vec::with_capacity(known.len());
        let mut pos = 0;
        while let Some(&(j, h)) = known.get(pos) {
            let (left, right, consumed) = if j % 2 == 0 {
                match known.get(pos + 1) {
                    Some(&(k, hk)) if k == j + 1 => (h, hk, 2),
                    _ => {
                        let sib = take_sibling(j + 1, depth, n, empty_here, &mut proof_iter)?;
                        (h, sib, 1)
                    }
                }
            } else {
                let sib = take_sibling(j - 1, depth, n, empty_here, &mut proof_iter)?;
                (sib, h, 1)
            };
            next.push((j >> 1, node(&left, &right)));
            pos += consumed;
        }
        known = next;
        size /= 2;
        depth += 1;
    }
    let leftover = proof_iter.count();
    if leftover > 0 {
        return Err(MerkleError::ProofTooLong(leftover));
    }
    match known.first() {
        Some(&(_, h)) => Ok(h),
        // No entries received: the root is only known if the proof was the root itself; we
        // require at least one entry or an empty list.
        None if n == 0 => Ok(empties.first().copied().unwrap_or_else(empty)),
        None => Err(MerkleError::ProofTooShort),
    }
}

fn take_sibling<'a>(
    sib: usize,
    depth: u32,
    n: usize,
    empty_here: [u8; 32],
    proof: &mut impl Iterator<Item = &'a [u8; 32]>,
) -> Result<[u8; 32], MerkleError> {
    if is_padding(sib, depth, n) {
        Ok(empty_here)
    } else {
        proof.next().copied().ok_or(MerkleError::ProofTooShort)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: usize) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| labeled_hash("test", &(i as u64).to_be_bytes()))
            .collect()
    }

    #[test]
    fn empty_and_single() {
        assert_eq!(root(&[]), empty());
        let l = leaves(1);
        assert_eq!(root(&l), l[0]);
        assert_eq!(compute_root(1, &[(0, l[0])], &[]).unwrap(), l[0]);
        assert_eq!(compute_root(0, &[], &[]).unwrap(), empty());
    }

    #[test]
    fn full_list_needs_no_proof() {
        for n in 1..20 {
            let l = leaves(n);
            let all: Vec<usize> = (0..n).collect();
            assert!(prove(&l, &all).unwrap().is_empty(), "n={n}");
            let entries: Vec<_> = all.iter().map(|&i| (i, l[i])).collect();
            assert_eq!(compute_root(n, &entries, &[]).unwrap(), root(&l));
        }
    }

    #[test]
    fn rejects_bad_proofs() {
        let l = leaves(10);
        let proof = prove(&l, &[3]).unwrap();
        let r = root(&l);
        assert_eq!(compute_root(10, &[(3, l[3])], &proof).unwrap(), r);
        assert_ne!(compute_root(10, &[(3, l[4])], &proof).unwrap(), r);
        assert_ne!(compute_root(10, &[(4, l[3])], &proof).ok(), Some(r));
        assert_eq!(
            compute_root(10, &[(3, l[3])], &proof[1..]),
            Err(MerkleError::ProofTooShort)
        );
        let mut long = proof.clone();
        long.push([0u8; 32]);
        assert_eq!(
            compute_root(10, &[(3, l[3])], &long),
            Err(MerkleError::ProofTooLong(1))
        );
        assert_eq!(
            compute_root(10, &[(11, l[3])], &proof),
            Err(MerkleError::IndexOutOfRange { index: 11, len: 10 })
        );
        assert_eq!(
            compute_root(10, &[(3, l[3]), (3, l[3])], &proof),
            Err(MerkleError::Unordered)
        );
    }

    proptest! {
        #[test]
        fn any_subset_proves_the_root(n in 1usize..80, mask in proptest::collection::vec(any::<bool>(), 80)) {
            let l = leaves(n);
            let idx: Vec<usize> = (0..n).filter(|&i| mask[i]).collect();
            let proof = prove(&l, &idx).unwrap();
            let entries: Vec<_> = idx.iter().map(|&i| (i, l[i])).collect();
            if idx.is_empty() {
                prop_assert!(compute_root(n, &entries, &proof).is_err() || n == 0);
            } else {
                prop_assert_eq!(compute_root(n, &entries, &proof).unwrap(), root(&l));
                // A proof never holds more hashes than log2 width times the entries.
                let depth = n.next_power_of_two().trailing_zeros() as usize;
                prop_assert!(proof.len() <= depth * idx.len());
            }
        }
    }
}
