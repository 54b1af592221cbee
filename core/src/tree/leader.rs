//! The leader's tree: every node key (`spec/tree.md` section 6).

use std::collections::{BTreeMap, BTreeSet};

use super::{
    NodeKey, Occupancy, Plan, TreeError, derive_node, direct_path, grow, leaf_node, leaf_span,
    node_count, ratchet, root, wrap,
};
use crate::Secret;

/// The leader's full tree of node keys.
#[derive(Clone)]
pub struct LeaderTree {
    occupancy: Occupancy,
    keys: BTreeMap<u32, NodeKey>,
}

impl core::fmt::Debug for LeaderTree {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LeaderTree")
            .field("occupancy", &self.occupancy)
            .finish_non_exhaustive()
    }
}

/// Node updates produced by the leader for a commit: `(node, child, ciphertext)`, sorted.
pub type Updates = Vec<(u32, u32, Vec<u8>)>;

impl LeaderTree {
    /// A fresh tree with the creator at leaf 0 and a random leaf key.
    pub fn create<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self {
            occupancy: Occupancy::new_with_creator(),
            keys: BTreeMap::from([(0, Secret::random(rng))]),
        }
    }

    /// Rebuilds a tree with fresh keys for every occupied leaf and live parent (failover).
    pub fn rebuild<R: rand_core::CryptoRng + ?Sized>(occupancy: Occupancy, rng: &mut R) -> Self {
        let mut keys = BTreeMap::new();
        for x in 0..node_count(occupancy.width()) {
            let (a, b) = leaf_span(x);
            if occupancy.any_in(a, b) {
                keys.insert(x, Secret::random(rng));
            }
        }
        Self { occupancy, keys }
    }

    /// The current occupancy.
    pub fn occupancy(&self) -> &Occupancy {
        &self.occupancy
    }

    /// The root key.
    pub fn root_key(&self) -> Result<&NodeKey, TreeError> {
        let r = root(self.occupancy.width());
        self.keys.get(&r).ok_or(TreeError::MissingKey(r))
    }

    /// Applies a plan: removes, grows, ratchets, refreshes; returns the sorted node updates.
    pub fn apply<R: rand_core::CryptoRng + ?Sized>(
        &mut self,
        plan: &Plan,
        meeting_id: &[u8],
        epoch: u64,
        rng: &mut R,
    ) -> Result<Updates, TreeError> {
        // Only O(log N) nodes change per leave or join: collect them, then apply, so a failure
        // leaves the tree untouched and no O(N) copy is made.
        let mut changes: BTreeMap<u32, NodeKey> = BTreeMap::new();
        let get = |changes: &BTreeMap<u32, NodeKey>, x: u32| -> Result<NodeKey, TreeError> {
            changes
                .get(&x)
                .or_else(|| self.keys.get(&x))
                .cloned()
                .ok_or(TreeError::MissingKey(x))
        };
        // Growth: each new root derives from the previous root.
        let mut w = plan.width_before;
        for &new_root in &plan.grown_roots {
            let old = get(&changes, root(w))?;
            changes.insert(new_root, grow(&old, new_root));
            w *= 2;
        }
        for &a in &plan.added_leaves {
            changes.insert(leaf_node(a), Secret::random(rng));
        }
        for &x in &plan.ratchet {
            let k = get(&changes, x)?;
            changes.insert(x, ratchet(&k, x));
        }
        for &x in &plan.fresh_blank {
            changes.insert(x, Secret::random(rng));
        }
        // Bottom-up, so a derivation child's new key is already in `changes`.
        for &x in &plan.refresh {
            let key = match plan.derive_from.get(&x) {
                Some(&c) => derive_node(&get(&changes, c)?, x),
                None => Secret::random(rng),
            };
            changes.insert(x, key);
        }
        let mut updates = Vec::with_capacity(plan.wraps.len());
        for &(p, c) in &plan.wraps {
            let pk = get(&changes, p)?;
            let ck = get(&changes, c)?;
            updates.push((p, c, wrap(&ck, &pk, meeting_id, epoch, p, c)));
        }
        // Nodes that may have become blank: leaves that left and their ancestors (in the width
        // before the commit); nodes beyond the new width go with truncation.
        let occ = &plan.after;
        let mut maybe_blank: BTreeSet<u32> = BTreeSet::new();
        for &leaf in &plan.removed {
            maybe_blank.insert(leaf_node(leaf));
            maybe_blank.extend(direct_path(leaf, plan.width_before.max(occ.width())));
        }
        self.keys.extend(changes);
        let _beyond = self.keys.split_off(&node_count(occ.width()));
        for x in maybe_blank {
            let (a, b) = leaf_span(x);
            if x >= node_count(occ.width()) || !occ.any_in(a, b) {
                self.keys.remove(&x);
            }
        }
        self.occupancy = plan.after.clone();
        Ok(updates)
    }

    /// The leaf key and direct-path keys of `leaf`, leaf first.
    pub fn path_secrets(&self, leaf: u32) -> Result<Vec<(u32, NodeKey)>, TreeError> {
        if !self.occupancy.is_occupied(leaf) {
            return Err(TreeError::NotOccupied(leaf));
        }
        let mut out = Vec::new();
        let x = leaf_node(leaf);
        out.push((
            x,
            self.keys.get(&x).ok_or(TreeError::MissingKey(x))?.clone(),
        ));
        for p in direct_path(leaf, self.occupancy.width()) {
            out.push((
                p,
                self.keys.get(&p).ok_or(TreeError::MissingKey(p))?.clone(),
            ));
        }
        Ok(out)
    }
}
