//! A member's tree: its leaf key and the keys of its direct path (`spec/tree.md` section 7).

use std::collections::BTreeMap;

use conclave_protocol::limits::MAX_TREE_LEAVES;

use super::{
    NodeKey, Plan, TreeError, derive_node, direct_path, grow, leaf_node, ratchet, root, unwrap,
};

/// A member's view: its leaf and the keys of its direct path.
#[derive(Clone)]
pub struct MemberPath {
    leaf: u32,
    width: u32,
    keys: BTreeMap<u32, NodeKey>,
}

impl core::fmt::Debug for MemberPath {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemberPath")
            .field("leaf", &self.leaf)
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

impl MemberPath {
    /// Installs path secrets received in a Welcome; checks they are exactly `leaf`'s path.
    pub fn from_secrets(
        leaf: u32,
        width: u32,
        secrets: Vec<(u32, NodeKey)>,
    ) -> Result<Self, TreeError> {
        if leaf >= width || !width.is_power_of_two() || width > MAX_TREE_LEAVES {
            return Err(TreeError::LeafOutOfRange { leaf, width });
        }
        let mut expected = vec![leaf_node(leaf)];
        expected.extend(direct_path(leaf, width));
        let got: Vec<u32> = secrets.iter().map(|(n, _)| *n).collect();
        if got != expected {
            return Err(TreeError::BadPath {
                leaf,
                reason: "nodes are not the leaf followed by its direct path",
            });
        }
        Ok(Self {
            leaf,
            width,
            keys: secrets.into_iter().collect(),
        })
    }

    /// The member's leaf.
    pub fn leaf(&self) -> u32 {
        self.leaf
    }

    /// The root key.
    pub fn root_key(&self) -> Result<&NodeKey, TreeError> {
        let r = root(self.width);
        self.keys.get(&r).ok_or(TreeError::MissingKey(r))
    }

    /// Applies a commit's plan using the updates on this member's path.
    ///
    /// `lookup(node, child)` returns the delivered ciphertext for that update, if any.
    pub fn apply<'a>(
        &mut self,
        plan: &Plan,
        meeting_id: &[u8],
        epoch: u64,
        lookup: impl Fn(u32, u32) -> Option<&'a [u8]>,
    ) -> Result<(), TreeError> {
        if !plan.after.is_occupied(self.leaf) {
            return Err(TreeError::NotOccupied(self.leaf));
        }
        let mut keys = self.keys.clone();
        let mut w = plan.width_before;
        for &new_root in &plan.grown_roots {
            let old = keys.get(&root(w)).ok_or(TreeError::MissingKey(root(w)))?;
            let g = grow(old, new_root);
            keys.insert(new_root, g);
            w *= 2;
        }
        let path = direct_path(self.leaf, plan.after.width());
        let mut child = leaf_node(self.leaf);
        for &p in &path {
            if plan.ratchet.contains(&p) {
                let k = keys.get(&p).ok_or(TreeError::MissingKey(p))?;
                let r = ratchet(k, p);
                keys.insert(p, r);
            } else if plan.derive_from.get(&p) == Some(&child) {
                let ck = keys.get(&child).ok_or(TreeError::MissingKey(child))?;
                let k = derive_node(ck, p);
                keys.insert(p, k);
            } else if plan.refresh.contains(&p) {
                let ct = lookup(p, child).ok_or(TreeError::MissingUpdate { node: p, child })?;
                let ck = keys.get(&child).ok_or(TreeError::MissingKey(child))?;
                let k = unwrap(ck, ct, meeting_id, epoch, p, child)
                    .map_err(|_| TreeError::BadUpdate { node: p, child })?;
                keys.insert(p, k);
            } else if plan.fresh_blank.contains(&p) {
                // A live member's ancestor is never blank.
                return Err(TreeError::MissingKey(p));
            }
            child = p;
        }
        let mut kept = BTreeMap::new();
        for x in std::iter::once(leaf_node(self.leaf)).chain(path.iter().copied()) {
            let k = keys.remove(&x).ok_or(TreeError::MissingKey(x))?;
            kept.insert(x, k);
        }
        self.keys = kept;
        self.width = plan.after.width();
        Ok(())
    }
}
