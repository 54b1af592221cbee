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
# Runs in a network namespace of its own (root, iproute2): nothing leaves the machine.
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

PACKAGES=(janus janus-tools ffmpeg curl iproute2 pkg-config gstreamer1.0-tools gstreamer1.0-plugins-base
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
# (Bounded generously: a cold build of the GStreamer bindings takes minutes on 2 cores.)
timeout 1800 cargo clippy -p conclave-sfu --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" timeout 600 cargo doc -p conclave-sfu --no-deps --quiet
timeout 900 cargo test -q -p conclave-sfu
timeout 900 cargo build -q -p conclave-sfu
BIN=$TARGET_DIR/debug/conclave-media

WORK=$(mktemp -d /tmp/conclave-sfu.XXXXXX)
JANUS_PID=
PIDS=()
WATCHDOG_PID=
# Janus 1.1.2 can hang in "Closing transport plugins" after SIGTERM: give it 5 s, then SIGKILL.
stop_janus() {
    [ -n "$JANUS_PID" ] || return 0
    kill -TERM "$JANUS_PID" 2>/dev/null || true
    for _ in $(seq 25); do kill -0 "$JANUS_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$JANUS_PID" 2>/dev/null || true
    wait "$JANUS_PID" 2>/dev/null || true
    JANUS_PID=
    if [ -n "$WATCHDOG_PID" ]; then kill "$WATCHDOG_PID" 2>/dev/null || true; WATCHDOG_PID=; fi
}
# Everything runs in a network namespace of its own: Janus (which never gathers ICE candidates
# on loopback) and libnice use the namespace's veth pair, 10.200.0.1/24, and no packet of the
# test can leave this machine. The REST API is on the namespace's 127.0.0.1.
NS=conclave-sfu-$$
NS_UP=
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
in_ns() { $SUDO ip netns exec "$NS" "$@"; }
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    stop_janus
    if [ -n "$NS_UP" ]; then as_root ip netns del "$NS" 2>/dev/null || true; fi
    if [ "${SFU_KEEP:-0}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

step "network namespace $NS (loopback and a veth pair, 10.200.0.1/24)"
as_root ip netns add "$NS"
NS_UP=1
in_ns ip link set lo up
in_ns ip link add sfu0 type veth peer name sfu1
in_ns ip addr add 10.200.0.1/24 dev sfu0
in_ns ip link set sfu0 up
in_ns ip link set sfu1 up

step "start Janus on 127.0.0.1:$PORT in $NS (config in $WORK/janus)"
bash scripts/janus-config.sh "$WORK/janus" "$PORT" sfu0
$SUDO ip netns exec "$NS" janus -F "$WORK/janus" -C "$WORK/janus/janus.jcfg" -L "$WORK/janus.log" >/dev/null 2>&1 &
JANUS_PID=$!
# Bounded in time whatever happens to this script: Janus is killed after 180 s.
# (The watchdog ends with Janus: nothing is left behind.)
(timeout 180 tail --pid="$JANUS_PID" -f /dev/null || kill -KILL "$JANUS_PID") >/dev/null 2>&1 &
WATCHDOG_PID=$!
for _ in $(seq 50); do
    in_ns curl -sf -o /dev/null -X POST -d '{"janus":"info","transaction":"i"}' \
        "http://127.0.0.1:$PORT/janus" 2>/dev/null && break
    sleep 0.2
done
in_ns curl -sf -o /dev/null -X POST -d '{"janus":"info","transaction":"i"}' \
    "http://127.0.0.1:$PORT/janus" || { echo "Janus did not start"; tail -20 "$WORK/janus.log"; exit 1; }

step "meeting: alice, bob, carol; carol leaves at 8 s; dave joins at 12 s"
join() { # name start duration extra-args...
    local name=$1 start=$2 dur=$3
    shift 3
    (sleep "$start"
     exec $SUDO ip netns exec "$NS" timeout 60 "$BIN" join --janus "127.0.0.1:$PORT" --name "$name" --duration "$dur" \
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
stop_janus
python3 scripts/sfu_check.py "$WORK" "$BIN"
