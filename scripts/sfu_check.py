#!/usr/bin/env python3
"""Checks the reports of scripts/test-sfu.sh and Janus's recording; prints the table.

Usage: sfu_check.py WORKDIR CONCLAVE_MEDIA_BINARY
Exits non-zero (after printing every failed check) if a check fails.
"""
import glob
import json
import os
import subprocess
import sys

work, binary = sys.argv[1], sys.argv[2]
NAMES = ["alice", "bob", "carol", "dave"]
# Who was in the meeting at the same time as whom (carol leaves at 8 s, dave joins at 12 s).
PAIRS = {("alice", "bob"), ("alice", "carol"), ("bob", "carol"), ("alice", "dave"), ("bob", "dave")}
TAMPERER = "bob"
failures = []
passed = []


def check(ok, what):
    print(("  ok   " if ok else "  FAIL ") + what)
    (passed if ok else failures).append(what)


reports = {}
for n in NAMES:
    with open(os.path.join(work, n + ".json")) as f:
        reports[n] = json.load(f)


def row(receiver, sender, kind):
    for r in reports[receiver]["media"]["received"]:
        if r["feed"] == sender and r["kind"] == kind:
            return r
    return None


# ----- the table -----
print("\nper participant: what it sent, and per sender what it received")
print(f"{'participant':<11} {'joined':>6} {'left':>5}  {'sent video/audio (dropped before keys)':<28}")
for n in NAMES:
    r = reports[n]
    sent = r["media"]["sent"]
    v, a = sent.get("video", {}), sent.get("audio", {})
    print(f"{n:<11} {str(r['joined_epoch']):>6} {str(r['left_epoch']):>5}  "
          f"{v.get('sealed', 0)}/{a.get('sealed', 0)} ({v.get('dropped', 0)}/{a.get('dropped', 0)})"
          f"{'  tampered ' + str(v.get('tampered')) if v.get('tampered') else ''}")
print(f"\n{'receiver':<9} {'sender':<7} {'kind':<6} {'received':>8} {'decrypted':>9} "
      f"{'decoded':>7} {'epoch tags':<12} rejected")
for n in NAMES:
    for r in reports[n]["media"]["received"]:
        print(f"{n:<9} {r['feed']:<7} {r['kind']:<6} {r['received']:>8} {r['decrypted']:>9} "
              f"{r['decoded']:>7} {','.join(map(str, r['epochs'])):<12} "
              f"{json.dumps(r['rejected']) if r['rejected'] else '-'}")

# ----- the checks -----
print("\nchecks")
for (x, y) in sorted(PAIRS):
    for receiver, sender in ((x, y), (y, x)):
        for kind in ("video", "audio"):
            r = row(receiver, sender, kind)
            ok = r is not None and r["decrypted"] > 0 and r["decoded"] > 0
            check(ok, f"{receiver} decrypts and decodes {sender}'s {kind}")

dave_join = reports["dave"]["joined_epoch"]
check(dave_join is not None, "dave was admitted")
for r in reports["dave"]["media"]["received"]:
    check(dave_join is not None and all(e >= dave_join for e in r["epochs"]),
          f"dave decrypted nothing of {r['feed']}'s {r['kind']} sealed before he joined "
          f"(epoch {dave_join}; decrypted epochs {r['epochs']})")
carol_left = reports["carol"]["left_epoch"]
check(carol_left is not None, "carol left")
later = 0
for r in reports["carol"]["media"]["received"]:
    later += sum(r["rejected"].get(k, 0) for k in
                 ("unknown_epoch", "no_keys", "epoch_retired", "too_old", "unreported"))
    check(carol_left is not None and all(e <= carol_left for e in r["epochs"]),
          f"carol decrypted nothing of {r['feed']}'s {r['kind']} sealed after she left "
          f"(epoch {carol_left}; decrypted epochs {r['epochs']})")
check(later > 0, f"carol received frames she could not decrypt after leaving ({later})")

codes = {}
for n in NAMES:
    for epoch, code in reports[n]["security_codes"].items():
        codes.setdefault(epoch, set()).add(code)
check(len(codes) >= 3, f"security codes for {len(codes)} epochs")
for epoch, cs in sorted(codes.items(), key=lambda kv: int(kv[0])):
    check(len(cs) == 1, f"everyone shows the same security code for epoch {epoch}")

tampered_sent = reports[TAMPERER]["media"]["sent"]["video"]["tampered"]
sealed = reports[TAMPERER]["media"]["sent"]["video"]["sealed"]
check(tampered_sent > 0, f"{TAMPERER} tampered with {tampered_sent} video frames")
for n in NAMES:
    for r in reports[n]["media"]["received"]:
        if r["feed"] == TAMPERER and r["kind"] == "video":
            check(r["rejected"].get("tampered", 0) > 0
                  and r["decrypted"] <= sealed - tampered_sent,
                  f"{n} rejected {TAMPERER}'s tampered frames "
                  f"({r['rejected'].get('tampered', 0)}) and accepted none")
        else:
            check(r["rejected"].get("tampered", 0) == 0 and r["rejected"].get("malformed", 0) == 0,
                  f"{n}: no tampered or malformed frame from {r['feed']} ({r['kind']})")

# ----- the recording -----
print("\nJanus's recording of bob's video")
feed = reports[TAMPERER]["feed"]
mjrs = sorted(glob.glob(os.path.join(work, "janus", "recordings", f"*-{feed}-*video*.mjr")))
check(len(mjrs) > 0, f"Janus recorded {TAMPERER}'s video (feed {feed}): {len(mjrs)} file(s)")
if mjrs:
    mjr = max(mjrs, key=os.path.getsize)
    rec = os.path.join(work, "bob-recording.mkv")
    subprocess.run(["timeout", "60", "janus-pp-rec", mjr, rec], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


    def framemd5(path, fmt=None):
        cmd = ["timeout", "60", "ffmpeg", "-v", "error", "-nostdin"]
        cmd += ["-f", fmt] if fmt else []
        cmd += ["-i", path, "-f", "framemd5", "-"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        md5s = [l.split(",")[-1].strip() for l in p.stdout.splitlines() if not l.startswith("#")]
        return p.returncode, md5s, p.stderr.count("\n"), p.stderr.splitlines()[:6]

    rc_enc, enc_md5, enc_errors, _ = framemd5(rec)
    out = os.path.join(work, "bob-decrypted.h264")
    p = subprocess.run(["timeout", "60", binary, "open-recording", "--recording", rec, "--keys",
                        os.path.join(work, "keys.txt"), "--clear-log",
                        os.path.join(work, "bob-clear.txt"), "--out", out],
                       capture_output=True, text=True)
    print("  open-recording:", p.stdout.strip(), p.stderr.strip()[-300:])
    summary = json.loads(p.stdout.strip().splitlines()[-1]) if p.stdout.strip() else {}
    rc_dec, dec_md5, dec_errors, dec_first_errors = framemd5(out, "h264")
    for line in dec_first_errors:
        print("  ffmpeg (decrypted recording):", line)
    frames = summary.get("frames", 0)
    rejected = summary.get("rejected", {})
    check(frames > 0 and summary.get("identical_to_clear") == summary.get("decrypted")
          and set(rejected) <= {"tampered"} and summary.get("decrypted", 0) > 0,
          f"decrypted with the exported keys, {summary.get('decrypted')} of {frames} recorded "
          f"frames are byte-identical to what bob encoded (rejected: {rejected or 'none'}; "
          f"bob tampered with {tampered_sent})")
    # The decrypted stream has gaps where bob's tampered frames were rejected (every 20th video
    # frame, on purpose): whether ffmpeg then conceals (and logs errors) or skips to the next
    # decodable picture depends on which frames the gaps hit, i.e. on timing. Error lines are
    # therefore accepted only when frames are missing; every decrypted frame is byte-identical
    # to bob's encoder output (the check above), which is the property that matters.
    missing = sum(rejected.values())
    check(rc_dec == 0 and len(dec_md5) > 0 and (dec_errors == 0 or missing > 0),
          f"ffmpeg decodes the decrypted recording: {len(dec_md5)} frames, {dec_errors} error "
          f"lines ({missing} frames missing: the rejected ones)")
    same = len(set(enc_md5) & set(dec_md5))
    print(f"  without keys: ffmpeg exit {rc_enc}, {len(enc_md5)} pictures, {enc_errors} error "
          f"lines, {same} pictures equal to a decrypted one")
    check(same == 0 and (rc_enc != 0 or enc_errors > 0 or len(enc_md5) == 0),
          "without the keys ffmpeg cannot decode the recording into the original frames")

print(f"\nsfu: {len(passed)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
