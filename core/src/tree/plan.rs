//! Planning a commit (`spec/tree.md` section 5): which leaves are added, which node keys
//! ratchet, which are refreshed, and the order of the node updates.

use std::collections::{BTreeMap, BTreeSet};

use conclave_protocol::limits::MAX_TREE_LEAVES;

use super::{
    Occupancy, TreeError, direct_path, leaf_node, leaf_span, left, level, node_count, right, root,
};

/// The deterministic effect of one commit on the tree (`spec/tree.md` "Planning a commit").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Occupancy after the commit.
    pub after: Occupancy,
    /// Width before the commit.
    pub width_before: u32,
    /// Leaves removed by the commit.
    pub removed: Vec<u32>,
    /// New roots created by growth, bottom-up (each derived from the previous root).
    pub grown_roots: Vec<u32>,
    /// Leaves given to the added members, in add order.
    pub added_leaves: Vec<u32>,
    /// Nodes whose keys ratchet (live, on a joiner's path, not refreshed).
    pub ratchet: BTreeSet<u32>,
    /// Nodes with fresh keys wrapped under their live children (bottom-up order).
    pub refresh: Vec<u32>,
    /// Refreshed nodes whose new key derives from a refreshed child (`node → child`, see
    /// [`derive_node`](super::derive_node)) instead of being drawn at random: the left child if both
    /// children are refreshed. No update is wrapped under that child.
    pub derive_from: BTreeMap<u32, u32>,
    /// Nodes with fresh keys given only to joiners (not live).
    pub fresh_blank: BTreeSet<u32>,
    /// `(node, child)` pairs of the commit's node updates in Merkle order: wrapped under a
    /// refreshed child first, then under an unchanged child, each by `(level, node, child)`.
    pub wraps: Vec<(u32, u32)>,
}

/// Plans a commit that removes `removes`, adds `add_count` members and, if `rotate`, refreshes
/// every live parent node.
pub fn plan(
    before: &Occupancy,
    removes: &[u32],
    add_count: usize,
    rotate: bool,
) -> Result<Plan, TreeError> {
    let mut after = before.clone();
    let mut seen = BTreeSet::new();
    for &r in removes {
        if !seen.insert(r) {
            return Err(TreeError::DuplicateRemove(r));
        }
        if !after.remove(r) {
            return Err(TreeError::NotOccupied(r));
        }
    }
    let live_leaves = after.clone(); // post-remove, pre-add
    let mut grown_roots = Vec::new();
    let mut added_leaves = Vec::with_capacity(add_count.min(MAX_TREE_LEAVES as usize));
    let mut next_free = 0u32;
    for _ in 0..add_count {
        next_free = after.first_free_from(next_free);
        if next_free >= after.width() {
            if after.width() >= MAX_TREE_LEAVES {
                return Err(TreeError::Full);
            }
            after.double();
            grown_roots.push(root(after.width()));
        }
        after.insert(next_free);
        added_leaves.push(next_free);
    }
    // Truncate while the right half is blank.
    while after.width() > 1 && !after.any_in(after.width() / 2, after.width() - 1) {
        after.halve();
    }
    let width = after.width();
    // Every live leaf is below the final width: truncation only drops blank halves.
    let live_occ = live_leaves.with_width(width);
    let is_live = |x: u32| -> bool {
        let (a, b) = leaf_span(x);
        live_occ.any_in(a, b)
    };
    let mut refresh_set = BTreeSet::new();
    if rotate {
        for x in (1..node_count(width)).step_by(2) {
            if is_live(x) {
                refresh_set.insert(x);
            }
        }
    } else {
        for &r in removes {
            if r < width {
                for p in direct_path(r, width) {
                    if is_live(p) {
                        refresh_set.insert(p);
                    }
                }
            }
        }
    }
    let mut ratchet_set = BTreeSet::new();
    let mut fresh_blank = BTreeSet::new();
    for &a in &added_leaves {
        for p in direct_path(a, width) {
            if refresh_set.contains(&p) {
                continue;
            }
            if is_live(p) {
                ratchet_set.insert(p);
            } else {
                fresh_blank.insert(p);
            }
        }
    }
    // A refreshed node with a refreshed child derives its key from that child (the left one if
    // both are refreshed), so the members under that child need no update for it.
    let derive_from: BTreeMap<u32, u32> = refresh_set
        .iter()
        .filter_map(|&p| {
            [left(p), right(p)]
                .into_iter()
                .find(|c| refresh_set.contains(c))
                .map(|c| (p, c))
        })
        .collect();
    let mut refresh: Vec<u32> = refresh_set.iter().copied().collect();
    refresh.sort_by_key(|&x| (level(x), x));
    let mut wraps = Vec::new();
    for &p in &refresh {
        for c in [left(p), right(p)] {
            if is_live(c) && derive_from.get(&p) != Some(&c) {
                wraps.push((p, c));
            }
        }
    }
    // Merkle order (`spec/tree.md`): first the updates wrapped under a refreshed child, then those
    // wrapped under a child that kept its key, each bottom-up. A member needs one update of the
    // second group (where its path meets the refreshed nodes) and a contiguous run of the first,
    // so its multiproof stays short.
    wraps.sort_by_key(|&(p, c)| (u8::from(!refresh_set.contains(&c)), level(p), p, c));
    Ok(Plan {
        after,
        width_before: before.width(),
        removed: removes.to_vec(),
        grown_roots,
        added_leaves,
        ratchet: ratchet_set,
        refresh,
        derive_from,
        fresh_blank,
        wraps,
    })
}

impl Plan {
    /// The `(node, child)` updates a member at `leaf` needs, in the commit's (Merkle) order.
    pub fn wraps_for_leaf(&self, leaf: u32) -> Vec<(u32, u32)> {
        let mut wanted = BTreeSet::new();
        let mut child = leaf_node(leaf);
        for p in direct_path(leaf, self.after.width()) {
            wanted.insert((p, child));
            child = p;
        }
        self.wraps
            .iter()
            .filter(|w| wanted.contains(w))
            .copied()
            .collect()
    }
}
