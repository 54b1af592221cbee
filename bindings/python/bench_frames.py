"""Cost of one 1,200-byte frame encrypt + decrypt through the Python binding, against the same
work in Rust, measured in ONE run.

Python: one call per frame (``encrypt`` + ``decrypt``) and in batches of ``BATCH`` frames
(``encrypt_many`` + ``decrypt_many``, packing and unpacking included). Rust: the release example
``frame_cost`` (the engine, the binding object's Rust side, the batch calls). The script
alternates ``ROUNDS`` rounds of (Rust example, Python per call, Python batched) and keeps the
best figure of each (the machine is shared; interference only adds time), then prints the ratios.

Usage (release builds of the library and the example; see BENCHMARKS.md):
    cargo build --release -p conclave-ffi -p conclave-uniffi-bindgen --example frame_cost
    target/release/conclave-uniffi-bindgen generate --language python --out-dir target/bench-py \\
        --no-format target/release/libconclave_ffi.so
    mkdir -p target/bench-py/pkg && cp -r bindings/python/python/conclave target/bench-py/pkg/
    cp target/bench-py/conclave.py target/release/libconclave_ffi.so target/bench-py/pkg/conclave/
    PYTHONPATH=target/bench-py/pkg python3 bindings/python/bench_frames.py target/release/examples/frame_cost
"""

import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "tests"))

import conclave  # noqa: E402
from relay import Relay  # noqa: E402

FRAME_LEN = 1200
BATCH = 50
ROUNDS = int(os.environ.get("ROUNDS", "5"))
# Round trips per timed block (per call) and batches per timed block.
BLOCK = int(os.environ.get("BLOCK", "2000"))
BLOCKS = 5


def best_per_frame(op, frames_per_op, ops):
    best = float("inf")
    for _ in range(BLOCKS):
        t0 = time.perf_counter_ns()
        for _ in range(ops):
            op()
        best = min(best, (time.perf_counter_ns() - t0) / (ops * frames_per_op))
    return best


def rust_figures(example):
    out = subprocess.run([example, "1"], check=True, capture_output=True, text=True).stdout
    fields = dict(kv.split("=") for kv in out.split())
    return fields.pop("backend"), {k: float(v) for k, v in fields.items()}


def main():
    example = sys.argv[1] if len(sys.argv) > 1 else "target/release/examples/frame_cost"
    relay = Relay()
    relay.create("alice", conclave.Identity.generate(), b"bench-meeting-0001")
    relay.join("bob", conclave.Identity.generate(), b"bench-meeting-0001")
    relay.pump()
    relay.advance(3_000)
    alice = relay.members["alice"].frame_crypto()
    bob = relay.members["bob"].frame_crypto()
    plaintext = bytes([0x5A]) * FRAME_LEN
    now = relay.clock_ms
    batch = [(1, plaintext, 0)] * BATCH

    def single():
        return bob.decrypt(alice.encrypt(1, plaintext, 0), now)

    def batched():
        return bob.decrypt_many(alice.encrypt_many(batch), now)

    assert single().plaintext == plaintext
    assert all(d.plaintext == plaintext for d in batched())
    for _ in range(500):  # warm up
        single()
    best = {}
    backend = None
    for _ in range(ROUNDS):
        backend, rust = rust_figures(example)
        py = {
            "python": best_per_frame(single, 1, BLOCK),
            "python_batch": best_per_frame(batched, BATCH, max(1, BLOCK // BATCH)),
        }
        for k, v in {**rust, **py}.items():
            best[k] = min(best.get(k, float("inf")), v)
    us = {k: v / 1000 for k, v in best.items()}
    print(f"1,200 B encrypt + decrypt, per frame, best of {ROUNDS} rounds "
          f"(frame backend {backend}; Python {sys.version.split()[0]}):")
    rows = [
        ("core", "Rust, engine FrameCrypto (encrypt + decrypt)"),
        ("ffi", "Rust, binding object, one call per frame"),
        ("ffi_batch", f"Rust, binding batch calls ({BATCH} frames per call)"),
        ("python", "Python, encrypt() + decrypt() per frame"),
        ("python_batch", f"Python, encrypt_many() + decrypt_many() ({BATCH} per call)"),
    ]
    for key, name in rows:
        print(f"  {name:<58} {us[key]:7.2f} us  {best[key] / best['core']:5.2f}x Rust engine")


if __name__ == "__main__":
    main()
