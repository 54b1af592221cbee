"""FrameCrypto.encrypt_many / decrypt_many (and the raw encrypt_batch / decrypt_batch)."""

import struct

import pytest

import conclave
from conclave import ConclaveError
from relay import Relay

MEETING_ID = b"python-batch-0001"


@pytest.fixture
def pair():
    """Alice and Bob in a meeting; returns (relay, alice's frame crypto, bob's)."""
    relay = Relay()
    relay.create("alice", conclave.Identity.generate(), MEETING_ID)
    relay.join("bob", conclave.Identity.generate(), MEETING_ID)
    relay.pump()
    relay.advance(3_000)
    return relay, relay.members["alice"].frame_crypto(), relay.members["bob"].frame_crypto()


def test_many_round_trip_like_single_calls(pair):
    r, alice, bob = pair
    video = bytes(range(256)) * 5
    plain = [(0, b"\x90opus", 1), (1, video, 10), (0, b"", 0), (2, bytearray(b"ba"), 0),
             (1, memoryview(b"mv frame"), 0)]
    frames = alice.encrypt_many(plain)
    assert all(isinstance(f, bytes) for f in frames)
    got = bob.decrypt_many(frames, r.clock_ms)
    leaf = r.members["alice"].own_leaf()
    for (stream, pt, prefix), d in zip(plain, got):
        assert isinstance(d, conclave.DecryptedFrame)
        assert (d.sender, d.stream, d.prefix_len) == (leaf, stream, prefix)
        assert d.plaintext == bytes(pt)
        assert d.epoch == r.members["alice"].send_epoch()
    assert [d.counter for d in got] == [0, 0, 1, 0, 1]
    # Interchangeable with single calls both ways.
    single = alice.encrypt(1, video, 10)
    assert bob.decrypt_many([single], r.clock_ms)[0].counter == 2
    (batched,) = alice.encrypt_many([(1, video, 10)])
    assert bob.decrypt(batched, r.clock_ms).counter == 3
    assert alice.encrypt_many([]) == [] and bob.decrypt_many([], r.clock_ms) == []


def test_each_frame_fails_alone_with_its_error(pair):
    r, alice, bob = pair
    f1, f2 = alice.encrypt_many([(0, b"one", 0), (0, b"two", 0)])
    bad = bytearray(alice.encrypt(0, b"three", 0))
    bad[-1] ^= 1
    got = bob.decrypt_many([f1, bytes(bad), f1, b"\xff", f2], r.clock_ms)
    assert got[0].plaintext == b"one" and got[4].plaintext == b"two"
    assert isinstance(got[1], ConclaveError.Tampered)
    assert got[1].sender == r.members["alice"].own_leaf() and got[1].kind == "tampered"
    assert isinstance(got[2], ConclaveError.Replayed) and got[2].counter == 0
    assert isinstance(got[3], ConclaveError.Decode)
    assert "does not authenticate" in str(got[1])
    diag = {s.sender: s for s in bob.diagnostics()}[r.members["alice"].own_leaf()]
    assert (diag.decrypted, diag.tampered, diag.replayed) == (2, 1, 1)


def test_bad_plaintexts_fail_alone_and_use_no_counter(pair):
    r, alice, bob = pair
    got = alice.encrypt_many([(0, b"a", 0), (-1, b"b", 0), (0, b"c", 5), (0, b"d", -2),
                              (0, b"e" * 300, 256), (0, b"f", 0)])
    assert isinstance(got[1], ConclaveError.InvalidArgument) and "negative" in str(got[1])
    assert isinstance(got[2], ConclaveError.InvalidArgument) and got[2].kind == "too_large"
    assert isinstance(got[3], ConclaveError.InvalidArgument)
    assert isinstance(got[4], ConclaveError.InvalidArgument)
    opened = bob.decrypt_many([got[0], got[5]], r.clock_ms)
    assert [d.counter for d in opened] == [0, 1]  # the failed frames used no counter


def test_out_of_range_ints_raise_like_encrypt(pair):
    _, alice, _ = pair
    with pytest.raises(Exception) as single:
        alice.encrypt(2**31, b"x", 0)
    with pytest.raises(type(single.value)):
        alice.encrypt_many([(0, b"sealed?", 0), (2**31, b"x", 0)])
    # Nothing of that call was sealed: the next frame of stream 0 has counter 0.
    (f,) = alice.encrypt_many([(0, b"first", 0)])
    r, _, bob = pair
    assert bob.decrypt(f, r.clock_ms).counter == 0


def test_more_than_one_batch_is_split(pair):
    r, alice, bob = pair
    limits = conclave.frame_batch_limits()
    n = limits.max_frames + 5
    frames = alice.encrypt_many([(3, i.to_bytes(4, "little"), 0) for i in range(n)])
    assert len(frames) == n
    got = bob.decrypt_many(frames, r.clock_ms)
    assert [d.counter for d in got] == list(range(n))
    assert [int.from_bytes(d.plaintext, "little") for d in got] == list(range(n))


def test_a_frame_over_the_byte_bound_is_its_own_error(pair):
    r, alice, bob = pair
    huge = bytes(conclave.frame_batch_limits().max_bytes)
    got = alice.encrypt_many([(0, b"ok", 0), (0, huge, 0), (0, b"ok too", 0)])
    assert isinstance(got[1], ConclaveError.InvalidArgument) and got[1].kind == "too_large"
    d = bob.decrypt_many([got[0], huge, got[2]], r.clock_ms)
    assert [x.plaintext for x in (d[0], d[2])] == [b"ok", b"ok too"]
    assert isinstance(d[1], ConclaveError)


def test_raw_batch_api_refuses_malformed_packing_whole(pair):
    r, alice, bob = pair
    (f,) = alice.encrypt_many([(0, b"frame", 0)])
    good = struct.pack("<I", len(f)) + f
    for bad in (good + b"\x01\x00", good + struct.pack("<I", 99) + b"short"):
        with pytest.raises(ConclaveError.InvalidArgument, match="malformed frame batch"):
            bob.decrypt_batch(bad, r.clock_ms)
    with pytest.raises(ConclaveError.InvalidArgument, match="negative"):
        bob.decrypt_batch(good, -1)
    with pytest.raises(ConclaveError.InvalidArgument, match="negative"):
        bob.decrypt_many([f], -1)
    # The refused batches consumed nothing: the frame decrypts now.
    batch = bob.decrypt_batch(good, r.clock_ms)
    assert batch.failures == [] and batch.packed[0] == 0
    assert batch.packed[33:] == b"frame"
