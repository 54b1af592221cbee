"""A session's rebuild seals run on the application's executor (a handover makes Bob rebuild)."""

import concurrent.futures

import conclave

MEETING_ID = b"seal-executor-meeting-01"


class Net:
    """Sessions and an in-memory relay: ``run`` delivers until quiet."""

    def __init__(self):
        self.sessions = {}
        self.queue = []

    def add(self, pid, leader):
        net = self

        class Port(conclave.Transport, conclave.Listener):
            def send(self, to, payload):
                net.queue.append((pid, to, payload))

            def on_event(self, event):
                pass

        port = Port()
        factory = conclave.MeetingSession.create if leader else conclave.MeetingSession.join
        s = factory(MEETING_ID, pid, conclave.Identity.generate(), port, port, 0)
        self.sessions[pid] = s
        s.tick(0)
        return s

    def run(self, now):
        while self.queue:
            sender, to, payload = self.queue.pop(0)
            for pid, s in self.sessions.items():
                if to == conclave.Recipient.ALL and pid != sender or \
                        to == conclave.Recipient.PARTICIPANT(participant_id=pid):
                    try:
                        s.receive(payload, now)
                    except conclave.ConclaveError:
                        pass

    def settle(self, start):
        for now in (start, start + 1, start + 3000, start + 3001):
            for s in self.sessions.values():
                s.tick(now)
            self.run(now)


def meeting_of_three(net):
    net.add("alice", True)
    net.add("bob", False)
    net.run(0)
    net.add("carol", False)
    net.settle(0)


def test_rebuild_seals_go_to_the_executor_and_everyone_agrees():
    net = Net()
    meeting_of_three(net)
    tasks = []

    class Keep(conclave.SealExecutor):
        def execute(self, task):
            tasks.append(task)

    net.sessions["bob"].set_seal_executor(Keep())
    net.sessions["alice"].hand_over("bob", 3001)
    net.run(3001)
    assert net.sessions["bob"].meeting().is_leader()
    assert sorted(t.recipient() for t in tasks) == ["alice", "carol"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda t: t.run(), tasks))
    net.settle(3002)
    codes = {s.meeting().security_code() for s in net.sessions.values()}
    assert len(codes) == 1 and None not in codes


def test_thread_pool_adapter():
    net = Net()
    meeting_of_three(net)
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        net.sessions["bob"].set_seal_executor(conclave.ThreadPoolSealExecutor(pool))
        net.sessions["alice"].hand_over("bob", 3001)
        net.run(3001)
    # The pool has finished (shutdown waits); its Welcomes are queued at the relay.
    net.settle(3002)
    codes = {s.meeting().security_code() for s in net.sessions.values()}
    assert len(codes) == 1 and None not in codes
