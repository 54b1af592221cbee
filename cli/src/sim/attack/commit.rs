//! Forged and replayed commits and Welcomes (`spec/state-machine.md` section 6): a signed commit
//! with a field changed, key-tree entries swapped, old commits and Welcomes re-sent, and commits
//! signed by a member who is not the leader.

use std::time::Duration;

use conclave_core::IdentityKey;
use conclave_core::protocol::v1::{CommitReason, RemoveReason};
use conclave_core::sim::forge;
use conclave_core::sim::{InFlight, TapAction};

use super::{Attack, Findings, Flavor, inject_all};
use crate::CliError;
use crate::sim::runner::Runner;

/// `tamper-commit` and `swap-tree-entries`: the leader rotates; the relay changes the signed
/// commit (the lock flag) or swaps two wrapped keys of its key-tree entries, and forwards the
/// genuine commit too.
pub(crate) struct TamperCommit {
    swap: bool,
}

impl TamperCommit {
    /// Swaps tree entries if `swap`, otherwise flips the lock flag.
    pub fn new(swap: bool) -> Self {
        Self { swap }
    }
}

impl Attack for TamperCommit {
    fn flavor(&self) -> Flavor {
        Flavor::Detected
    }

    fn expected(&self) -> &'static [&'static str] {
        if self.swap {
            &["RootMismatch", "BadProof", "BadRoster", "Tree"]
        } else {
            &["BadSignature"]
        }
    }

    fn start(&mut self, r: &mut Runner, f: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = r.leader() else {
            return Ok(None);
        };
        let swap = self.swap;
        let from = leader.clone();
        r.set_mutate(Some(Box::new(move |m: &mut InFlight| {
            if m.from != from {
                return TapAction::Deliver;
            }
            let forged = if swap {
                forge::swap_first_entries(&m.payload)
            } else {
                forge::flip_commit_lock(&m.payload)
            };
            match forged {
                Some(f) => {
                    let genuine = m.clone();
                    m.payload = f;
                    TapAction::DeliverWith(vec![genuine])
                }
                None => TapAction::Deliver,
            }
        })));
        let _ = r.act(&leader, |m, now, _| m.rotate(now));
        f.state_unchanged = Some(true);
        Ok(Some(if swap {
            format!(
                "{leader} rotates the keys; the relay swaps two wrapped node keys in the \
                 commit's key-tree entries, then forwards the genuine commit too"
            )
        } else {
            format!(
                "{leader} rotates the keys; the relay flips the lock flag inside the signed \
                 commit, then forwards the genuine commit too"
            )
        }))
    }

    fn step(
        &mut self,
        r: &mut Runner,
        _: &mut Findings,
        elapsed: Duration,
    ) -> Result<bool, CliError> {
        if elapsed < Duration::from_secs(1) {
            return Ok(false);
        }
        r.set_mutate(None);
        Ok(true)
    }

    fn verdict(&self, _: &Runner, f: &mut Findings) -> bool {
        f.detected()
    }
}

/// `replay-commit`: the relay re-sends every earlier commit to every member.
pub(crate) struct ReplayCommit;

impl Attack for ReplayCommit {
    fn flavor(&self) -> Flavor {
        Flavor::Detected
    }

    fn one_shot(&self) -> bool {
        true
    }

    fn expected(&self) -> &'static [&'static str] {
        &["StaleEpoch", "Unexpected"]
    }

    fn start(&mut self, r: &mut Runner, f: &mut Findings) -> Result<Option<String>, CliError> {
        let commits: Vec<Vec<u8>> = r
            .control_log()
            .iter()
            .filter(|m| forge::is_commit(&m.payload))
            .map(|m| m.payload.clone())
            .collect();
        let targets = r.active();
        let text = format!(
            "the relay re-sends all {} earlier commits to each of the {} members",
            commits.len(),
            targets.len()
        );
        let msgs = targets
            .iter()
            .flat_map(|t| commits.iter().map(move |c| (t.clone(), c.clone())))
            .collect();
        inject_all(r, f, msgs);
        Ok(Some(text))
    }

    fn verdict(&self, _: &Runner, f: &mut Findings) -> bool {
        f.detected()
    }
}

/// `stale-welcome`: the relay re-sends old Welcomes (sealed path keys) to the members they
/// admitted.
pub(crate) struct StaleWelcome;

impl Attack for StaleWelcome {
    fn flavor(&self) -> Flavor {
        Flavor::Detected
    }

    fn one_shot(&self) -> bool {
        true
    }

    fn expected(&self) -> &'static [&'static str] {
        &["StaleEpoch", "Invalid"]
    }

    fn start(&mut self, r: &mut Runner, f: &mut Findings) -> Result<Option<String>, CliError> {
        let active = r.active();
        let welcomes: Vec<(String, Vec<u8>)> = r
            .control_log()
            .iter()
            .filter(|m| forge::is_welcome(&m.payload) && active.contains(&m.to))
            .map(|m| (m.to.clone(), m.payload.clone()))
            .collect();
        let text = format!(
            "the relay re-sends {} old Welcomes (sealed path keys) to the members \
             they once admitted",
            welcomes.len()
        );
        inject_all(r, f, welcomes);
        Ok(Some(text))
    }

    fn verdict(&self, _: &Runner, f: &mut Findings) -> bool {
        f.detected()
    }
}

/// `non-leader-commit`: a malicious member signs commits in the leader's place (removing a
/// member, taking the lead); the relay delivers them to the other members.
pub(crate) struct NonLeaderCommit;

impl Attack for NonLeaderCommit {
    fn flavor(&self) -> Flavor {
        Flavor::Detected
    }

    fn one_shot(&self) -> bool {
        true
    }

    fn expected(&self) -> &'static [&'static str] {
        &["BadSignature", "NotLeader", "Unexpected"]
    }

    fn start(&mut self, r: &mut Runner, f: &mut Findings) -> Result<Option<String>, CliError> {
        let Some(leader) = r.leader() else {
            return Ok(None);
        };
        let members: Vec<String> = r.active().into_iter().filter(|id| *id != leader).collect();
        let Some(malicious) = members.first().cloned() else {
            return Ok(None);
        };
        let secret = r.keys.get(&malicious).copied().unwrap_or_default();
        let key = IdentityKey::from_secret_bytes(&secret)
            .map_err(|e| CliError::failed(format!("attack setup: {e}")))?;
        let mut victims: Vec<String> = members.get(1..).unwrap_or_default().to_vec();
        if victims.is_empty() {
            victims.push(leader.clone());
        }
        let mut msgs = Vec::new();
        for v in &victims {
            let m = &r.sim().participants[v];
            let mal_leaf = m
                .participants()
                .iter()
                .find(|p| p.participant_id == malicious)
                .map(|p| p.leaf)
                .unwrap_or(0);
            let target = m
                .participants()
                .iter()
                .find(|p| p.participant_id != malicious && p.leaf != m.leader_leaf())
                .map(|p| p.leaf)
                .unwrap_or_else(|| m.own_leaf());
            let removes = [(target, RemoveReason::Removed)];
            let leader_leaf = m.leader_leaf();
            let membership = CommitReason::Membership;
            let remove = forge::forged_commit(m, &key, leader_leaf, membership, &removes, true);
            let take_lead =
                forge::forged_commit(m, &key, mal_leaf, CommitReason::Handover, &[], true);
            msgs.push((v.clone(), remove));
            msgs.push((v.clone(), take_lead));
        }
        let text = format!(
            "{malicious} (a malicious member) signs commits that remove a member in \
             {leader}'s name and hand the lead to itself; the relay delivers them to {}",
            victims.join(", ")
        );
        inject_all(r, f, msgs);
        Ok(Some(text))
    }

    fn verdict(&self, _: &Runner, f: &mut Findings) -> bool {
        f.detected()
    }
}
