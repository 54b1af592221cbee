"""Cost of one 1,200-byte frame encrypt + decrypt through the Python binding.

Usage (a release build of the library; see BENCHMARKS.md):
    cargo build --release -p conclave-ffi -p conclave-uniffi-bindgen
    target/release/uniffi-bindgen generate --language python --out-dir target/bench-py \
        --no-format target/release/libconclave_ffi.so
    cp target/release/libconclave_ffi.so target/bench-py/
    PYTHONPATH=target/bench-py python3 bindings/python/bench_frames.py
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "tests"))

import conclave  # noqa: E402
from relay import Relay  # noqa: E402

FRAME_LEN = 1200
ROUNDS = int(os.environ.get("ROUNDS", "20000"))


def main():
    relay = Relay()
    relay.create("alice", conclave.Identity.generate(), b"bench-meeting-0001")
    relay.join("bob", conclave.Identity.generate(), b"bench-meeting-0001")
    relay.pump()
    relay.advance(3_000)
    alice = relay.members["alice"].frame_crypto()
    bob = relay.members["bob"].frame_crypto()
    plaintext = bytes([0x5A]) * FRAME_LEN
    now = relay.clock_ms

    def once():
        return bob.decrypt(alice.encrypt(1, plaintext, 0), now)

    for _ in range(1000):  # warm up
        once()
    best = None
    for _ in range(5):
        t0 = time.perf_counter_ns()
        for _ in range(ROUNDS):
            once()
        per = (time.perf_counter_ns() - t0) / ROUNDS
        best = per if best is None else min(best, per)
    assert once().plaintext == plaintext
    print(f"python binding: 1,200 B encrypt+decrypt: {best / 1000:.2f} us/frame "
          f"(best of 5 x {ROUNDS}; Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
