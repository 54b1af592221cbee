"""The bindings behave like Python objects (each test failed on the raw uniffi module)."""

import copy
import dataclasses
import os
import pickle

import pytest

import conclave

MEETING_ID = b"pythonic-meeting-0001"


@pytest.fixture
def meeting():
    return conclave.Meeting.create(MEETING_ID, "alice", conclave.Identity.generate(), 0)


@pytest.mark.parametrize("how", [copy.copy, copy.deepcopy, pickle.dumps])
def test_native_objects_refuse_copy_and_pickle(meeting, how):
    # Before: copy.copy duplicated the native handle and both copies freed it (a crash).
    for obj in (meeting, meeting.frame_crypto(), conclave.Identity.generate()):
        with pytest.raises(TypeError, match="native object"):
            how(obj)
    assert meeting.is_active()  # the original is untouched


def test_identity_pickle_error_says_how_to_move_it():
    with pytest.raises(TypeError, match="export_secret"):
        pickle.dumps(conclave.Identity.generate())


def test_records_have_dataclass_fields_repr_and_replace(meeting):
    (p,) = meeting.participants()
    assert [f.name for f in dataclasses.fields(p)] == [
        "participant_id", "leaf", "admitted_epoch", "fingerprint", "is_leader"]
    assert dataclasses.asdict(p)["participant_id"] == "alice"
    assert repr(p).startswith("Participant(participant_id='alice', leaf=0")
    o = conclave.MeetingOptions(require_post_quantum=True)
    o2 = dataclasses.replace(o, max_participants=10)
    # Before: replace() silently reset require_post_quantum to False.
    assert o2.require_post_quantum is True and o2.max_participants == 10
    assert o2 != o and o2 == dataclasses.replace(o, max_participants=10)
    assert (o == 5) is False  # no AttributeError


def test_enum_variants_compare_with_eq():
    assert conclave.Recipient.ALL() == conclave.Recipient.ALL
    assert conclave.Recipient.ALL == conclave.Recipient.ALL()
    assert conclave.Destination.LEADER() == conclave.Destination.LEADER
    assert conclave.Destination.LEADER() != conclave.Destination.ALL
    assert conclave.AdmissionPolicy.MANUAL() in {conclave.AdmissionPolicy.MANUAL()}
    e = conclave.MeetingEvent.SEND_EPOCH(epoch=2)
    assert e == conclave.MeetingEvent.SEND_EPOCH(epoch=2)
    assert e != conclave.MeetingEvent.SEND_EPOCH(epoch=3)
    assert repr(e) == "MeetingEvent.SEND_EPOCH(epoch=2)"
    assert conclave.CipherSuite.X_WING == conclave.CipherSuite.X_WING


def test_str_of_an_error_is_the_sentence(meeting):
    with pytest.raises(conclave.ConclaveError.UnknownParticipant) as e:
        meeting.remove("nobody", 0)
    assert str(e.value) == "no participant nobody in the meeting"
    assert repr(e.value) == (
        "ConclaveError.UnknownParticipant(kind='unknown_participant', participant_id='nobody')"
    )


def test_every_error_has_a_stable_kind(meeting):
    # The variant groups what to do; `kind` says exactly what happened (the engine's names).
    with pytest.raises(conclave.ConclaveError.UnknownParticipant) as e:
        meeting.remove("nobody", 0)
    assert e.value.kind == "unknown_participant"
    with pytest.raises(conclave.ConclaveError.InvalidArgument) as e:
        meeting.handle_timeout(-1)
    assert e.value.kind == "invalid_argument"
    with pytest.raises(conclave.ConclaveError.Decode) as e:
        meeting.handle_message(b"\xff\x00 not a message", 0)
    assert e.value.kind == "decode"
    # A message of another meeting: refused, with the engine's kind.
    other = conclave.Meeting.join(b"another-meeting-0001", "mallory",
                                  conclave.Identity.generate(), 0)
    announcement = other.poll_transmit()
    with pytest.raises(conclave.ConclaveError.Rejected) as e:
        meeting.handle_message(announcement.payload, 0)
    assert e.value.kind == "wrong_meeting"
    assert "another meeting" in str(e.value)
    bob = conclave.Meeting.join(MEETING_ID, "bob", conclave.Identity.generate(), 0)
    with pytest.raises(conclave.ConclaveError.NotInMeeting) as e:
        bob.rotate(0)  # still joining
    assert e.value.kind == "not_in_meeting"


def test_negative_times_are_invalid_arguments(meeting):
    with pytest.raises(conclave.ConclaveError.InvalidArgument, match="negative"):
        meeting.handle_timeout(-1)


def test_version_and_py_typed():
    assert conclave.__version__ == conclave.library_version()
    assert conclave.__version__.count(".") == 2
    assert os.path.exists(os.path.join(os.path.dirname(conclave.__file__), "py.typed"))


def test_logs_reach_python_logging_keyed_by_participant(caplog):
    caplog.set_level("DEBUG", logger="conclave")
    conclave.use_python_logging(level=conclave.LogLevel.DEBUG)
    try:
        sent = []

        class Net(conclave.Transport):
            def send(self, to, payload):
                sent.append(to)

        class Quiet(conclave.Listener):
            def on_event(self, event):
                pass

        s = conclave.MeetingSession.join(MEETING_ID, "logbob", conclave.Identity.generate(),
                                         Net(), Quiet(), 0)
        s.tick(0)
        with pytest.raises(conclave.ConclaveError.Decode):
            s.receive(b"not a message", 1)
    finally:
        conclave.set_logger(None, conclave.LogLevel.ERROR)
    assert sent == [conclave.Recipient.ALL]  # the leader is not known while joining
    mine = [r for r in caplog.records if getattr(r, "participant_id", None) == "logbob"]
    rejected = [r for r in mine if r.levelname == "WARNING" and r.kind == "decode"]
    assert rejected and "message rejected" in rejected[0].getMessage()
    assert any("sent to all" in r.getMessage() for r in mine)
