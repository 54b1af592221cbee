"""Manual admission driven from Python: the leader's application decides who gets the keys."""

import pytest

import conclave
from conclave import ConclaveError, JoinRefusal, MeetingEvent
from relay import Relay

MEETING_ID = b"python-admission-0001"


def kinds(events, cls):
    return [e for e in events if isinstance(e, cls)]


def test_manual_admission_admits_and_denies():
    relay = Relay()
    options = conclave.default_meeting_options()
    options.admission = conclave.AdmissionPolicy.MANUAL()
    relay.create("alice", conclave.Identity.generate(), MEETING_ID, options)
    alice = relay.members["alice"]
    bob_identity = conclave.Identity.generate()
    relay.join("bob", bob_identity, MEETING_ID)
    relay.join("mallory", conclave.Identity.generate(), MEETING_ID)  # the relay's own
    relay.pump()

    # Nobody is in before the application decides; each join is one request.
    assert not relay.members["bob"].is_active()
    assert not relay.members["mallory"].is_active()
    requests = kinds(relay.take_events("alice"), MeetingEvent.JOIN_REQUESTED)
    assert sorted(r.participant_id for r in requests) == ["bob", "mallory"]
    bob_request = next(r for r in requests if r.participant_id == "bob")
    assert bob_request.fingerprint == bob_identity.fingerprint()
    assert bob_request.suite_id == conclave.cipher_suite_id(alice.cipher_suite())

    alice.admit("bob", relay.clock_ms)
    alice.deny("mallory", relay.clock_ms)
    relay.pump()
    assert relay.members["bob"].is_active()
    assert [p.participant_id for p in alice.participants()] == ["alice", "bob"]

    # Mallory keeps retrying: refused as denied, never asked about again, never admitted.
    relay.advance(25_000)
    events = relay.take_events("alice")
    assert kinds(events, MeetingEvent.JOIN_REQUESTED) == []
    refused = kinds(events, MeetingEvent.JOIN_REFUSED)
    assert refused
    assert all(e.participant_id == "mallory" for e in refused)
    assert all(e.reason == JoinRefusal.DENIED for e in refused)
    assert not relay.members["mallory"].is_active()
    assert [p.participant_id for p in alice.participants()] == ["alice", "bob"]
    assert relay.members["bob"].security_code() == alice.security_code()

    # Decisions need a request (or a refusal to lift) and the leader role.
    with pytest.raises(ConclaveError.UnknownParticipant):
        alice.deny("nobody", relay.clock_ms)
    with pytest.raises(ConclaveError.NotLeader):
        relay.members["bob"].admit("mallory", relay.clock_ms)

    # The application changes its mind: admit lifts the denial, the next retry asks again.
    alice.admit("mallory", relay.clock_ms)
    relay.advance(11_000)
    again = kinds(relay.take_events("alice"), MeetingEvent.JOIN_REQUESTED)
    assert [r.participant_id for r in again] == ["mallory"]
    alice.admit("mallory", relay.clock_ms)
    relay.pump()
    assert relay.members["mallory"].is_active()


def test_allow_list_refuses_others():
    relay = Relay()
    bob_identity = conclave.Identity.generate()
    options = conclave.default_meeting_options()
    options.admission = conclave.AdmissionPolicy.ALLOW_LIST(
        fingerprints=[bob_identity.fingerprint()]
    )
    relay.create("alice", conclave.Identity.generate(), MEETING_ID, options)
    relay.join("bob", bob_identity, MEETING_ID)
    relay.join("eve", conclave.Identity.generate(), MEETING_ID)
    relay.pump()
    assert relay.members["bob"].is_active()
    assert not relay.members["eve"].is_active()
    refused = kinds(relay.take_events("alice"), MeetingEvent.JOIN_REFUSED)
    # Eve announces again when she hears the first heartbeat: refused each time.
    assert refused
    assert {(e.participant_id, e.reason) for e in refused} == {("eve", JoinRefusal.NOT_ALLOWED)}
