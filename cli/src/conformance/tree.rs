//! Checkers of tree.json (layout, ratchet, grow, wrap, and a scenario of commits recomputed
//! with the planning and key computation of `spec/tree.md`) and merkle.json.

use std::collections::BTreeMap;

use conclave_core::Secret;
use conclave_core::merkle;
use conclave_core::schedule::{labeled_hash, put_vec};
use conclave_core::tree::{self, NodeKey, Occupancy};
use serde_json::Value;

use super::Report;
use super::json::{array, bytes, get, list, num, num32, u32s};

fn key(v: &Value, field: &str) -> Result<NodeKey, String> {
    Ok(Secret::from_bytes(array::<32>(v, field)?))
}

/// `UpdateLeaf` of key-schedule.md section 10.
fn update_leaf(node: u32, child: u32, ciphertext: &[u8]) -> [u8; 32] {
    let mut c = node.to_be_bytes().to_vec();
    c.extend_from_slice(&child.to_be_bytes());
    put_vec(&mut c, ciphertext);
    labeled_hash("update leaf", &c)
}

/// `EchoLeaf` of key-schedule.md section 10.
fn echo_leaf(leaf: u32, nonce: &[u8]) -> [u8; 32] {
    let mut c = leaf.to_be_bytes().to_vec();
    put_vec(&mut c, nonce);
    labeled_hash("echo leaf", &c)
}

fn opt(v: &Value, field: &str) -> Result<Option<u32>, String> {
    match get(v, field)? {
        Value::Null => Ok(None),
        _ => num32(v, field).map(Some),
    }
}

/// tree.json.
pub fn tree(v: &Value, r: &mut Report) -> Result<(), String> {
    let cases = get(v, "cases")?;
    for c in list(cases, "layout")? {
        let w = num32(c, "leaf_count")?;
        let mut ok =
            tree::node_count(w) == num32(c, "node_count")? && tree::root(w) == num32(c, "root")?;
        for n in list(c, "nodes")? {
            let x = num32(n, "node")?;
            let is_root = x == tree::root(w);
            let is_leaf = x % 2 == 0;
            let span = u32s(n, "leaf_span")?;
            ok &= tree::level(x) == num32(n, "level")?
                && opt(n, "parent")? == (!is_root).then(|| tree::parent(x))
                && opt(n, "left")? == (!is_leaf).then(|| tree::left(x))
                && opt(n, "right")? == (!is_leaf).then(|| tree::right(x))
                && span == [tree::leaf_span(x).0, tree::leaf_span(x).1];
        }
        for l in list(c, "leaves")? {
            let leaf = num32(l, "leaf")?;
            ok &= tree::leaf_node(leaf) == num32(l, "node")?
                && tree::direct_path(leaf, w) == u32s(l, "direct_path")?;
        }
        r.positive(format!("layout of {w} leaves"), ok);
    }
    for c in list(cases, "ratchet")? {
        let out = tree::ratchet(&key(c, "key")?, num32(c, "node")?);
        r.positive("ratchet", out.expose()[..] == bytes(c, "output")?[..]);
    }
    for c in list(cases, "grow")? {
        let out = tree::grow(&key(c, "old_root_key")?, num32(c, "new_root")?);
        r.positive("grow", out.expose()[..] == bytes(c, "output")?[..]);
    }
    for c in list(cases, "derive")? {
        let out = tree::derive_node(&key(c, "child_key")?, num32(c, "node")?);
        r.positive("derive", out.expose()[..] == bytes(c, "output")?[..]);
    }
    for c in list(cases, "wrap")? {
        let (mid, epoch) = (bytes(c, "meeting_id")?, num(c, "epoch")?);
        let (node, child) = (num32(c, "node")?, num32(c, "child")?);
        let ct = tree::wrap(
            &key(c, "child_key")?,
            &key(c, "node_key")?,
            &mid,
            epoch,
            node,
            child,
        );
        let ok = ct == bytes(c, "ciphertext")?
            && tree::wrap_context(&mid, epoch, node, child) == bytes(c, "wrap_context")?;
        r.positive("wrap", ok);
    }
    for s in list(cases, "scenario")? {
        scenario(s, r)?;
    }
    Ok(())
}

/// The keys of a commit's `tree[]`.
fn keys_of(c: &Value) -> Result<BTreeMap<u32, [u8; 32]>, String> {
    list(c, "tree")?
        .iter()
        .map(|e| Ok((num32(e, "node")?, array::<32>(e, "key")?)))
        .collect()
}

/// Recomputes each commit of a scenario from the previous one: the plan, the new keys, the
/// updates and the root key.
fn scenario(s: &Value, r: &mut Report) -> Result<(), String> {
    let mid = bytes(s, "meeting_id")?;
    let commits = list(s, "commits")?;
    for pair in commits.windows(2) {
        let [prev, c] = pair else { continue };
        let epoch = num(c, "epoch")?;
        let op = get(c, "operation")?;
        let before = Occupancy::from_parts(num32(prev, "leaf_count")?, u32s(prev, "occupied")?)
            .map_err(|e| e.to_string())?;
        let removes = u32s(op, "removes")?;
        let rotate = get(op, "rotate")?.as_bool().ok_or("rotate is not a bool")?;
        let Ok(p) = tree::plan(&before, &removes, num(op, "add_count")? as usize, rotate) else {
            r.positive(format!("epoch {epoch}: plan"), false);
            continue;
        };
        let fp = get(c, "plan")?;
        let pairs = node_pairs(fp, "wraps")?;
        let derive_from = node_pairs(fp, "derive_from")?;
        let plan_ok = p.width_before == num32(fp, "width_before")?
            && p.after.width() == num32(fp, "width_after")?
            && p.grown_roots == u32s(fp, "grown_roots")?
            && p.added_leaves == u32s(fp, "added_leaves")?
            && p.ratchet.iter().copied().collect::<Vec<_>>() == u32s(fp, "ratchet")?
            && p.refresh == u32s(fp, "refresh")?
            && p.derive_from
                .iter()
                .map(|(&n, &c)| (n, c))
                .collect::<Vec<_>>()
                == derive_from
            && p.fresh_blank.iter().copied().collect::<Vec<_>>() == u32s(fp, "fresh_blank")?
            && p.wraps == pairs
            && p.after.leaves().collect::<Vec<_>>() == u32s(c, "occupied")?;
        r.positive(format!("epoch {epoch}: plan"), plan_ok);

        // Keys (tree.md section 6): grow, fresh leaves, ratchet, fresh blank and refresh
        // (random or derived from a refreshed child, bottom-up), drop.
        let mut keys = keys_of(prev)?;
        let mut root = tree::root(p.width_before);
        for &g in &p.grown_roots {
            let old = keys.get(&root).copied().ok_or("no previous root key")?;
            keys.insert(g, *tree::grow(&Secret::from_bytes(old), g).expose());
            root = g;
        }
        for rk in list(c, "random_keys")? {
            keys.insert(num32(rk, "node")?, array::<32>(rk, "key")?);
        }
        for &a in &p.ratchet {
            let k = keys.get(&a).copied().ok_or("no key to ratchet")?;
            keys.insert(a, *tree::ratchet(&Secret::from_bytes(k), a).expose());
        }
        for &x in &p.refresh {
            if let Some(&c) = p.derive_from.get(&x) {
                let k = keys.get(&c).copied().ok_or("no key to derive from")?;
                keys.insert(x, *tree::derive_node(&Secret::from_bytes(k), x).expose());
            }
        }
        let w = p.after.width();
        keys.retain(|&x, _| {
            x < tree::node_count(w)
                && (x % 2 == 1 || p.after.is_occupied(x / 2))
                && (x % 2 == 0
                    || p.after.leaves().any(|l| {
                        let (lo, hi) = tree::leaf_span(x);
                        (lo..=hi).contains(&l)
                    }))
        });
        let expected = keys_of(c)?;
        r.positive(format!("epoch {epoch}: keys"), keys == expected);
        let mut ups_ok = list(c, "updates")?.len() == p.wraps.len();
        for (u, (node, child)) in list(c, "updates")?.iter().zip(&p.wraps) {
            let (Some(nk), Some(ck)) = (keys.get(node), keys.get(child)) else {
                ups_ok = false;
                continue;
            };
            let ct = tree::wrap(
                &Secret::from_bytes(*ck),
                &Secret::from_bytes(*nk),
                &mid,
                epoch,
                *node,
                *child,
            );
            ups_ok &= num32(u, "node")? == *node
                && num32(u, "child")? == *child
                && bytes(u, "ciphertext")? == ct;
        }
        r.positive(format!("epoch {epoch}: updates"), ups_ok);
        let root_ok = keys.get(&tree::root(w)).map(|k| &k[..]) == Some(&bytes(c, "root_key")?[..]);
        r.positive(format!("epoch {epoch}: root key"), root_ok);
    }
    Ok(())
}

/// A list of `[node, child]` pairs of a plan.
fn node_pairs(plan: &Value, field: &str) -> Result<Vec<(u32, u32)>, String> {
    list(plan, field)?
        .iter()
        .map(|w| match w.as_array().map(Vec::as_slice) {
            Some([a, b]) => Ok((
                a.as_u64().unwrap_or(u64::MAX) as u32,
                b.as_u64().unwrap_or(u64::MAX) as u32,
            )),
            _ => Err(format!("an entry of {field} is not a pair")),
        })
        .collect()
}

/// merkle.json.
pub fn merkle(v: &Value, r: &mut Report) -> Result<(), String> {
    r.positive("empty", merkle::empty()[..] == bytes(v, "empty")?[..]);
    let cases = get(v, "cases")?;
    for c in list(cases, "node")? {
        let h = merkle::node(&array(c, "left")?, &array(c, "right")?);
        r.positive("node", h[..] == bytes(c, "hash")?[..]);
    }
    for c in list(cases, "update_leaf")? {
        let h = update_leaf(
            num32(c, "node")?,
            num32(c, "child")?,
            &bytes(c, "ciphertext")?,
        );
        r.positive("update_leaf", h[..] == bytes(c, "hash")?[..]);
    }
    for c in list(cases, "echo_leaf")? {
        let h = echo_leaf(num32(c, "leaf")?, &bytes(c, "nonce")?);
        r.positive("echo_leaf", h[..] == bytes(c, "hash")?[..]);
    }
    for c in list(cases, "roots")? {
        let mut leaves = Vec::new();
        for e in list(c, "echoes")? {
            leaves.push(echo_leaf(num32(e, "leaf")?, &bytes(e, "nonce")?));
        }
        let listed: Vec<[u8; 32]> = list(c, "leaves")?
            .iter()
            .map(|x| {
                x.as_str()
                    .and_then(|s| super::json::unhex(s).ok())
                    .and_then(|b| b.try_into().ok())
                    .ok_or("bad leaf")
            })
            .collect::<Result<_, _>>()?;
        r.positive(
            format!("root of {} echoes", leaves.len()),
            leaves == listed && merkle::root(&leaves)[..] == bytes(c, "root")?[..],
        );
    }
    for c in list(cases, "multiproofs")? {
        let leaves: Vec<[u8; 32]> = list(c, "leaves")?
            .iter()
            .map(|x| {
                x.as_str()
                    .and_then(|s| super::json::unhex(s).ok())
                    .and_then(|b| b.try_into().ok())
                    .ok_or("bad leaf")
            })
            .collect::<Result<_, _>>()?;
        let indices: Vec<usize> = u32s(c, "indices")?
            .into_iter()
            .map(|i| i as usize)
            .collect();
        let proof: Vec<[u8; 32]> = list(c, "proof")?
            .iter()
            .map(|x| {
                x.as_str()
                    .and_then(|s| super::json::unhex(s).ok())
                    .and_then(|b| b.try_into().ok())
                    .ok_or("bad proof hash")
            })
            .collect::<Result<_, _>>()?;
        let entries: Vec<(usize, [u8; 32])> = indices
            .iter()
            .filter_map(|&i| leaves.get(i).map(|l| (i, *l)))
            .collect();
        let ok = merkle::prove(&leaves, &indices).is_ok_and(|p| p == proof)
            && merkle::compute_root(leaves.len(), &entries, &proof)
                .is_ok_and(|root| root[..] == bytes(c, "root").unwrap_or_default()[..]);
        r.positive("multiproof", ok);
    }
    Ok(())
}
