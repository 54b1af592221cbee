//! The Merkle leaves of `spec/key-schedule.md` section 10 and the one check of a partial
//! Merkle proof shared by commits (COM-6) and heartbeats (HB-6).

use super::{MeetingError, wire};
use crate::merkle;
use crate::schedule::{labeled_hash, labels, put_vec};

/// `UpdateLeaf(u)` of `spec/key-schedule.md` section 10.
pub fn update_leaf(node: u32, child: u32, ciphertext: &[u8]) -> [u8; 32] {
    let mut c = Vec::with_capacity(12 + ciphertext.len());
    c.extend_from_slice(&node.to_be_bytes());
    c.extend_from_slice(&child.to_be_bytes());
    put_vec(&mut c, ciphertext);
    labeled_hash(labels::UPDATE_LEAF, &c)
}

/// `EchoLeaf(x)` of `spec/key-schedule.md` section 10.
pub fn echo_leaf(leaf: u32, nonce: &[u8]) -> [u8; 32] {
    let mut c = Vec::with_capacity(8 + nonce.len());
    c.extend_from_slice(&leaf.to_be_bytes());
    put_vec(&mut c, nonce);
    labeled_hash(labels::ECHO_LEAF, &c)
}

/// Checks a partial Merkle proof (COM-6 step 4, HB-6): the `entries` (index, leaf hash) of a
/// tree of `count` leaves, with the `proof` hashes, must reproduce `root`. An empty tree has the
/// empty root. When no entry was delivered, the proof alone is checked only if `always` (a commit
/// must prove its update count; a heartbeat without our echo proves nothing to us).
pub(super) fn check_partial_root(
    message: &'static str,
    epoch: u64,
    count: usize,
    entries: &[(usize, [u8; 32])],
    proof: &[Vec<u8>],
    root: &[u8; 32],
    always: bool,
) -> Result<(), MeetingError> {
    let mut hashes = Vec::with_capacity(proof.len());
    for p in proof {
        hashes.push(wire::hash32(message, "proof hash", p)?);
    }
    if count == 0 && entries.is_empty() {
        if *root != merkle::root(&[]) {
            return Err(MeetingError::RootMismatch { message, epoch });
        }
        return Ok(());
    }
    if entries.is_empty() && !always {
        return Ok(());
    }
    let computed =
        merkle::compute_root(count, entries, &hashes).map_err(|source| MeetingError::BadProof {
            message,
            epoch,
            source,
        })?;
    if computed != *root {
        return Err(MeetingError::RootMismatch { message, epoch });
    }
    Ok(())
}
