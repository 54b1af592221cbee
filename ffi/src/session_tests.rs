//! Tests of [`super::MeetingSession`]: routing, timers, the seal executor, re-entrant callbacks.

use std::sync::Weak;

use super::*;

const MEETING: &[u8] = b"meeting-0123456789abcdef";

/// A relay that queues messages; `run` delivers them until quiet.
#[derive(Default)]
struct Net {
    queue: Mutex<VecDeque<(String, Recipient, Vec<u8>)>>,
    members: Mutex<Vec<(String, Weak<MeetingSession>)>>,
    events: Mutex<Vec<(String, MeetingEvent)>>,
}

struct Port(Arc<Net>, String);

impl Transport for Port {
    fn send(&self, to: Recipient, payload: Vec<u8>) -> Result<(), CallbackError> {
        self.0
            .queue
            .lock()
            .expect("queue")
            .push_back((self.1.clone(), to, payload));
        Ok(())
    }
}

impl Listener for Port {
    fn on_event(&self, event: MeetingEvent) -> Result<(), CallbackError> {
        self.0
            .events
            .lock()
            .expect("events")
            .push((self.1.clone(), event));
        Ok(())
    }
}

impl Net {
    fn add(self: &Arc<Self>, pid: &str, leader: bool) -> Arc<MeetingSession> {
        let port = Arc::new(Port(Arc::clone(self), pid.into()));
        let id = Identity::generate().expect("id");
        let start = if leader {
            MeetingSession::create
        } else {
            MeetingSession::join
        };
        let s = start(
            MEETING.to_vec(),
            pid.into(),
            id,
            port.clone(),
            port,
            0,
            None,
        )
        .expect("session");
        self.members
            .lock()
            .expect("members")
            .push((pid.into(), Arc::downgrade(&s)));
        s.tick(0).expect("first tick");
        s
    }

    /// Delivers until nothing is queued; returns the recipients of each message.
    fn run(&self, now: i64) -> Vec<Recipient> {
        let mut seen = Vec::new();
        loop {
            let next = self.queue.lock().expect("queue").pop_front();
            let Some((from, to, payload)) = next else {
                return seen;
            };
            seen.push(to.clone());
            let members: Vec<_> = self.members.lock().expect("members").clone();
            for (pid, s) in members {
                let wanted = match &to {
                    Recipient::All => pid != from,
                    Recipient::Participant { participant_id } => *participant_id == pid,
                };
                if let (true, Some(s)) = (wanted, s.upgrade()) {
                    // Messages for someone else may be refused; that changes nothing.
                    let _ = s.receive(payload.clone(), now);
                }
            }
        }
    }
}

/// Alice creates, Bob and Carol join; after the first heartbeat round (3 s) all three agree.
fn three(net: &Arc<Net>) -> [Arc<MeetingSession>; 3] {
    let alice = net.add("alice", true);
    let bob = net.add("bob", false);
    net.run(0);
    let carol = net.add("carol", false);
    net.run(0);
    for s in [&alice, &bob, &carol] {
        s.tick(3_000).expect("tick");
    }
    net.run(3_000);
    [alice, bob, carol]
}

#[test]
fn sessions_route_to_the_leader_and_deliver_events() {
    let net = Arc::new(Net::default());
    let [alice, bob, carol] = three(&net);
    let code = alice.meeting().security_code();
    assert!(code.is_some());
    assert_eq!(code, bob.meeting().security_code());
    assert_eq!(code, carol.meeting().security_code());
    // Carol's leave is addressed to the leader by id, never to an unresolvable "leader".
    carol.leave(3_001).expect("leave");
    let sent = net.run(3_001);
    assert!(
        sent.contains(&Recipient::Participant {
            participant_id: "alice".into()
        }),
        "{sent:?}"
    );
    let events = net.events.lock().expect("events");
    assert!(
        events
            .iter()
            .any(|(p, e)| p == "bob" && matches!(e, MeetingEvent::Joined { .. }))
    );
    assert!(
        events
            .iter()
            .any(|(p, e)| p == "carol" && matches!(e, MeetingEvent::Ended { .. }))
    );
}

#[test]
fn ticks_report_the_next_deadline_and_reject_negative_time() {
    let net = Arc::new(Net::default());
    let alice = net.add("alice", true);
    let next = alice.tick(0).expect("tick").expect("a deadline");
    assert!(next > 0);
    assert_eq!(alice.next_tick_ms(), Some(next));
    let e = alice.tick(-1).expect_err("negative");
    assert!(matches!(e, ConclaveError::InvalidArgument { .. }), "{e}");
}

/// An executor that keeps the tasks it is given (the test runs them on threads).
#[derive(Default)]
struct Pool(Mutex<Vec<Arc<SealTask>>>);

impl SealExecutor for Pool {
    fn execute(&self, task: Arc<SealTask>) -> Result<(), CallbackError> {
        self.0.lock().expect("pool").push(task);
        Ok(())
    }
}

/// An executor that refuses every task (the session then seals inline).
struct Refusing;

impl SealExecutor for Refusing {
    fn execute(&self, _: Arc<SealTask>) -> Result<(), CallbackError> {
        Err(CallbackError::Failed {
            reason: "pool shut down".into(),
        })
    }
}

/// Alice, Bob and Carol agree; Alice hands the lead to Bob, whose rebuild seals go to
/// `executor` (if any). Returns the three sessions after the handover was delivered.
fn handover_to_bob(
    net: &Arc<Net>,
    executor: Option<Arc<dyn SealExecutor>>,
) -> [Arc<MeetingSession>; 3] {
    let [alice, bob, carol] = three(net);
    bob.set_seal_executor(executor);
    alice.hand_over("bob".into(), 3_001).expect("hand over");
    net.run(3_001);
    [alice, bob, carol]
}

fn agree(sessions: &[Arc<MeetingSession>], net: &Net, from: i64) -> bool {
    for now in [from, from + 1, from + 3_000, from + 3_001] {
        for s in sessions {
            s.tick(now).expect("tick");
        }
        net.run(now);
    }
    let codes: Vec<_> = sessions
        .iter()
        .map(|s| s.meeting().security_code())
        .collect();
    codes[0].is_some() && codes.iter().all(|c| *c == codes[0])
}

#[test]
fn rebuild_seals_run_on_the_applications_executor() {
    let net = Arc::new(Net::default());
    let pool = Arc::new(Pool::default());
    let all = handover_to_bob(&net, Some(pool.clone()));
    assert!(all[1].meeting().is_leader(), "bob leads after the handover");
    let tasks: Vec<_> = std::mem::take(&mut *pool.0.lock().expect("pool"));
    let mut to: Vec<String> = tasks.iter().map(|t| t.recipient()).collect();
    to.sort();
    assert_eq!(
        to,
        ["alice", "carol"],
        "one seal per other member, none inline"
    );
    // The application runs them on its own threads.
    std::thread::scope(|scope| {
        for t in &tasks {
            scope.spawn(|| t.run().expect("seal"));
        }
    });
    tasks[0].run().expect("a second run does nothing");
    assert!(
        agree(&all, &net, 3_002),
        "everyone agrees after the offloaded rebuild"
    );
}

#[test]
fn a_refused_seal_task_is_run_inline() {
    let net = Arc::new(Net::default());
    let all = handover_to_bob(&net, Some(Arc::new(Refusing)));
    assert!(all[1].meeting().is_leader());
    assert!(agree(&all, &net, 3_002), "the Welcomes went out anyway");
}

/// A listener that calls back into the session from inside `on_event`.
struct Reentrant(Mutex<Option<Weak<MeetingSession>>>, Mutex<u32>);

impl Transport for Reentrant {
    fn send(&self, _: Recipient, _: Vec<u8>) -> Result<(), CallbackError> {
        Err(CallbackError::Failed {
            reason: "offline".into(),
        })
    }
}

impl Listener for Reentrant {
    fn on_event(&self, _: MeetingEvent) -> Result<(), CallbackError> {
        *self.1.lock().expect("count") += 1;
        let s = self.0.lock().expect("session").clone();
        if let Some(s) = s.and_then(|w| w.upgrade()) {
            // Would deadlock if callbacks ran under the session's lock.
            let _ = s.meeting().epoch();
            let _ = s.tick(1);
        }
        Ok(())
    }
}

#[test]
fn callbacks_may_reenter_and_fail() {
    let cb = Arc::new(Reentrant(Mutex::new(None), Mutex::new(0)));
    let s = MeetingSession::create(
        MEETING.to_vec(),
        "alice".into(),
        Identity::generate().expect("id"),
        cb.clone(),
        cb.clone(),
        0,
        None,
    )
    .expect("create");
    *cb.0.lock().expect("session") = Some(Arc::downgrade(&s));
    s.tick(0)
        .expect("a failing transport is not the caller's error");
    assert!(*cb.1.lock().expect("count") > 0, "events delivered");
    assert!(s.meeting().is_active());
}
