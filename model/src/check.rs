//! Running the checker and explaining what it found in plain words.

use crate::config::Config;
use crate::model::{Action, Succession};
use crate::state::{EpochId, Kind, Pid, Set, State, members};
use stateright::{Checker, Model, Path};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// What one exhaustive run found.
#[derive(Debug)]
pub struct Report {
    /// The configuration checked.
    pub config: Config,
    /// Distinct states visited.
    pub unique_states: usize,
    /// States generated, repeats included.
    pub total_states: usize,
    /// The longest path explored.
    pub max_depth: usize,
    /// Wall time.
    pub elapsed: Duration,
    /// Property name → the (shortest, BFS) path that discovered it: a counterexample for an
    /// `always` property, an example for a `sometimes` one.
    pub discoveries: BTreeMap<&'static str, Vec<String>>,
}

impl Report {
    /// Whether the property has a discovery.
    pub fn found(&self, property: &str) -> bool {
        self.discoveries.contains_key(property)
    }

    /// One summary line (the counts to quote in the spec).
    pub fn summary(&self) -> String {
        let found: Vec<&str> = self.discoveries.keys().copied().collect();
        format!(
            "{}: {} unique states, {} generated, max depth {}, {:.1?}; discoveries: {:?}",
            self.config.describe(),
            self.unique_states,
            self.total_states,
            self.max_depth,
            self.elapsed,
            found
        )
    }
}

/// Checks every reachable state of `config` breadth-first on one thread (shortest traces).
pub fn check(config: Config) -> Report {
    let start = Instant::now();
    let model = Succession::new(config);
    let checker = model.clone().checker().spawn_bfs().join();
    let discoveries = checker
        .discoveries()
        .into_iter()
        .map(|(name, path)| (name, explain(&model, path)))
        .collect();
    Report {
        config,
        unique_states: checker.unique_state_count(),
        total_states: checker.state_count(),
        max_depth: checker.max_depth(),
        elapsed: start.elapsed(),
        discoveries,
    }
}

/// The shortest path (breadth-first, one thread, stopping at the first discovery) to a state
/// that violates an `always` property or satisfies a `sometimes` one, in plain words; `None` if
/// there is none within the bounds.
pub fn shortest_trace(config: Config, property: &'static str) -> Option<Vec<String>> {
    let model = Succession::only(config, property);
    let checker = model.clone().checker().spawn_bfs().join();
    checker
        .discovery(property)
        .map(|path| explain(&model, path))
}

/// A participant's name: A is the creator and first leader.
pub fn name(p: Pid) -> char {
    char::from(b'A'.saturating_add(p))
}

fn names(set: Set) -> String {
    let s: String = members(set).map(name).collect();
    format!("{{{s}}}")
}

fn epoch_label(s: &State, id: EpochId) -> String {
    let Some(e) = s.epoch(id) else {
        return format!("#{id}");
    };
    let what = match e.kind {
        Kind::Create => "created".to_string(),
        Kind::Remove(r) => format!("{} removes {}", name(e.leader), name(r)),
        Kind::Failover(set) => format!("{} fails over, removing {}", name(e.leader), names(set)),
    };
    let parent = e.parent.map_or(String::new(), |p| format!(", on #{p}"));
    format!(
        "epoch {} #{id} ({what}{parent}; roster {})",
        e.number,
        names(e.roster)
    )
}

/// The path as numbered plain-language steps, each followed by the resulting stability.
pub fn explain(model: &Succession, path: Path<State, Action>) -> Vec<String> {
    let mut lines = Vec::new();
    for (before, action) in path.into_vec() {
        let Some(action) = action else { continue };
        let Some(after) = model.next_state(&before, action) else {
            continue;
        };
        let text = match action {
            Action::Remove { .. } | Action::Failover { .. } => {
                let id = (after.epochs.len() - 1) as EpochId;
                format!("creates {}", epoch_label(&after, id))
            }
            Action::Suspect { member } => {
                let part = after.parts.get(usize::from(member));
                let k = part.map_or(0, |p| p.suspects);
                let at = match part.map(|p| p.status) {
                    Some(crate::state::Status::At(id)) => id,
                    _ => 0,
                };
                let e = after.epoch(at);
                let sus = e.map_or(0, |e| e.suspected(k));
                let cand = e.and_then(|e| e.successor(k)).map_or('?', name);
                if cand == name(member) {
                    format!(
                        "{}'s watchdog fires at #{at}: suspects {}, is now the candidate",
                        name(member),
                        names(sus)
                    )
                } else {
                    format!(
                        "{}'s watchdog fires at #{at}: suspects {}, votes for {cand}",
                        name(member),
                        names(sus)
                    )
                }
            }
            Action::Deliver { member, epoch } => {
                format!(
                    "relay delivers {} to {}",
                    epoch_label(&after, epoch),
                    name(member)
                )
            }
            Action::Leave { member } => format!("{} leaves", name(member)),
            Action::Crash { leader } => format!("{} crashes", name(leader)),
            Action::ByzantineAck { epoch } => {
                let m = model.config.byzantine_pid().map_or('?', name);
                format!(
                    "{m} (Byzantine) signs an ack of {}",
                    epoch_label(&after, epoch)
                )
            }
            Action::ByzantineVote { epoch, suspects } => {
                let m = model.config.byzantine_pid().map_or('?', name);
                let e = after.epoch(epoch);
                let sus = e.map_or(0, |e| e.suspected(suspects));
                let cand = e.and_then(|e| e.successor(suspects)).map_or('?', name);
                format!(
                    "{m} (Byzantine) votes at #{epoch}: suspects {}, votes for {cand}",
                    names(sus)
                )
            }
        };
        let stable: Vec<String> = (0..after.epochs.len())
            .filter(|i| {
                after
                    .epochs
                    .get(*i)
                    .is_some_and(|e| e.stable_since.is_some())
            })
            .map(|i| format!("#{i}"))
            .collect();
        lines.push(format!("{text}   [stable: {}]", stable.join(" ")));
    }
    lines
}
