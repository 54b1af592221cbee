#!/usr/bin/env bash
# A Conclave meeting carried by an unmodified Janus SFU with real media (issue #15).
#
# Starts Janus (Debian's package) on 127.0.0.1 with a generated configuration (HTTP transport,
# VideoRoom and TextRoom plugins only, VideoRoom recording into a temporary directory), then
# runs a 3-participant meeting of ~20 s with `conclave-media join`: alice creates it, bob and
# carol join; carol leaves at 8 s (and stays subscribed to the media until 12 s); dave joins at
# 12 s. Everyone publishes an encrypted H.264 test pattern and Opus tone to the VideoRoom through
# webrtcbin and subscribes to the others; the Conclave control messages travel through Janus's
# TextRoom. bob's video is tampered with on purpose every 20th frame (as a tampering SFU would).
#
# Asserts: every receiver decrypts and decodes each other sender's video and audio for the
# epochs it is entitled to (dave: nothing sealed before he joined; carol: nothing sealed after her
# removal); the security codes agree for every epoch; no tampered frame is accepted; Janus's
# recording of bob's video does not decode without the keys (ffmpeg), and decrypted with the
# meeting's frame secrets (exported by alice for this test only) it is byte-identical to what bob
# encoded. Prints a per-participant table.
#
# Installs janus, janus-tools, ffmpeg and GStreamer from Debian if missing (apt-get update
# once). Bounded: every step under `timeout`; Janus is stopped by its pid on any exit.
# Honours CARGO_TARGET_DIR. SFU_KEEP=1 keeps the temporary directory (logs, recordings).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
PORT=${SFU_JANUS_PORT:-18088}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
step() { printf '\n--> %s\n' "$*"; }

PACKAGES=(janus janus-tools ffmpeg curl pkg-config gstreamer1.0-tools gstreamer1.0-plugins-base
    gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
    gstreamer1.0-libav gstreamer1.0-nice libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
    libgstreamer-plugins-bad1.0-dev
    python3)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    step "apt-get install ${missing[*]}"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

# Like gst-conclave, conclave-sfu needs the GStreamer dev packages: scripts/test.sh's workspace
# steps exclude it, and this script lints, documents and tests it.
step "cargo clippy / doc / test -p conclave-sfu"
cargo clippy -p conclave-sfu --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc -p conclave-sfu --no-deps --quiet
cargo test -q -p conclave-sfu
cargo build -q -p conclave-sfu
BIN=$TARGET_DIR/debug/conclave-media

WORK=$(mktemp -d /tmp/conclave-sfu.XXXXXX)
JANUS_PID=
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    if [ -n "$JANUS_PID" ]; then
        kill "$JANUS_PID" 2>/dev/null || true
        wait "$JANUS_PID" 2>/dev/null || true
    fi
    if [ "${SFU_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

step "start Janus on 127.0.0.1:$PORT (config in $WORK/janus)"
bash scripts/janus-config.sh "$WORK/janus" "$PORT"
timeout 120 janus -F "$WORK/janus" -C "$WORK/janus/janus.jcfg" -L "$WORK/janus.log" \
    >/dev/null 2>&1 &
JANUS_PID=$!
for _ in $(seq 50); do
    curl -sf -o /dev/null -X POST -d '{"janus":"info","transaction":"i"}' \
        "http://127.0.0.1:$PORT/janus" 2>/dev/null && break
    sleep 0.2
done
curl -sf -o /dev/null -X POST -d '{"janus":"info","transaction":"i"}' \
    "http://127.0.0.1:$PORT/janus" || { echo "Janus did not start"; tail -20 "$WORK/janus.log"; exit 1; }

step "meeting: alice, bob, carol; carol leaves at 8 s; dave joins at 12 s"
join() { # name start duration extra-args...
    local name=$1 start=$2 dur=$3
    shift 3
    (sleep "$start"
     exec timeout 60 "$BIN" join --janus "127.0.0.1:$PORT" --name "$name" --duration "$dur" \
        --report "$WORK/$name.json" "$@") >/dev/null 2>"$WORK/$name.log" &
    PIDS+=($!)
}
join alice 0 21 --create --export-frame-keys-for-test "$WORK/keys.txt"
join bob 1.5 19.5 --log-clear-frames "$WORK/bob-clear.txt" --tamper-every-for-test 20
join carol 2 10 --leave-at 6
join dave 12 9
fail=0
for p in "${PIDS[@]}"; do wait "$p" || fail=1; done
PIDS=()
for n in alice bob carol dave; do
    echo "--- $n (last lines)"; tail -5 "$WORK/$n.log"
done
[ $fail = 0 ] || { echo "a participant failed"; exit 1; }

step "Janus recording of bob's video"
kill "$JANUS_PID" 2>/dev/null || true
wait "$JANUS_PID" 2>/dev/null || true
JANUS_PID=
python3 scripts/sfu_check.py "$WORK" "$BIN"
