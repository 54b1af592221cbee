"""An in-memory relay (SFU) for tests: it routes the meetings' messages and never decrypts.

Destination.ALL goes to every other participant, Destination.PARTICIPANT to one, and
Destination.LEADER to the current leader. A real relay learns the leader from the signed
commits it carries (or simply broadcasts: recipients ignore what is not for them); this one
asks the engines, which is equivalent and keeps the test short.
"""

from collections import deque

import conclave


class Relay:
    def __init__(self):
        self.clock_ms = 0
        self.members = {}  # participant id -> conclave.Meeting
        self.events = {}  # participant id -> [MeetingEvent]
        self.rejections = []  # (recipient, ConclaveError)
        self.queue = deque()  # (sender, Destination, payload)

    # ----- membership -----

    def create(self, pid, identity, meeting_id, options=None):
        m = conclave.Meeting.create(meeting_id, pid, identity, self.clock_ms, options)
        self._attach(pid, m)
        return m

    def join(self, pid, identity, meeting_id):
        m = conclave.Meeting.join(meeting_id, pid, identity, self.clock_ms)
        self._attach(pid, m)
        return m

    def _attach(self, pid, meeting):
        self.members[pid] = meeting
        self.events[pid] = []
        self.collect(pid)

    def detach(self, pid):
        """Stops routing to a participant that left or was removed (after taking its last
        messages and events). Returns its Meeting."""
        self.collect(pid)
        return self.members.pop(pid)

    # ----- routing -----

    def collect(self, pid):
        """Moves a participant's outgoing messages into the relay and records its events."""
        m = self.members[pid]
        while (t := m.poll_transmit()) is not None:
            self.queue.append((pid, t.destination, t.payload))
        self.events[pid].extend(m.poll_events())

    def leader(self):
        for pid, m in self.members.items():
            if m.is_leader():
                return pid
        return None

    def targets(self, sender, destination):
        if destination.is_participant():
            return [destination.participant_id]
        if destination.is_leader():
            leader = self.leader()
            if leader is not None and leader != sender:
                return [leader]
        # ALL (or no known leader): everyone else.
        return [p for p in self.members if p != sender]

    def run_due_timers(self):
        """Runs the timers due at the current clock (e.g. the leader's batched commit)."""
        for m in self.members.values():
            t = m.poll_timeout_ms()
            if t is not None and t <= self.clock_ms:
                m.handle_timeout(self.clock_ms)
        for pid in list(self.members):
            self.collect(pid)

    def pump(self, max_messages=10_000):
        """Delivers messages and runs due timers until nothing is in flight."""
        n = 0
        self.run_due_timers()
        while self.queue:
            while self.queue:
                sender, destination, payload = self.queue.popleft()
                for to in self.targets(sender, destination):
                    if to not in self.members:
                        continue
                    try:
                        self.members[to].handle_message(payload, self.clock_ms)
                    except conclave.ConclaveError as e:
                        self.rejections.append((to, e))
                    self.collect(to)
                n += 1
                assert n < max_messages, "relay loop does not settle"
            self.run_due_timers()

    def advance(self, ms):
        """Moves the clock forward, running every timer that falls due on the way."""
        end = self.clock_ms + ms
        while True:
            due = [m.poll_timeout_ms() for m in self.members.values()]
            due = [d for d in due if d is not None and d <= end]
            self.clock_ms = max(self.clock_ms, min(due)) if due else end
            self.pump()
            if not due:
                return

    def take_events(self, pid):
        ev, self.events[pid] = self.events[pid], []
        return ev
