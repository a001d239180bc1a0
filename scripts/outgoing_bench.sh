#!/usr/bin/env bash
# How fast sipterm's own calls get through (issue 12): a sipp callee on loopback answers each
# INVITE with 100, 180 and then 200 (tests/scenarios/uas_answer.xml), and sipterm places CALLS
# calls to it one after another (default 100), each `--call ... --duration 1 --audio null`.
# Per call it takes from sipterm's JSON events the post-dial delay (INVITE → first 18x,
# call_progress.post_dial_delay_ms) and INVITE → 200 (call_answered.answer_ms), then prints
#   outgoing_post_dial_delay: median X ms, p90 Y ms, max Z ms (N calls)
#   outgoing_invite_to_200:   median X ms, p90 Y ms, max Z ms (N calls)
# and fails when a call did not end with exit status 0 or sipp saw a failed call.
#
#   scripts/outgoing_bench.sh [CALLS]     e.g. scripts/outgoing_bench.sh 10 in CI
#
# SIPTERM_BIN runs that binary instead of building the release one.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

calls=${1:-100}
case $calls in
'' | *[!0-9]* | 0)
  echo "usage: $0 [CALLS] (a positive number, default 100)" >&2
  exit 2
  ;;
esac
for tool in sipp sox python3; do
  command -v "$tool" >/dev/null || {
    echo "outgoing_bench: $tool is not installed (scripts/setup.sh installs it)" >&2
    exit 1
  }
done

if [ -n "${SIPTERM_BIN:-}" ]; then
  sipterm=$SIPTERM_BIN
else
  cargo build --release --locked --quiet --bin sipterm
  sipterm=${CARGO_TARGET_DIR:-target}/release/sipterm
fi

work=$(mktemp -d)
sipp_pid=
cleanup() {
  if [ -n "$sipp_pid" ] && kill -0 "$sipp_pid" 2>/dev/null; then
    kill "$sipp_pid" 2>/dev/null || true
    wait "$sipp_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# Free ports on 127.0.0.1: sipp's SIP, control and media (p..p+3), and a block of 20 for
# sipterm's RTP, each bound once by the kernel's choice and released.
read -r sip_port ctl_port media_port rtp_port < <(python3 - <<'EOF'
import socket
def free(count=1):
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        base = s.getsockname()[1] & ~1
        s.close()
        if base + count > 65535:
            continue
        socks = []
        try:
            for p in range(base, base + count):
                t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(t)
                t.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for t in socks:
                t.close()
print(free(), free(), free(4), free(20))
EOF
)

# sipp's rtp_stream reads the tone from its working directory (see tests/support/sipp).
sox -n -r 8000 -c 1 -e u-law -t raw "$work/tone_1khz.ulaw" synth 4 sine 1000 vol 0.5
(
  cd "$work"
  exec sipp -sf "$root/tests/scenarios/uas_answer.xml" \
    -i 127.0.0.1 -mi 127.0.0.1 -ci 127.0.0.1 \
    -p "$sip_port" -mp "$media_port" -cp "$ctl_port" -t u1 -m "$calls" \
    -key sdp_media_ip 127.0.0.1 \
    -timeout "$((calls * 10 + 30))s" -timeout_error -nostdin \
    -trace_err -error_file "$work/sipp-errors.log" \
    -trace_screen -screen_file "$work/sipp-screen.log" \
    >"$work/sipp.out" 2>&1
) &
sipp_pid=$!
# sipp is up once its SIP socket is bound.
for _ in $(seq 100); do
  if python3 -c "import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try: s.bind(('127.0.0.1', $sip_port)); sys.exit(1)
except OSError: sys.exit(0)"; then
    break
  fi
  sleep 0.05
done

failed=0
for i in $(seq "$calls"); do
  status=0
  "$sipterm" --headless --json --port 0 --bind 127.0.0.1 \
    --rtp-ports "$rtp_port-$((rtp_port + 19))" --from sip:bench@127.0.0.1 \
    --audio null --duration 1 --call "sip:svc@127.0.0.1:$sip_port" \
    >"$work/call-$i.json" 2>"$work/call-$i.err" </dev/null || status=$?
  if [ "$status" != 0 ]; then
    failed=$((failed + 1))
    echo "call $i: sipterm exited $status" >&2
    tail -5 "$work/call-$i.err" >&2
  fi
done

sipp_status=0
wait "$sipp_pid" || sipp_status=$?
sipp_pid=
if [ "$sipp_status" != 0 ]; then
  echo "sipp exited $sipp_status:" >&2
  tail -20 "$work/sipp-errors.log" "$work/sipp.out" 2>/dev/null >&2 || true
fi

python3 - "$work" "$calls" <<'EOF'
import json, math, pathlib, sys

work, calls = pathlib.Path(sys.argv[1]), int(sys.argv[2])
pdd, answer, missing = [], [], []
for i in range(1, calls + 1):
    first_progress = answered = None
    for line in (work / f"call-{i}.json").read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "call_progress" and first_progress is None:
            first_progress = event.get("post_dial_delay_ms")
        elif event.get("event") == "call_answered" and answered is None:
            answered = event.get("answer_ms")
    if first_progress is None or answered is None:
        missing.append(i)
        continue
    pdd.append(first_progress)
    answer.append(answered)

def figures(name, values):
    if not values:
        print(f"{name}: no figures")
        return
    values = sorted(values)
    def at(q):  # nearest rank
        return values[max(0, math.ceil(q * len(values)) - 1)]
    print(f"{name}: median {at(0.5)} ms, p90 {at(0.9)} ms, max {values[-1]} ms ({len(values)} calls)")

figures("outgoing_post_dial_delay", pdd)
figures("outgoing_invite_to_200  ", answer)
if missing:
    print(f"calls without call_progress or call_answered: {missing[:20]}", file=sys.stderr)
    sys.exit(1)
EOF
[ "$failed" = 0 ] && [ "$sipp_status" = 0 ] || {
  echo "outgoing_bench: $failed of $calls calls failed, sipp exited $sipp_status" >&2
  exit 1
}
