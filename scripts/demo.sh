#!/usr/bin/env bash
# See sipterm work on this machine with nothing else set up: a local Kamailio registrar on
# loopback with the account alice / secret, sipterm registered to it, and a sipp call that
# rings a few seconds later. In the full-screen UI press `a` to answer, `h` to hang up, `q`
# to quit. The caller hears assets/greeting.wav (played as the microphone), so no sound card
# is needed; add `--audio device` to the sipterm line below to use yours.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --release --quiet

work=$(mktemp -d)
port=${SIPTERM_DEMO_PORT:-5090}
cleanup() {
  [ -n "${kam_pid:-}" ] && kill "$kam_pid" 2>/dev/null || true
  [ -n "${sipp_pid:-}" ] && kill "$sipp_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

sed -e "s|@PORT@|$port|g" -e "s|@CTL@|unix:$work/ctl.sock|" \
    -e "s|@SIPDUMP_DIR@|$work|" -e "s|@REALM@|sipterm.demo|g" -e "s|@MAX_EXPIRES@|3600|" \
    -e "s|@DEBUG@|1|" -e "s|@AUTH_HEADER@|Authorization|" -e "s|@CHALLENGE@|www_challenge|" \
    -e "s|@AUTHENTICATE@|pv_www_authenticate|" \
    -e "s|^@USERS@$|\t\tcase \"alice\":\n\t\t\t\$var(password) = \"secret\";\n\t\t\tbreak;|" \
    tests/support/kamailio.cfg.in > "$work/kamailio.cfg"
kamailio -DD -E -f "$work/kamailio.cfg" -P "$work/k.pid" -Y "$work" -w "$work" -m 32 -M 4 \
  > "$work/kamailio.log" 2>&1 &
kam_pid=$!
sleep 1

# A caller that rings in 5 s and talks (a 1 kHz tone) until sipterm hangs up.
(sleep 5 && cd "$work" && sox -n -r 8000 -c 1 -e u-law -t raw tone_1khz.ulaw synth 60 sine 1000 vol 0.3 \
  && sipp -sf "$OLDPWD/tests/scenarios/uac_wait_bye.xml" -s alice -m 1 -i 127.0.0.1 -p 5091 \
       -mi 127.0.0.1 -mp 16000 -key call_ms 60000 -key hold_ms 0 -key expected_status 200 \
       -key expires 0 -key contact_port 5091 -key sdp_media_ip 127.0.0.1 -nostdin \
       -timeout 120s -trace_err -error_file "$work/sipp.err" "127.0.0.1:$port" \
       > "$work/sipp.log" 2>&1) &
sipp_pid=$!

./target/release/sipterm --sip-uri "sip:alice@127.0.0.1:$port" --password secret --port 0 \
  --bind 127.0.0.1 --audio null --play assets/greeting.wav "$@"
