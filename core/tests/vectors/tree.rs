//! tree.json: array layout, ratchet/grow, node wraps, and a seeded leader/member scenario.

use std::collections::{BTreeMap, BTreeSet};

use conclave_core::Secret;
use conclave_core::schedule::{expand_with_label, labels};
use conclave_core::tree::{
    self, LeaderTree, MemberPath, Occupancy, derive_node, direct_path, grow, leaf_node, leaf_span,
    level, node_count, ratchet, root, unwrap, wrap, wrap_context,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::{Value, json};

use super::{file, h, hx, hx32, list, num, num32, rand32, spec, u32s};

const SEED: u64 = 0x5452_4545;
const SCENARIO_SEED: u64 = 0x5452_0002;
const SCENARIO_MEETING: &[u8] = b"conclave-vectors-tree-scenario";
const WIDTHS: [u32; 5] = [1, 2, 4, 8, 16];

/// The scenario after the creating commit (epoch 1): (removes, adds, rotate) per epoch 2, 3, ...
const OPS: [(&[u32], usize, bool); 6] = [
    (&[], 3, false),     // epoch 2: three joins (the tree grows twice, 1 -> 4 leaves)
    (&[1], 0, false),    // epoch 3: leaf 1 leaves
    (&[], 0, true),      // epoch 4: rotation
    (&[2], 3, false),    // epoch 5: leaf 2 removed, three joins (grows 4 -> 8)
    (&[], 1, false),     // epoch 6: one join, ratchets only
    (&[1, 5], 0, false), // epoch 7: two leaves leave; node 7 derives from 3, and 11 is wrapped
];

fn opt(x: Option<u32>) -> Value {
    x.map_or(Value::Null, |v| json!(v))
}

fn layout() -> Vec<Value> {
    WIDTHS
        .iter()
        .map(|&w| {
            let r = root(w);
            let nodes: Vec<Value> = (0..node_count(w))
                .map(|x| {
                    let lv = level(x);
                    let (a, b) = leaf_span(x);
                    json!({
                        "node": x,
                        "level": lv,
                        "parent": opt((x != r).then(|| tree::parent(x))),
                        "left": opt((lv > 0).then(|| tree::left(x))),
                        "right": opt((lv > 0).then(|| tree::right(x))),
                        "leaf_span": [a, b],
                    })
                })
                .collect();
            let leaves: Vec<Value> = (0..w)
                .map(|l| json!({"leaf": l, "node": leaf_node(l), "direct_path": direct_path(l, w)}))
                .collect();
            json!({
                "leaf_count": w,
                "node_count": node_count(w),
                "root": r,
                "nodes": nodes,
                "leaves": leaves,
            })
        })
        .collect()
}

fn keys_json(keys: &BTreeMap<u32, [u8; 32]>) -> Value {
    json!(
        keys.iter()
            .map(|(n, k)| json!({"node": n, "key": h(k)}))
            .collect::<Vec<_>>()
    )
}

/// The leader's full tree: the union of every occupied leaf's path secrets.
fn leader_keys(leader: &LeaderTree) -> BTreeMap<u32, [u8; 32]> {
    let mut out = BTreeMap::new();
    for l in leader.occupancy().leaves().collect::<Vec<_>>() {
        for (n, k) in leader.path_secrets(l).unwrap() {
            out.insert(n, *k.expose());
        }
    }
    out
}

fn members_json(leader: &LeaderTree) -> Value {
    let members: Vec<Value> = leader
        .occupancy()
        .leaves()
        .map(|l| {
            let path: Vec<Value> = leader
                .path_secrets(l)
                .unwrap()
                .iter()
                .map(|(n, k)| json!({"node": n, "key": h(k.expose())}))
                .collect();
            json!({"leaf": l, "path": path})
        })
        .collect();
    json!(members)
}

fn scenario() -> Value {
    let mut rng = ChaCha20Rng::seed_from_u64(SCENARIO_SEED);
    let mid = SCENARIO_MEETING;
    let mut commits = Vec::new();

    let mut probe = rng.clone();
    let mut leader = LeaderTree::create(&mut rng);
    let creator_key = rand32(&mut probe);
    let tree0 = leader_keys(&leader);
    assert_eq!(tree0.get(&0), Some(&creator_key));
    let root_key = *leader.root_key().unwrap().expose();
    commits.push(json!({
        "epoch": 1,
        "operation": "create",
        "leaf_count": 1,
        "occupied": [0],
        "random_keys": [{"node": 0, "key": h(creator_key)}],
        "updates": [],
        "root_key": h(root_key),
        "tree": keys_json(&tree0),
        "members": members_json(&leader),
    }));

    let mut members: BTreeMap<u32, MemberPath> = BTreeMap::new();
    members.insert(
        0,
        MemberPath::from_secrets(0, 1, leader.path_secrets(0).unwrap()).unwrap(),
    );
    for (i, (removes, adds, rotate)) in OPS.iter().enumerate() {
        let epoch = i as u64 + 2;
        let p = tree::plan(leader.occupancy(), removes, *adds, *rotate).unwrap();
        let mut probe = rng.clone();
        let updates = leader.apply(&p, mid, epoch, &mut rng).unwrap();
        let keys = leader_keys(&leader);

        // The random draws, in draw order: added leaves, fresh blank nodes, refreshed nodes that
        // do not derive from a child.
        let mut random_nodes: Vec<u32> = p.added_leaves.iter().map(|&l| leaf_node(l)).collect();
        random_nodes.extend(p.fresh_blank.iter().copied());
        random_nodes.extend(
            p.refresh
                .iter()
                .copied()
                .filter(|x| !p.derive_from.contains_key(x)),
        );
        for (&x, &c) in &p.derive_from {
            let child = Secret::from_bytes(*keys.get(&c).unwrap());
            assert_eq!(
                keys.get(&x),
                Some(derive_node(&child, x).expose()),
                "derived key of node {x}"
            );
        }
        let random_keys: Vec<Value> = random_nodes
            .iter()
            .map(|n| {
                let mut k = [0u8; 32];
                probe.fill_bytes(&mut k);
                assert_eq!(keys.get(n), Some(&k), "random key of node {n}");
                json!({"node": n, "key": h(k)})
            })
            .collect();

        // Members follow the commit with the updates; joiners get their paths.
        let lookup = |n: u32, c: u32| {
            updates
                .iter()
                .find(|u| u.0 == n && u.1 == c)
                .map(|u| u.2.as_slice())
        };
        for r in removes.iter() {
            members.remove(r);
        }
        for m in members.values_mut() {
            m.apply(&p, mid, epoch, lookup).unwrap();
        }
        for &a in &p.added_leaves {
            let secrets = leader.path_secrets(a).unwrap();
            members.insert(
                a,
                MemberPath::from_secrets(a, p.after.width(), secrets).unwrap(),
            );
        }
        let root_key = *leader.root_key().unwrap().expose();
        for m in members.values() {
            assert_eq!(m.root_key().unwrap().expose(), &root_key);
        }

        commits.push(json!({
            "epoch": epoch,
            "operation": {"removes": removes, "add_count": adds, "rotate": rotate},
            "plan": {
                "width_before": p.width_before,
                "width_after": p.after.width(),
                "grown_roots": p.grown_roots,
                "added_leaves": p.added_leaves,
                "ratchet": p.ratchet.iter().collect::<Vec<_>>(),
                "refresh": p.refresh,
                "derive_from": p.derive_from.iter().map(|(n, c)| json!([n, c])).collect::<Vec<_>>(),
                "fresh_blank": p.fresh_blank.iter().collect::<Vec<_>>(),
                "wraps": p.wraps.iter().map(|(n, c)| json!([n, c])).collect::<Vec<_>>(),
            },
            "leaf_count": p.after.width(),
            "occupied": p.after.leaves().collect::<Vec<_>>(),
            "random_keys": random_keys,
            "updates": updates
                .iter()
                .map(|(n, c, ct)| json!({"node": n, "child": c, "ciphertext": h(ct)}))
                .collect::<Vec<_>>(),
            "root_key": h(root_key),
            "tree": keys_json(&keys),
            "members": members_json(&leader),
        }));
    }
    json!({
        "seed": SCENARIO_SEED,
        "meeting_id": h(mid),
        "commits": commits,
    })
}

pub fn generate() -> Value {
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let mut ratchets = Vec::new();
    for node in [1u32, 3, 5, 7, 16383] {
        let key = Secret::from_bytes(rand32(&mut rng));
        ratchets.push(json!({
            "key": h(key.expose()),
            "node": node,
            "output": h(ratchet(&key, node).expose()),
        }));
    }
    let mut grows = Vec::new();
    for new_root in [1u32, 3, 7, 16383] {
        let key = Secret::from_bytes(rand32(&mut rng));
        grows.push(json!({
            "old_root_key": h(key.expose()),
            "new_root": new_root,
            "output": h(grow(&key, new_root).expose()),
        }));
    }
    let mut derives = Vec::new();
    for node in [3u32, 7, 11, 16383] {
        let key = Secret::from_bytes(rand32(&mut rng));
        derives.push(json!({
            "child_key": h(key.expose()),
            "node": node,
            "output": h(derive_node(&key, node).expose()),
        }));
    }
    let mut wraps = Vec::new();
    for (mid, epoch, node, child) in [
        (b"conclave-vectors-meeting".to_vec(), 2u64, 1u32, 0u32),
        (b"conclave-vectors-meeting".to_vec(), 2, 1, 2),
        (vec![0x5a; 16], 9, 3, 5),
        (vec![0xa5; 64], (1 << 40) + 1, 15, 7),
    ] {
        let ck = Secret::from_bytes(rand32(&mut rng));
        let nk = Secret::from_bytes(rand32(&mut rng));
        let ctx = wrap_context(&mid, epoch, node, child);
        let mut ws = [0u8; 44];
        expand_with_label(ck.expose(), labels::NODE_WRAP, &ctx, &mut ws);
        wraps.push(json!({
            "child_key": h(ck.expose()),
            "node_key": h(nk.expose()),
            "meeting_id": h(&mid),
            "epoch": epoch,
            "node": node,
            "child": child,
            "wrap_context": h(&ctx),
            "wrap_key": h(&ws[..32]),
            "wrap_nonce": h(&ws[32..]),
            "ciphertext": h(wrap(&ck, &nk, &mid, epoch, node, child)),
        }));
    }
    file(
        "Conclave v1 key tree (spec/tree.md; derivations of spec/key-schedule.md section 9): \
         array layout facts, ratchet and grow outputs, node wraps, and a seeded scenario of \
         commits planned with tree::plan and applied by LeaderTree::apply.",
        vec![("seed", json!(SEED))],
        vec![
            ("layout", json!(layout())),
            ("ratchet", json!(ratchets)),
            ("grow", json!(grows)),
            ("derive", json!(derives)),
            ("wrap", json!(wraps)),
            ("scenario", json!([scenario()])),
        ],
    )
}

fn keys_map(v: &Value) -> BTreeMap<u32, [u8; 32]> {
    list(v, "tree")
        .iter()
        .map(|e| (num32(e, "node"), hx32(e, "key")))
        .collect()
}

fn verify_layout(cases: &[Value]) {
    for c in cases {
        let w = num32(c, "leaf_count");
        assert_eq!(num32(c, "root"), w - 1);
        assert_eq!(num32(c, "node_count"), 2 * w - 1);
        let nodes = list(c, "nodes");
        assert_eq!(nodes.len() as u32, 2 * w - 1);
        for (x, n) in nodes.iter().enumerate() {
            let x = x as u32;
            assert_eq!(num32(n, "node"), x);
            assert_eq!(num32(n, "level"), level(x));
            assert_eq!(num32(n, "level"), x.trailing_ones());
            let span = u32s(n, "leaf_span");
            assert_eq!((span[0], span[1]), leaf_span(x));
            if x == w - 1 {
                assert!(n["parent"].is_null());
            } else {
                assert_eq!(num32(n, "parent"), tree::parent(x));
            }
            if x.is_multiple_of(2) {
                assert!(n["left"].is_null() && n["right"].is_null());
                assert_eq!(span, [x / 2, x / 2]);
            } else {
                let (l, r) = (num32(n, "left"), num32(n, "right"));
                assert_eq!((l, r), (tree::left(x), tree::right(x)));
                // Children and parent agree; the span is the union of the children's spans.
                let ln = &nodes[l as usize];
                let rn = &nodes[r as usize];
                assert_eq!(num32(ln, "parent"), x);
                assert_eq!(num32(rn, "parent"), x);
                assert_eq!(u32s(ln, "leaf_span")[0], span[0]);
                assert_eq!(u32s(rn, "leaf_span")[1], span[1]);
            }
        }
        for (l, e) in list(c, "leaves").iter().enumerate() {
            let l = l as u32;
            assert_eq!(num32(e, "node"), 2 * l);
            let path = u32s(e, "direct_path");
            assert_eq!(path, direct_path(l, w));
            let mut x = 2 * l;
            for p in &path {
                assert_eq!(num32(&nodes[x as usize], "parent"), *p);
                x = *p;
            }
            assert_eq!(x, w - 1);
        }
    }
}

fn verify_scenario(s: &Value) {
    let mid = hx(s, "meeting_id");
    let commits = list(s, "commits");
    let first = &commits[0];
    assert_eq!(text_op(first), "create");
    let mut prev = keys_map(first);
    assert_eq!(prev.len(), 1);
    assert_eq!(prev[&0], hx32(&list(first, "random_keys")[0], "key"));
    assert_eq!(hx32(first, "root_key"), prev[&0]);
    let mut width = num32(first, "leaf_count");
    let mut occupied = u32s(first, "occupied");
    for c in &commits[1..] {
        let epoch = num(c, "epoch");
        let op = &c["operation"];
        let removes = u32s(op, "removes");
        let before = Occupancy::from_parts(width, occupied.clone()).unwrap();
        let p = tree::plan(
            &before,
            &removes,
            num(op, "add_count") as usize,
            op["rotate"].as_bool().unwrap(),
        )
        .unwrap();
        let fp = &c["plan"];
        assert_eq!(num32(fp, "width_before"), p.width_before);
        assert_eq!(num32(fp, "width_after"), p.after.width());
        assert_eq!(u32s(fp, "grown_roots"), p.grown_roots);
        assert_eq!(u32s(fp, "added_leaves"), p.added_leaves);
        assert_eq!(
            u32s(fp, "ratchet"),
            p.ratchet.iter().copied().collect::<Vec<_>>()
        );
        assert_eq!(u32s(fp, "refresh"), p.refresh);
        let derive_from: Vec<(u32, u32)> = list(fp, "derive_from")
            .iter()
            .map(|w| (w[0].as_u64().unwrap() as u32, w[1].as_u64().unwrap() as u32))
            .collect();
        assert_eq!(
            derive_from,
            p.derive_from
                .iter()
                .map(|(&n, &c)| (n, c))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            u32s(fp, "fresh_blank"),
            p.fresh_blank.iter().copied().collect::<Vec<_>>()
        );
        let wraps: Vec<(u32, u32)> = list(fp, "wraps")
            .iter()
            .map(|w| (w[0].as_u64().unwrap() as u32, w[1].as_u64().unwrap() as u32))
            .collect();
        assert_eq!(wraps, p.wraps);
        assert_eq!(num32(c, "leaf_count"), p.after.width());
        assert_eq!(u32s(c, "occupied"), p.after.leaves().collect::<Vec<_>>());

        let keys = keys_map(c);
        let w = p.after.width();
        // The tree holds exactly the nodes with an occupied leaf below them.
        let expected_nodes: BTreeSet<u32> = (0..node_count(w))
            .filter(|&x| {
                let (a, b) = leaf_span(x);
                (a..=b).any(|l| p.after.is_occupied(l))
            })
            .collect();
        assert_eq!(
            keys.keys().copied().collect::<BTreeSet<_>>(),
            expected_nodes
        );
        // Random keys, in draw order.
        let mut random_nodes: Vec<u32> = p.added_leaves.iter().map(|&l| 2 * l).collect();
        random_nodes.extend(p.fresh_blank.iter().copied());
        random_nodes.extend(
            p.refresh
                .iter()
                .copied()
                .filter(|x| !p.derive_from.contains_key(x)),
        );
        let random: Vec<(u32, [u8; 32])> = list(c, "random_keys")
            .iter()
            .map(|e| (num32(e, "node"), hx32(e, "key")))
            .collect();
        assert_eq!(random.iter().map(|r| r.0).collect::<Vec<_>>(), random_nodes);
        // Growth chain.
        let mut grown = BTreeMap::new();
        let mut g_prev = prev[&root(p.width_before)].to_vec();
        for &r in &p.grown_roots {
            g_prev = spec::grow(&g_prev, r);
            grown.insert(r, g_prev.clone());
        }
        for (&x, key) in &keys {
            if let Some((_, k)) = random.iter().find(|r| r.0 == x) {
                assert_eq!(key, k, "random node {x}");
                continue;
            }
            if let Some(&c) = p.derive_from.get(&x) {
                assert_eq!(
                    key.to_vec(),
                    spec::derive_node(&keys[&c], x),
                    "derived node {x}"
                );
                continue;
            }
            let base = grown
                .get(&x)
                .cloned()
                .or_else(|| prev.get(&x).map(|k| k.to_vec()))
                .unwrap_or_else(|| panic!("node {x} has no previous key"));
            if p.ratchet.contains(&x) {
                assert_eq!(key.to_vec(), spec::ratchet(&base, x), "ratchet of node {x}");
            } else {
                assert_eq!(key.to_vec(), base, "unchanged node {x}");
            }
        }
        // Updates wrap the new parent keys under the child keys.
        let updates = list(c, "updates");
        assert_eq!(updates.len(), p.wraps.len());
        for (u, &(node, child)) in updates.iter().zip(&p.wraps) {
            assert_eq!((num32(u, "node"), num32(u, "child")), (node, child));
            let ct = hx(u, "ciphertext");
            let (_, _, expected) =
                spec::wrap(&keys[&child], &keys[&node], &mid, epoch, node, child);
            assert_eq!(ct, expected, "wrap ({node}, {child})");
            let k = unwrap(
                &Secret::from_bytes(keys[&child]),
                &ct,
                &mid,
                epoch,
                node,
                child,
            )
            .unwrap();
            assert_eq!(k.expose(), &keys[&node]);
        }
        assert_eq!(hx32(c, "root_key"), keys[&root(w)]);
        // Members: each path is the leaf and its direct path, with the tree's keys.
        let members = list(c, "members");
        assert_eq!(
            members.iter().map(|m| num32(m, "leaf")).collect::<Vec<_>>(),
            p.after.leaves().collect::<Vec<_>>()
        );
        for m in members {
            let leaf = num32(m, "leaf");
            let mut nodes = vec![2 * leaf];
            nodes.extend(direct_path(leaf, w));
            let path = list(m, "path");
            assert_eq!(
                path.iter().map(|e| num32(e, "node")).collect::<Vec<_>>(),
                nodes
            );
            for e in path {
                assert_eq!(hx32(e, "key"), keys[&num32(e, "node")]);
            }
        }
        // A member that stays replays the commit from its previous path and the updates.
        let lookup = |n: u32, ch: u32| {
            updates
                .iter()
                .find(|u| num32(u, "node") == n && num32(u, "child") == ch)
                .map(|u| hx(u, "ciphertext"))
        };
        let cts: BTreeMap<(u32, u32), Vec<u8>> = p
            .wraps
            .iter()
            .map(|&(n, ch)| ((n, ch), lookup(n, ch).unwrap()))
            .collect();
        for &leaf in &occupied {
            if removes.contains(&leaf) {
                continue;
            }
            let mut nodes = vec![2 * leaf];
            nodes.extend(direct_path(leaf, width));
            let secrets = nodes
                .iter()
                .map(|n| (*n, Secret::from_bytes(prev[n])))
                .collect();
            let mut member = MemberPath::from_secrets(leaf, width, secrets).unwrap();
            member
                .apply(&p, &mid, epoch, |n, ch| {
                    cts.get(&(n, ch)).map(Vec::as_slice)
                })
                .unwrap();
            assert_eq!(member.root_key().unwrap().expose(), &keys[&root(w)]);
        }
        prev = keys;
        width = w;
        occupied = p.after.leaves().collect();
    }
}

fn text_op(c: &Value) -> &str {
    c["operation"].as_str().unwrap_or("")
}

pub fn verify(v: &Value) {
    let cases = &v["cases"];
    verify_layout(list(cases, "layout"));
    for c in list(cases, "ratchet") {
        let out = spec::ratchet(&hx(c, "key"), num32(c, "node"));
        assert_eq!(hx(c, "output"), out);
        let core = ratchet(&Secret::from_bytes(hx32(c, "key")), num32(c, "node"));
        assert_eq!(core.expose()[..], out[..]);
    }
    for c in list(cases, "grow") {
        let out = spec::grow(&hx(c, "old_root_key"), num32(c, "new_root"));
        assert_eq!(hx(c, "output"), out);
        let core = grow(
            &Secret::from_bytes(hx32(c, "old_root_key")),
            num32(c, "new_root"),
        );
        assert_eq!(core.expose()[..], out[..]);
    }
    for c in list(cases, "derive") {
        let out = spec::derive_node(&hx(c, "child_key"), num32(c, "node"));
        assert_eq!(out, hx(c, "output"));
        let core = derive_node(&Secret::from_bytes(hx32(c, "child_key")), num32(c, "node"));
        assert_eq!(core.expose().to_vec(), out);
    }
    for c in list(cases, "wrap") {
        let (mid, epoch, node, child) = (
            hx(c, "meeting_id"),
            num(c, "epoch"),
            num32(c, "node"),
            num32(c, "child"),
        );
        assert_eq!(
            hx(c, "wrap_context"),
            spec::wrap_context(&mid, epoch, node, child)
        );
        let (k, n, ct) = spec::wrap(
            &hx(c, "child_key"),
            &hx(c, "node_key"),
            &mid,
            epoch,
            node,
            child,
        );
        assert_eq!(hx(c, "wrap_key"), k);
        assert_eq!(hx(c, "wrap_nonce"), n);
        assert_eq!(hx(c, "ciphertext"), ct);
        assert_eq!(ct.len(), 48);
        let ck = Secret::from_bytes(hx32(c, "child_key"));
        let opened = unwrap(&ck, &ct, &mid, epoch, node, child).unwrap();
        assert_eq!(opened.expose()[..], hx(c, "node_key")[..]);
        assert!(unwrap(&ck, &ct, &mid, epoch + 1, node, child).is_err());
    }
    for s in list(cases, "scenario") {
        verify_scenario(s);
    }
}
