//! P1 and P2 of succession v2 as `always` properties, and `sometimes` properties showing that the
//! model is not vacuous.

use crate::model::Succession;
use crate::state::{EpochId, Kind, Pid, State};
use stateright::Property;

/// P1 for a leader's Remove commit X of R, once X is stable: every epoch numbered beyond X
/// descends from X, and no epoch numbered X or beyond that is created afterwards has R in its
/// roster (R gets no keys of it).
pub const P1_REMOVAL: &str = "P1 removal is durable";
/// The same for a failover commit and the suspected set S it removed, for epochs numbered beyond
/// X (the voted-out leader can still make one sibling of X on the parent it is at).
pub const P1_FAILOVER: &str = "P1 failover removal is durable";
/// P1's "in particular" read literally: once X is stable, R is in the roster of *no* epoch created
/// afterwards, whatever its number (also on an older branch). Does not hold: see the README.
pub const P1_LITERAL: &str = "P1 literal: no keys for R in any later epoch";
/// P1 for the removal of the Byzantine participant only (with [`crate::Config::byzantine`]):
/// once its removal is stable it is in no epoch numbered at or beyond it created afterwards.
pub const P1_BYZANTINE: &str = "P1 removal of the Byzantine member is durable";
/// P2: no two stable commits for one epoch number.
pub const P2_ONE_STABLE: &str = "P2 one stable commit per epoch number";
/// P2: every commit's parent is stable.
pub const P2_PARENT_STABLE: &str = "P2 parent stable";
/// P2's consequence: at a fork at most one branch grows by more than one epoch.
pub const P2_ONE_BRANCH: &str = "P2 one branch grows";
/// Non-vacuity: a failover commit becomes stable.
pub const SOME_FAILOVER_STABLE: &str = "sometimes a failover becomes stable";
/// Non-vacuity: a removal becomes stable.
pub const SOME_REMOVAL_STABLE: &str = "sometimes a removal becomes stable";
/// Non-vacuity: a removal becomes stable and the group goes on past it (another commit on it).
pub const SOME_COMMIT_AFTER_STABLE_REMOVAL: &str = "sometimes a commit follows a stable removal";

/// Every property checked.
pub fn all() -> Vec<Property<Succession>> {
    vec![
        Property::always(P1_REMOVAL, |_, s| removal_durable(s, Scope::Removals)),
        Property::always(P1_FAILOVER, |_, s| removal_durable(s, Scope::Failovers)),
        Property::always(P1_LITERAL, |_, s| removal_durable(s, Scope::Literal)),
        Property::always(P1_BYZANTINE, |m: &Succession, s| {
            match m.config.byzantine_pid() {
                Some(b) => removal_durable(s, Scope::RemovalOf(b)),
                None => true,
            }
        }),
        Property::always(P2_ONE_STABLE, |_, s| one_stable_per_number(s)),
        Property::always(P2_PARENT_STABLE, |_, s: &State| {
            s.epochs.iter().all(|e| e.parent_stable_at_creation)
        }),
        Property::always(P2_ONE_BRANCH, |_, s| one_branch_grows(s)),
        Property::sometimes(SOME_FAILOVER_STABLE, |_, s| {
            stable_of_kind(s, |k| matches!(k, Kind::Failover(_)))
        }),
        Property::sometimes(SOME_REMOVAL_STABLE, |_, s| {
            stable_of_kind(s, |k| matches!(k, Kind::Remove(_)))
        }),
        Property::sometimes(SOME_COMMIT_AFTER_STABLE_REMOVAL, |_, s: &State| {
            s.epochs.iter().enumerate().any(|(x, e)| {
                matches!(e.kind, Kind::Remove(_))
                    && e.stable_since.is_some()
                    && s.epochs.iter().any(|c| c.parent == Some(x as EpochId))
            })
        }),
    ]
}

fn stable_of_kind(s: &State, f: impl Fn(Kind) -> bool) -> bool {
    s.epochs
        .iter()
        .any(|e| f(e.kind) && e.stable_since.is_some())
}

/// Which commits and which later epochs a P1 check covers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Remove commits; later epochs numbered >= X.
    Removals,
    /// Failover commits; later epochs numbered > X.
    Failovers,
    /// Both; later epochs of any number.
    Literal,
    /// Remove commits of this participant; later epochs numbered >= X.
    RemovalOf(Pid),
}

/// P1: once a commit X removing R is stable, (a) every epoch numbered beyond X descends from X,
/// and (b) no epoch created after that moment (numbered >= X unless `Literal`) has R in its
/// roster (R would get its keys).
fn removal_durable(s: &State, scope: Scope) -> bool {
    s.epochs.iter().enumerate().all(|(x, ex)| {
        let relevant = match (ex.kind, scope) {
            (Kind::Remove(_), Scope::Removals | Scope::Literal) => true,
            (Kind::Remove(r), Scope::RemovalOf(b)) => r == b,
            (Kind::Failover(_), Scope::Failovers | Scope::Literal) => true,
            _ => false,
        };
        let Some(since) = ex.stable_since else {
            return true;
        };
        if !relevant {
            return true;
        }
        s.epochs.iter().enumerate().all(|(y, ey)| {
            let beyond_ok =
                ey.number <= ex.number || s.is_ancestor_or_self(x as EpochId, y as EpochId);
            let covered = match scope {
                Scope::Removals | Scope::RemovalOf(_) => ey.number >= ex.number,
                // The voted-out leader may still make one sibling of X (same number) on the
                // parent: it cannot know it was voted out. It cannot grow (checked above).
                Scope::Failovers => ey.number > ex.number,
                Scope::Literal => true,
            };
            let keys_ok = (y as u8) < since || !covered || ey.roster & ex.removed() == 0;
            beyond_ok && keys_ok
        })
    })
}

/// P2: two different commits for the same epoch number are never both stable.
fn one_stable_per_number(s: &State) -> bool {
    s.epochs.iter().enumerate().all(|(x, ex)| {
        s.epochs.iter().enumerate().all(|(y, ey)| {
            x == y
                || ex.number != ey.number
                || ex.stable_since.is_none()
                || ey.stable_since.is_none()
        })
    })
}

/// The ancestor of `id` (or `id` itself) with epoch number `number`.
fn ancestor_at(s: &State, id: EpochId, number: u8) -> Option<EpochId> {
    let mut cur = Some(id);
    while let Some(c) = cur {
        let e = s.epoch(c)?;
        if e.number == number {
            return Some(c);
        }
        cur = e.parent;
    }
    None
}

/// At a fork (two different children of one epoch F), at most one branch reaches F + 2.
fn one_branch_grows(s: &State) -> bool {
    let tips: Vec<EpochId> = (0..s.epochs.len() as EpochId).collect();
    tips.iter().all(|&a| {
        tips.iter().all(|&b| {
            let (Some(ea), Some(eb)) = (s.epoch(a), s.epoch(b)) else {
                return true;
            };
            if a == b || s.is_ancestor_or_self(a, b) || s.is_ancestor_or_self(b, a) {
                return true;
            }
            // The fork point: the deepest common ancestor.
            let Some(fork) = (1..=ea.number.min(eb.number)).rev().find_map(|n| {
                let (pa, pb) = (ancestor_at(s, a, n)?, ancestor_at(s, b, n)?);
                (pa == pb).then_some(pa)
            }) else {
                return true;
            };
            let fork_number = s.epoch(fork).map_or(0, |f| f.number);
            ea.number < fork_number.saturating_add(2) || eb.number < fork_number.saturating_add(2)
        })
    })
}
