"""A 3-person meeting through an in-memory relay, driven from Python."""

import threading

import pytest

import conclave
from conclave import ConclaveError, MeetingEvent, RemovalReason
from relay import Relay

MEETING_ID = b"python-meeting-0001"


def kinds(events, cls):
    return [e for e in events if isinstance(e, cls)]


@pytest.fixture
def meeting():
    """Alice creates, Bob and Carol join; returns the relay once everyone is in."""
    relay = Relay()
    relay.create("alice", conclave.Identity.generate(), MEETING_ID)
    relay.join("bob", conclave.Identity.generate(), MEETING_ID)
    relay.join("carol", conclave.Identity.generate(), MEETING_ID)
    relay.pump()
    # Senders move to the newest epoch after the switch-over delay (2 s by default); until then
    # they keep sealing with the epoch before the last join.
    relay.advance(3_000)
    return relay


def leaf_of(relay, pid):
    return relay.members[pid].own_leaf()


def assert_codes_agree(relay, pids):
    codes = {relay.members[p].security_code() for p in pids}
    assert len(codes) == 1, codes
    code = codes.pop()
    assert code is not None
    assert len(code.split()) == 6, code
    return code


def test_three_join_and_agree(meeting):
    r = meeting
    assert r.rejections == []
    for pid in ("alice", "bob", "carol"):
        m = r.members[pid]
        assert m.is_active()
        assert [p.participant_id for p in m.participants()] == ["alice", "bob", "carol"]
        joined = kinds(r.take_events(pid), MeetingEvent.JOINED)
        assert len(joined) == 1
    assert r.members["alice"].is_leader()
    assert not r.members["bob"].is_leader()
    epochs = {r.members[p].epoch() for p in r.members}
    assert len(epochs) == 1
    assert_codes_agree(r, ["alice", "bob", "carol"])
    # Fingerprints in the roster are the identities' fingerprints.
    roster = {p.participant_id: p for p in r.members["bob"].participants()}
    assert roster["alice"].is_leader
    assert roster["carol"].leaf == leaf_of(r, "carol")


def test_frames_flow_both_ways(meeting):
    r = meeting
    now = r.clock_ms
    for sender in ("alice", "bob", "carol"):
        fc = r.members[sender].frame_crypto()
        payload = f"hello from {sender}".encode()
        frame = fc.encrypt(1, b"\x90" + payload, 1)
        assert frame[-len(payload):] != payload  # encrypted
        for receiver in ("alice", "bob", "carol"):
            if receiver == sender:
                continue
            d = r.members[receiver].frame_crypto().decrypt(frame, now)
            assert d.plaintext == b"\x90" + payload
            assert d.sender == leaf_of(r, sender)
            assert d.stream == 1
            assert d.prefix_len == 1
            assert d.epoch == r.members[sender].send_epoch()
    diag = {s.sender: s for s in r.members["alice"].frame_crypto().diagnostics()}
    assert diag[leaf_of(r, "bob")].decrypted == 1
    assert diag[leaf_of(r, "carol")].decrypted == 1


def test_tampered_and_replayed_frames_raise(meeting):
    r = meeting
    alice = r.members["alice"].frame_crypto()
    bob = r.members["bob"].frame_crypto()
    frame = alice.encrypt(0, b"\x01audio-frame-bytes", 1)
    bad = bytearray(frame)
    bad[-1] ^= 0x01
    with pytest.raises(ConclaveError.Tampered) as exc:
        bob.decrypt(bytes(bad), r.clock_ms)
    e = exc.value
    assert e.sender == leaf_of(r, "alice")
    assert e.stream == 0
    assert e.epoch == r.members["alice"].epoch()
    assert "does not authenticate" in e.describe()
    # The genuine frame still decrypts once, then is a replay.
    assert bob.decrypt(frame, r.clock_ms).plaintext == b"\x01audio-frame-bytes"
    with pytest.raises(ConclaveError.Replayed) as exc:
        bob.decrypt(frame, r.clock_ms)
    assert exc.value.counter == 0
    with pytest.raises(ConclaveError.Decode):
        bob.decrypt(b"\xff", r.clock_ms)
    diag = {s.sender: s for s in bob.diagnostics()}[leaf_of(r, "alice")]
    assert (diag.decrypted, diag.tampered, diag.replayed) == (1, 1, 1)
    assert diag.participant_id is None  # the frame crypto knows leaves only
    # The meeting's view names the participant as well as the leaf.
    by_id = {s.participant_id: s for s in r.members["bob"].sender_diagnostics()}
    assert by_id["alice"].sender == leaf_of(r, "alice")
    assert (by_id["alice"].tampered, by_id["alice"].replayed) == (1, 1)


def test_leave_remove_and_rekey(meeting):
    r = meeting
    start_epoch = r.members["alice"].epoch()
    code_before = assert_codes_agree(r, ["alice", "bob", "carol"])
    for pid in r.members:
        r.take_events(pid)
    bob_fc = r.members["bob"].frame_crypto()

    # Bob leaves: the others move to a new epoch whose keys Bob does not have.
    r.members["bob"].leave(r.clock_ms)
    bob = r.detach("bob")  # the relay stops routing to Bob once he has left
    r.pump()
    assert bob.is_ended()
    assert kinds(r.take_events("bob"), MeetingEvent.ENDED)[0].reason == RemovalReason.LEFT
    for pid in ("alice", "carol"):
        ev = r.take_events(pid)
        removed = kinds(ev, MeetingEvent.PARTICIPANT_REMOVED)
        assert [(e.participant_id, e.reason) for e in removed] == [("bob", RemovalReason.LEFT)]
        assert kinds(ev, MeetingEvent.EPOCH_CHANGED)
        assert [p.participant_id for p in r.members[pid].participants()] == ["alice", "carol"]
    assert r.members["alice"].epoch() == start_epoch + 1
    code_after = assert_codes_agree(r, ["alice", "carol"])
    assert code_after != code_before

    # After the switch-over delay, frames are sealed with the new epoch.
    r.advance(3_000)
    frame = r.members["alice"].frame_crypto().encrypt(0, b"after bob left", 0)
    d = r.members["carol"].frame_crypto().decrypt(frame, r.clock_ms)
    assert (d.plaintext, d.epoch) == (b"after bob left", start_epoch + 1)
    with pytest.raises(ConclaveError.NoKeys):
        bob_fc.decrypt(frame, r.clock_ms)
    with pytest.raises(ConclaveError.NoKeys):
        bob_fc.encrypt(0, b"x", 0)

    # Only the leader removes; then Alice removes Carol, who can no longer decrypt.
    with pytest.raises(ConclaveError.NotLeader) as exc:
        r.members["carol"].remove("alice", r.clock_ms)
    assert "only the leader" in exc.value.describe()
    with pytest.raises(ConclaveError.UnknownParticipant):
        r.members["alice"].remove("mallory", r.clock_ms)
    carol_fc = r.members["carol"].frame_crypto()
    r.members["alice"].remove("carol", r.clock_ms)
    r.pump()
    assert kinds(r.take_events("carol"), MeetingEvent.ENDED)[0].reason == RemovalReason.REMOVED
    carol = r.detach("carol")
    assert carol.is_ended()
    with pytest.raises(ConclaveError.NotInMeeting):
        carol.leave(r.clock_ms)
    r.advance(3_000)
    frame = r.members["alice"].frame_crypto().encrypt(0, b"carol is out", 0)
    with pytest.raises(ConclaveError.NoKeys):
        carol_fc.decrypt(frame, r.clock_ms)
    assert r.members["alice"].epoch() == start_epoch + 2
    assert [p.participant_id for p in r.members["alice"].participants()] == ["alice"]
    # The relay kept routing to Carol until it detached her: she refused those messages.
    assert {(to, type(e)) for to, e in r.rejections} <= {("carol", ConclaveError.NotInMeeting)}


def test_removed_member_cannot_read_new_epoch_even_with_old_keys(meeting):
    """Carol keeps a FrameCrypto from before her removal: frames of the new epoch do not
    authenticate under anything she holds (she is not handed the new keys)."""
    r = meeting
    # A frame sealed in the old epoch still reaches Carol while she is in.
    old = r.members["alice"].frame_crypto().encrypt(0, b"old", 0)
    assert r.members["carol"].frame_crypto().decrypt(old, r.clock_ms).plaintext == b"old"
    # Carol is removed, but suppose the relay withholds her copy of the commit: her engine
    # still has the old epoch's keys.
    carol = r.members.pop("carol")
    carol_fc = carol.frame_crypto()
    r.members["alice"].remove("carol", r.clock_ms)
    r.pump()
    r.advance(3_000)
    new = r.members["alice"].frame_crypto().encrypt(0, b"secret", 0)
    assert r.members["bob"].frame_crypto().decrypt(new, r.clock_ms).plaintext == b"secret"
    with pytest.raises((ConclaveError.UnknownEpoch, ConclaveError.Tampered)):
        carol_fc.decrypt(new, r.clock_ms)
    assert carol.security_code() != r.members["bob"].security_code()


def test_rotation_while_media_threads_run(meeting):
    """FrameCrypto is used from another thread while the control path rotates keys."""
    r = meeting
    alice_fc = r.members["alice"].frame_crypto()
    bob_fc = r.members["bob"].frame_crypto()
    stop = threading.Event()
    failures = []
    late = []
    count = [0]

    def media():
        while not stop.is_set():
            try:
                f = alice_fc.encrypt(2, b"v" * 1200, 0)
                assert bob_fc.decrypt(f, r.clock_ms).plaintext == b"v" * 1200
                count[0] += 1
            except ConclaveError.TooOld as e:
                # The thread was descheduled between encrypt and decrypt while the clock jumped
                # over two whole rotations: the frame is legitimately too late.
                late.append(e)
            except Exception as e:  # noqa: BLE001 - reported below
                failures.append(e)
                return

    t = threading.Thread(target=media)
    t.start()
    try:
        start = r.members["alice"].epoch()
        for _ in range(3):
            r.members["alice"].rotate(r.clock_ms)
            r.pump()
            r.advance(2_500)
    finally:
        stop.set()
        t.join()
    assert failures == []
    assert count[0] > len(late)
    f = alice_fc.encrypt(2, b"after", 0)
    assert bob_fc.decrypt(f, r.clock_ms).epoch == r.members["alice"].epoch()
    assert r.members["alice"].epoch() == start + 3
    assert_codes_agree(r, ["alice", "bob", "carol"])


def test_identity_keychain_round_trip():
    a = conclave.Identity.generate()
    secret = a.export_secret()
    assert isinstance(secret, bytes) and len(secret) == 32
    b = conclave.Identity.from_secret(secret)
    assert a.fingerprint() == b.fingerprint()
    assert len(a.fingerprint().split()) == 8
    assert len(a.public_key()) == 65
    with pytest.raises(ConclaveError.InvalidArgument) as exc:
        conclave.Identity.from_secret(b"too short")
    assert "32" in exc.value.describe()


def test_options_and_invalid_arguments():
    d = conclave.default_meeting_options()
    assert d == conclave.MeetingOptions()  # record defaults equal the engine's
    assert d.heartbeat_interval_ms == 10_000
    ident = conclave.Identity.generate()
    with pytest.raises(ConclaveError.InvalidArgument):
        conclave.Meeting.create(MEETING_ID, "alice", ident, 0, conclave.MeetingOptions(max_participants=0))
    with pytest.raises(ConclaveError.InvalidArgument):
        conclave.Meeting.create(MEETING_ID, "", ident, 0)
    m = conclave.Meeting.create(MEETING_ID, "alice", ident, 0, conclave.MeetingOptions(rotation_interval_ms=None))
    assert m.epoch() == 1
    assert m.frame_crypto().own_sender() == 0
    # A message from nowhere is refused, and says so.
    with pytest.raises((ConclaveError.Decode, ConclaveError.Rejected)):
        m.handle_message(b"\x00\x01garbage", 1)


def test_monotonic_clock():
    a = conclave.monotonic_now_ms()
    b = conclave.monotonic_now_ms()
    assert 0 <= a <= b
    assert conclave.library_version()


def test_cipher_suites_negotiate_and_post_quantum_can_be_required():
    assert conclave.supported_cipher_suites()[0] == conclave.CipherSuite.X_WING
    assert conclave.cipher_suite_id(conclave.CipherSuite.P256) == 1
    # Default: everyone supports X-Wing, so the meeting is post-quantum.
    r = Relay()
    r.create("alice", conclave.Identity.generate(), MEETING_ID)
    r.join("bob", conclave.Identity.generate(), MEETING_ID)
    r.pump()
    assert r.members["bob"].cipher_suite() == conclave.CipherSuite.X_WING
    changed = kinds(r.take_events("bob"), MeetingEvent.SUITE_CHANGED)
    assert changed and changed[-1].post_quantum and changed[-1].suite_id == 2

    # A classical-only leader: a participant that requires post-quantum refuses and leaves.
    r = Relay()
    classical = conclave.MeetingOptions(suites=[conclave.CipherSuite.P256])
    pq_only = conclave.MeetingOptions(require_post_quantum=True)
    r._attach("alice", conclave.Meeting.create(MEETING_ID, "alice", conclave.Identity.generate(), 0, classical))
    r._attach("bob", conclave.Meeting.join(MEETING_ID, "bob", conclave.Identity.generate(), 0, pq_only))
    r.pump()
    ev = r.take_events("bob")
    assert kinds(ev, MeetingEvent.SUITE_REFUSED), ev
    assert kinds(ev, MeetingEvent.ENDED)[0].reason == RemovalReason.SUITE_REFUSED
    assert r.members["bob"].is_ended()


# A real H.264 access unit: one 64x64 IDR frame from x264 (Annex B: SPS, PPS, IDR slice).
H264_IDR = bytes.fromhex(
    "000000016764000aacd94426c044000003000400000300f03c4896580000000168ef8fcb0000016588840031ffcb6c967ae8ffff0d83c0f029ea2db305879ecf47172faa397e380ce078ca8b4c3e00d0d067a65cea9fd66abfc57df23b5811245a2d78f8433376960f78c8238b7a8a664ad3b1a0c674709bec10c415febe3c77193aa5b583c040b33d19df344d109af628cfc5800036c13cca515d3f0bbde4c0c44ab56ca5e364e3d98fd46adc6fe821f563434c1cb1863084d211d5b8ec74190c92bcd3c7999ad6f8f9f0e0ade3b336cc0b501209fd7ce39d747c377873d94c3b9c52165761565893e7662221efcc38b5723105ba79f756e1a47b51e5c3060bb8e9a18c80566e3ab3152230b0c38117d286d4c6499a2fe955e9d8c11c5e1e614526753b6670cdf1635ff6d7d0d78f2979ae561e9c01ba4025bb58699f70f7a92648786139d86a56c01bd6d1bda887f21d9bcba85d9575296b7781fcfbc0be9fd38f22cb604bc406a294bec428824871e24e71de82d7c01261dfbfeee4d1e9d39cdd8d711cd65a7e3affce19495af170048c6d8be7c26524b09cd3d8ded901aa000dceed0dbb07d455c406ccf7867936b5d907e37b581de99fc1dbd293df561a09d6e7fc24105448f8a516c659a5e339ea941071c26fcf117933c765734a5632476b59bea0bd01bcc0d3794b61abc58f8bfdff0be089e1c8cb70283a5c533b6e843aad444edc256e7c43e5410b95fec05b5a1701771758c4f543c1"
)


def test_h264_frame_encrypts_with_codec_api(meeting):
    r = meeting
    alice = r.members["alice"].frame_crypto()
    bob = r.members["bob"].frame_crypto()
    frame = alice.encrypt_media(conclave.MediaCodec.H264, 1, H264_IDR)
    # Start codes, NAL headers and parameter sets stay in place; the slice data is encrypted.
    assert frame[:4] == b"\x00\x00\x00\x01"
    assert frame[:31] == H264_IDR[:31]
    assert frame[40:len(H264_IDR)] != H264_IDR[40:]
    assert frame.count(b"\x00\x00\x01") == H264_IDR.count(b"\x00\x00\x01")
    assert conclave.media_is_keyframe(conclave.MediaCodec.H264, frame)
    d = bob.decrypt_media(conclave.MediaCodec.H264, frame, r.clock_ms)
    # The canonical form (spec/frames.md 6.4): x264's 3-byte start code before the slice comes
    # back as 00 00 00 01, as RTP depayloaders write it.
    assert d.plaintext == H264_IDR.replace(b"\x00\x00\x01\x65", b"\x00\x00\x00\x01\x65")
    assert d.sender == leaf_of(r, "alice")
    tampered = bytearray(alice.encrypt_media(conclave.MediaCodec.H264, 1, H264_IDR))
    tampered[10] ^= 1  # a clear SPS byte: authenticated
    with pytest.raises(ConclaveError.Tampered):
        bob.decrypt_media(conclave.MediaCodec.H264, bytes(tampered), r.clock_ms)
    with pytest.raises(ConclaveError.InvalidArgument):
        alice.encrypt_media(conclave.MediaCodec.H264, 1, b"not annex b")


def test_relay_hint_replaces_a_dead_leader_within_seconds(meeting):
    """The SFU says the leader's connection closed: the others probe it and, with no answer
    within a second, vote it out (spec/state-machine.md VOTE-0)."""
    r = meeting
    before = r.members["bob"].epoch()
    r.detach("alice")  # the leader's process dies
    for pid in ("bob", "carol"):
        r.members[pid].leader_connection_closed(r.clock_ms)
        r.collect(pid)
    r.advance(2_000)  # far less than three missed 10 s heartbeats
    assert r.members["bob"].is_leader()
    assert r.members["carol"].epoch() > before
    assert_codes_agree(r, ["bob", "carol"])


def test_a_false_relay_hint_changes_nothing(meeting):
    """The leader is alive: it answers the probe with a heartbeat and nothing changes."""
    r = meeting
    epoch = r.members["alice"].epoch()
    for pid in ("bob", "carol"):
        r.members[pid].leader_connection_closed(r.clock_ms)
        r.collect(pid)
    r.advance(5_000)
    assert r.members["alice"].is_leader()
    assert {r.members[p].epoch() for p in r.members} == {epoch}
    assert_codes_agree(r, ["alice", "bob", "carol"])
