//! Looks for secrets and plaintexts in the bytes the relay carried.
//!
//! Every needle (a key, a secret, a plaintext marker) is at least [`MIN_NEEDLE`] bytes long.
//! A scan slides over the haystack once: a table of the needles' first two bytes filters
//! positions, a map of their first eight bytes finds candidates, and a candidate counts only if
//! the whole needle matches.

use std::collections::{BTreeMap, HashMap, HashSet};

/// Shortest needle (the 12-byte frame nonce salt).
pub const MIN_NEEDLE: usize = 12;
/// Most findings kept with their description.
const MAX_FINDINGS: usize = 20;

/// A needle found in carried bytes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// What was found (for example `epoch 3 frame_secret`).
    pub what: String,
    /// Its category (for example `frame secrets`).
    pub category: &'static str,
    /// Where (for example `control message from alice to bob`).
    pub carried_in: String,
}

/// The needles and what the scans found.
pub struct Scanner {
    needles: Vec<(&'static str, String, Vec<u8>)>,
    known: HashSet<Vec<u8>>,
    by_prefix: HashMap<[u8; 8], Vec<usize>>,
    first2: Vec<bool>,
    /// Needles per category.
    pub categories: BTreeMap<&'static str, u64>,
    /// Bytes scanned.
    pub bytes_scanned: u64,
    /// Messages scanned.
    pub messages_scanned: u64,
    /// Findings per category.
    pub found: BTreeMap<&'static str, u64>,
    /// The first findings, described.
    pub findings: Vec<Finding>,
}

impl Default for Scanner {
    fn default() -> Self {
        Self {
            needles: Vec::new(),
            known: HashSet::new(),
            by_prefix: HashMap::new(),
            first2: vec![false; 1 << 16],
            categories: BTreeMap::new(),
            bytes_scanned: 0,
            messages_scanned: 0,
            found: BTreeMap::new(),
            findings: Vec::new(),
        }
    }
}

fn prefix8(b: &[u8]) -> Option<[u8; 8]> {
    b.get(..8).and_then(|p| p.try_into().ok())
}

impl Scanner {
    /// Adds a needle; repeated bytes are ignored. Returns whether it was new.
    pub fn add(
        &mut self,
        category: &'static str,
        what: impl FnOnce() -> String,
        bytes: &[u8],
    ) -> bool {
        if bytes.len() < MIN_NEEDLE || self.known.contains(bytes) {
            return false;
        }
        let Some(p) = prefix8(bytes) else {
            return false;
        };
        self.known.insert(bytes.to_vec());
        self.first2[usize::from(u16::from_be_bytes([bytes[0], bytes[1]]))] = true;
        self.by_prefix
            .entry(p)
            .or_default()
            .push(self.needles.len());
        self.needles.push((category, what(), bytes.to_vec()));
        *self.categories.entry(category).or_default() += 1;
        true
    }

    /// Number of needles.
    pub fn len(&self) -> usize {
        self.needles.len()
    }

    /// Total findings.
    pub fn total_found(&self) -> u64 {
        self.found.values().sum()
    }

    /// Findings of one category.
    pub fn found_in(&self, category: &str) -> u64 {
        self.found.get(category).copied().unwrap_or(0)
    }

    /// Whether `haystack` contains any needle (without recording anything).
    pub fn contains_any(&self, haystack: &[u8]) -> bool {
        self.matches(haystack).next().is_some()
    }

    fn matches<'a>(&'a self, haystack: &'a [u8]) -> impl Iterator<Item = usize> + 'a {
        let last = haystack.len().saturating_sub(8);
        (0..=last)
            .filter(move |&i| {
                haystack.len() >= i + 8
                    && self.first2[usize::from(u16::from_be_bytes([haystack[i], haystack[i + 1]]))]
            })
            .flat_map(move |i| {
                let ids = prefix8(&haystack[i..])
                    .and_then(|p| self.by_prefix.get(&p))
                    .map(|v| v.as_slice())
                    .unwrap_or(&[]);
                ids.iter()
                    .copied()
                    .filter(move |&id| haystack[i..].starts_with(&self.needles[id].2))
            })
    }

    /// Scans `haystack` (carried as `carried_in` describes) and records what it finds.
    pub fn scan(&mut self, haystack: &[u8], carried_in: impl Fn() -> String) {
        self.bytes_scanned += haystack.len() as u64;
        self.messages_scanned += 1;
        let hits: Vec<usize> = self.matches(haystack).collect();
        for id in hits {
            let (category, what, _) = &self.needles[id];
            *self.found.entry(category).or_default() += 1;
            if self.findings.len() < MAX_FINDINGS {
                self.findings.push(Finding {
                    what: what.clone(),
                    category,
                    carried_in: carried_in(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_needles_anywhere_and_nothing_else() {
        let mut s = Scanner::default();
        let secret: Vec<u8> = (0..32u8).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
        assert!(s.add("frame secrets", || "k".into(), &secret));
        assert!(!s.add("frame secrets", || "k".into(), &secret));
        assert!(!s.add("short", || "s".into(), b"too short"));
        s.add("plaintext", || "p".into(), b"conclave-audio-");
        let clean: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
        s.scan(&clean, || "clean".into());
        assert_eq!(s.total_found(), 0);
        for at in [0, 1, 100, clean.len() - secret.len()] {
            let mut dirty = clean.clone();
            dirty[at..at + secret.len()].copy_from_slice(&secret);
            assert!(s.contains_any(&dirty), "at {at}");
        }
        let mut partial = clean.clone();
        partial[10..10 + 31].copy_from_slice(&secret[..31]);
        assert!(!s.contains_any(&partial), "a prefix is not the secret");
        s.scan(b"xx conclave-audio-7-1 yy", || "frame".into());
        assert_eq!(s.found_in("plaintext"), 1);
        assert_eq!(s.findings[0].carried_in, "frame");
        assert!(!s.contains_any(b"short"));
    }
}
