#!/usr/bin/env bash
# Proof with real codecs and real RTP packetizers (issue #14, spec/frames.md section 6).
#
# For each codec: encode 2 s of test video (320x240, 30 fps) or audio with a real encoder
# (ffmpeg: x264, x265, libvpx VP8 and VP9, libaom AV1, libopus), split it into frames, encrypt
# every frame with FrameCrypto::encrypt_media, push the encrypted frames through GStreamer's RTP
# payloader and depayloader for the codec, decrypt, decode with ffmpeg (libavcodec) and compare
# per-frame hashes (-f framemd5) with the unencrypted stream: they must be identical for every
# frame. Keyframe detection (frame::codec::is_keyframe, reading clear bytes only, as an SFU
# does) on the encrypted frames after RTP must equal the detection on the clear frames.
# RTP: GStreamer's rtph264pay/depay, rtph265pay/depay and rtpvp9pay/depay; for VP8 and Opus,
# ffmpeg's RTP muxer and demuxer (libavformat rtpenc_vp8.c / rtpdec_vp8.c, RFC 7741; Opus one
# packet per RTP packet, RFC 7587) over loopback UDP, see ffrtp(). AV1 has no RTP packetizer in
# Debian 12 (no rtpav1pay in GStreamer 1.22, no AV1 in ffmpeg 5.1's RTP muxer): it goes
# encrypt -> decrypt without RTP; its row says so.
#
# Installs ffmpeg and GStreamer from Debian if missing (apt-get update once). Bounded in time:
# every external command runs under `timeout`. Prints the per-codec table (copied to MEDIA.md).
# Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
T=60 # seconds per external command

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

PACKAGES=(ffmpeg gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav iproute2)
missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    as_root apt-get update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}"
fi

cargo build --quiet -p conclave-core --example media_frames
TOOL=$TARGET_DIR/debug/examples/media_frames
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

ff() { timeout "$T" ffmpeg -hide_banner -loglevel error -y "$@"; }
udp_bound() { ss -Huln "sport = :$1" | grep -q .; }
gst() { timeout "$T" gst-launch-1.0 -q "$@" >/dev/null; }
SRC=(-f lavfi -i testsrc=size=320x240:rate=30 -t 2 -pix_fmt yuv420p)

# encode <codec> <file>
encode() {
    case $1 in
        h264) ff "${SRC[@]}" -c:v libx264 -preset veryfast -g 30 -bf 0 -x264-params aud=1 -f h264 "$2" ;;
        h265) ff "${SRC[@]}" -c:v libx265 -preset veryfast -x265-params aud=1:keyint=30:bframes=0:log-level=error -f hevc "$2" ;;
        vp8) ff "${SRC[@]}" -c:v libvpx -g 30 -b:v 500k -f ivf "$2" ;;
        vp9) ff "${SRC[@]}" -c:v libvpx-vp9 -g 30 -b:v 500k -deadline realtime -f ivf "$2" ;;
        av1) ff "${SRC[@]}" -c:v libaom-av1 -g 30 -b:v 300k -cpu-used 8 -usage realtime -f ivf "$2" ;;
        opus) ff -f lavfi -i sine=frequency=440:duration=2 -ac 1 -ar 48000 -c:a libopus -b:a 32k -f ogg "$2" ;;
    esac
}

# rtp <codec> <frames dir> <out dir>: payload and depayload the (encrypted) frames.
rtp() {
    local c=$1 in=$2 out=$3
    mkdir -p "$out"
    case $c in
        h264) gst multifilesrc location="$in/%05d.bin" \
            caps="video/x-h264,stream-format=byte-stream,alignment=au,framerate=30/1" \
            ! h264parse ! rtph264pay mtu=1200 ! rtph264depay \
            ! "video/x-h264,stream-format=byte-stream,alignment=au" \
            ! multifilesink location="$out/%05d.bin" ;;
        h265) gst multifilesrc location="$in/%05d.bin" \
            caps="video/x-h265,stream-format=byte-stream,alignment=au,framerate=30/1" \
            ! h265parse ! rtph265pay mtu=1200 ! rtph265depay \
            ! "video/x-h265,stream-format=byte-stream,alignment=au" \
            ! multifilesink location="$out/%05d.bin" ;;
        vp9)
            "$TOOL" join "$c" "$in" "$WORK/$c-enc.ivf"
            gst filesrc location="$WORK/$c-enc.ivf" ! ivfparse ! "rtp${c}pay" mtu=1200 \
                ! "rtp${c}depay" ! multifilesink location="$out/%05d.bin" ;;
        # GStreamer's rtpvp8pay decodes the bool-coded header of the (encrypted) first partition
        # and fails; raw Opus packets cannot be timed for rtpopuspay without a container or
        # opusparse, which rewrites packets whose TOC it cannot read. ffmpeg's RTP muxer does
        # neither: see ffrtp() and MEDIA.md.
        vp8 | opus) ffrtp "$c" "$in" "$out" ;;
        # No AV1 RTP packetizer in Debian 12 (see MEDIA.md).
        av1) cp -r "$in/." "$out/" ;;
    esac
}

# ffrtp <codec> <frames dir> <out dir>: the (encrypted) VP8 or Opus frames, in an IVF or Ogg
# file, go through ffmpeg's RTP muxer (-f rtp, 1,200-byte packets) at their real rate (-re) over
# loopback UDP to ffmpeg's RTP demuxer (SDP input), which writes every VP8 frame to its own file
# (image2 muxer: it does not need the dimensions, which ffmpeg cannot probe from an encrypted
# frame) or the Opus packets to an Ogg file. A lost packet shows as a missing or different
# frame; the receiver stops after as many frames as were sent, or after $T seconds.
ffrtp() {
    local c=$1 in=$2 out=$3 port n pid media rx sdp=$WORK/$1.sdp enc=$WORK/$1-enc
    n=$(find "$in" -name '*.bin' | wc -l)
    port=$((20000 + 2 * (RANDOM % 10000)))
    while udp_bound "$port" || udp_bound "$((port + 1))"; do port=$((20000 + 2 * (RANDOM % 10000))); done
    mkdir -p "$out"
    case $c in
        vp8)
            enc=$enc.ivf
            media="m=video $port RTP/AVP 96\r\na=rtpmap:96 VP8/90000"
            rx=(-frames:v "$n" -f image2 -start_number 0 "$out/%05d.bin") ;;
        opus)
            enc=$enc.ogg
            media="m=audio $port RTP/AVP 97\r\na=rtpmap:97 opus/48000/2"
            rx=(-frames:a "$n" -f ogg "$WORK/$c-rx.ogg") ;;
    esac
    "$TOOL" join "$c" "$in" "$enc"
    printf "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=conclave\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n$media\r\n" >"$sdp"
    # ffmpeg's probe tries to decode the encrypted frames and logs errors: kept in a file.
    timeout -s INT "$T" ffmpeg -hide_banner -loglevel error -nostdin -y \
        -protocol_whitelist file,udp,rtp -i "$sdp" -c copy "${rx[@]}" >"$WORK/$c-rx.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do udp_bound "$port" && break; sleep 0.1; done
    # ffmpeg's Opus parser cannot read the encrypted TOC byte and says so once; the packets pass
    # unchanged. The sender's log is shown if it fails.
    if ! ff -nostdin -re -i "$enc" -c copy -f rtp "rtp://127.0.0.1:$port?pkt_size=1200" \
        >/dev/null 2>"$WORK/$c-tx.log"; then
        cat "$WORK/$c-tx.log" >&2
        kill "$pid" 2>/dev/null || true
        return 1
    fi
    wait "$pid" || echo "$c: RTP receiver stopped by timeout (lost packets?)" >&2
    [ "$c" = opus ] && "$TOOL" split opus "$WORK/$c-rx.ogg" "$out" >/dev/null
    return 0
}

# md5s <codec> <frames dir> <out file>: per-frame hashes of the decoded frames.
md5s() {
    local c=$1 dir=$2 out=$3
    case $c in
        h264 | h265)
            "$TOOL" join "$c" "$dir" "$WORK/join.bin"
            ff -f "$([ "$c" = h264 ] && echo h264 || echo hevc)" -i "$WORK/join.bin" -f framemd5 "$out" ;;
        vp8 | vp9 | av1)
            "$TOOL" join "$c" "$dir" "$WORK/join.ivf"
            ff -i "$WORK/join.ivf" -f framemd5 "$out" ;;
        opus)
            "$TOOL" join "$c" "$dir" "$WORK/join.ogg"
            ff -i "$WORK/join.ogg" -f framemd5 "$out" ;;
    esac
    grep -v '^#' "$out" >"$out.body"
}

rows=()
fail=0
for c in opus vp8 vp9 h264 h265 av1; do
    d=$WORK/$c
    mkdir -p "$d"
    case $c in vp8 | vp9 | av1) ext=ivf ;; opus) ext=ogg ;; *) ext=es ;; esac
    encode "$c" "$d/in.$ext"
    frames=$("$TOOL" split "$c" "$d/in.$ext" "$d/clear")
    read -r n bytes_in bytes_out resealed < <("$TOOL" encrypt "$c" "$d/clear" "$d/enc")
    rtp "$c" "$d/enc" "$d/rx"
    "$TOOL" decrypt "$c" "$d/rx" "$d/dec" >/dev/null
    md5s "$c" "$d/clear" "$d/clear.md5"
    md5s "$c" "$d/dec" "$d/dec.md5"
    decoded=$(wc -l <"$d/clear.md5.body")
    identical=$(paste -d'|' "$d/clear.md5.body" "$d/dec.md5.body" | awk -F'|' '$1==$2' | wc -l)
    kc=$("$TOOL" keyframes "$c" "$d/clear")
    ke=$("$TOOL" keyframes "$c" "$d/rx")
    if [ "$c" = opus ]; then keys="(every packet)"; else keys="$(tr ',' '\n' <<<"$kc" | grep -c .)"; fi
    [ "$kc" = "$ke" ] && same=yes || same=NO
    overhead=$(awk -v a="$bytes_in" -v b="$bytes_out" -v n="$n" 'BEGIN { printf "%.1f", (b - a) / n }')
    path="GStreamer rtp${c}pay/depay"
    [ "$c" = av1 ] && path="none (no AV1 packetizer in Debian 12)"
    [ "$c" = vp8 ] || [ "$c" = opus ] && path="ffmpeg RTP mux/demux (-f rtp, sdp)"
    ok=yes
    if [ "$n" != "$frames" ] || [ "$identical" != "$decoded" ] || [ "$decoded" = 0 ] ||
        [ "$(find "$d/rx" -name '*.bin' | wc -l)" != "$n" ] ||
        [ "$(wc -l <"$d/dec.md5.body")" != "$decoded" ] || [ "$same" != yes ]; then
        ok=NO
        fail=1
    fi
    rows+=("| $c | $path | $frames | $decoded | $identical | $keys | $same | $overhead | $resealed | $ok |")
done

echo
echo "| codec | RTP path | frames | decoded | identical (framemd5) | keyframes | same on encrypted | overhead B/frame | re-seals | pass |"
echo "|-------|----------|--------|---------|----------------------|-----------|-------------------|------------------|----------|------|"
printf '%s\n' "${rows[@]}"
exit "$fail"
