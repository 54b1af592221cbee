//! The ledger's view of removals: which removing commits became stable (`spec/state-machine.md`
//! section 12.6), identified commit by commit.
//!
//! A removal is a commit `X`, identified by what it creates: `(removed id, epoch x, security
//! code of x)`. The security code binds the transcript, so two branches that each remove the
//! same member (a cut-off leader timing the others out on its own history, and the majority
//! failing over) are two removals, never one. `X` is **stable** when a majority of the roster it
//! was built on, `roster(x - 1)`, has accepted it; only then does section 12.6 promise that the
//! removed member never holds an epoch numbered above `x` made afterwards.
//!
//! Two `sim_ops` findings shaped this (see `core/tests/fuzz_regressions.rs`): the ledger first
//! pooled every report of "`R` removed" from every branch and took the lowest epoch, then the
//! most reported one; both let a dead branch's removal, accepted by a minority, stand for the
//! live one. Counting acceptances per commit against that commit's own parent roster is the
//! definition in the spec, so no pooling across branches remains.

use std::collections::{BTreeMap, BTreeSet};

use crate::meeting::Event;

/// A removing commit: `(removed id, epoch it created, security code of that epoch)`.
type RemovalKey = (String, u64, String);

/// An epoch state `(epoch, transcript hash)` and the roster of ids that belongs to it.
type RosterAt = ((u64, [u8; 32]), BTreeSet<String>);

/// One removing commit while the ledger waits for a majority of its parent roster to accept it.
#[derive(Debug, Default)]
struct Pending {
    /// `roster(x - 1)`: the members of the epoch the commit was built on.
    parent_roster: BTreeSet<String>,
    /// Members that accepted it (reported the removal as part of that commit).
    accepted: BTreeSet<String>,
}

impl Pending {
    fn stable(&self) -> bool {
        let n = self.accepted.intersection(&self.parent_roster).count();
        n * 2 > self.parent_roster.len()
    }
}

/// A processor's report that it applied a commit removing `removed`.
struct Report {
    removed: String,
    processor: String,
    epoch: u64,
    /// The security code of the epoch the commit created (`None` when the processor reported no
    /// epoch change after it: the removed member itself, whose meeting ends).
    code: Option<String>,
    parent_roster: BTreeSet<String>,
}

/// Removing commits seen, until one per removed member becomes stable.
#[derive(Debug, Default)]
pub(super) struct Removals {
    pending: BTreeMap<RemovalKey, Pending>,
    /// Each participant's roster at the last observation, with the epoch state it belongs to.
    rosters: BTreeMap<String, RosterAt>,
}

impl Removals {
    /// Reads the events since the last observation. `epoch_now(id)` is `id`'s current epoch, for
    /// a removal reported with no epoch change after it.
    pub(super) fn read_events(
        &mut self,
        events: &[(String, Event)],
        epoch_now: impl Fn(&str) -> Option<u64>,
    ) {
        // Per processor: its roster as events change it, and the roster the current commit was
        // built on (the roster at its last epoch change, or at the last observation).
        let mut running: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut parent: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut open: BTreeMap<String, Vec<(String, BTreeSet<String>)>> = BTreeMap::new();
        let mut reports = Vec::new();
        for (at, e) in events {
            let known = || {
                self.rosters
                    .get(at)
                    .map(|(_, r)| r.clone())
                    .unwrap_or_default()
            };
            let cur = running.entry(at.clone()).or_insert_with(known);
            let base = parent.entry(at.clone()).or_insert_with(known);
            match e {
                Event::ParticipantAdded { participant_id, .. } => {
                    cur.insert(participant_id.clone());
                }
                Event::ParticipantRemoved { participant_id, .. } => {
                    cur.remove(participant_id);
                    open.entry(at.clone())
                        .or_default()
                        .push((participant_id.clone(), base.clone()));
                }
                Event::EpochChanged {
                    epoch,
                    security_code,
                } => {
                    for (removed, parent_roster) in open.remove(at).unwrap_or_default() {
                        reports.push(Report {
                            removed,
                            processor: at.clone(),
                            epoch: *epoch,
                            code: Some(security_code.clone()),
                            parent_roster,
                        });
                    }
                    *base = cur.clone();
                }
                _ => {}
            }
        }
        for (at, removals) in open {
            let Some(epoch) = epoch_now(&at) else {
                continue;
            };
            for (removed, parent_roster) in removals {
                reports.push(Report {
                    removed,
                    processor: at.clone(),
                    epoch,
                    code: None,
                    parent_roster,
                });
            }
        }
        // Reports with an epoch change first: they name the commit.
        reports.sort_by_key(|r| r.code.is_none());
        for r in reports {
            self.record(r);
        }
    }

    fn record(&mut self, r: Report) {
        match r.code {
            Some(code) => {
                let p = self
                    .pending
                    .entry((r.removed, r.epoch, code))
                    .or_insert_with(|| Pending {
                        parent_roster: r.parent_roster,
                        accepted: BTreeSet::new(),
                    });
                p.accepted.insert(r.processor);
            }
            None => {
                // No epoch change named the commit: credit it only when exactly one removing
                // commit of that member at that epoch is known and the processor was in its
                // parent roster.
                let mut candidates = self.pending.iter_mut().filter(|((id, e, _), p)| {
                    *id == r.removed && *e == r.epoch && p.parent_roster.contains(&r.processor)
                });
                if let (Some((_, p)), None) = (candidates.next(), candidates.next()) {
                    p.accepted.insert(r.processor);
                }
            }
        }
    }

    /// Records a participant's roster at its epoch state `(epoch, transcript hash)` (call after
    /// [`Removals::read_events`]); `roster` is called only when the state changed.
    pub(super) fn set_roster(
        &mut self,
        id: &str,
        state: (u64, [u8; 32]),
        roster: impl FnOnce() -> BTreeSet<String>,
    ) {
        if self
            .rosters
            .get(id)
            .is_none_or(|(known, _)| *known != state)
        {
            self.rosters.insert(id.to_string(), (state, roster()));
        }
    }

    /// Forgets what is pending about `id` (it joined again: a new membership).
    pub(super) fn forget(&mut self, id: &str) {
        self.pending.retain(|(removed, _, _), _| removed != id);
    }

    /// Takes the removals that became stable: `(removed id, epoch the removing commit made)`,
    /// at most one per removed member (the lowest epoch), forgetting the rest about that member.
    pub(super) fn take_stable(&mut self) -> Vec<(String, u64)> {
        let mut stable: BTreeMap<String, u64> = BTreeMap::new();
        for ((id, epoch, _), p) in &self.pending {
            if p.stable() {
                let e = stable.entry(id.clone()).or_insert(*epoch);
                *e = (*e).min(*epoch);
            }
        }
        for id in stable.keys() {
            self.forget(id);
        }
        stable.into_iter().collect()
    }
}
