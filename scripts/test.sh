#!/usr/bin/env bash
# The whole test suite: set-up, formatting and lint gates, unit and integration tests against
# real peers (Kamailio, sipp, baresip, linphonec, pjsua) on loopback with a two-minute soak and
# a NAT lab in network namespaces,
# then the benchmarks that print figures.
# This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked --no-run
# The NAT lab lives in network namespaces of its own (no loopback ports to share with the other
# tests) and spends most of its time waiting on the router's conntrack timers, so it runs beside
# the rest rather than after it.
nat_log=$(mktemp)
cargo test --locked --test nat -- --test-threads=2 >"$nat_log" 2>&1 &
nat=$!
others=(--lib --bins)
for t in tests/*.rs; do
  name=$(basename "$t" .rs)
  [ "$name" = nat ] || others+=(--test "$name")
done
status=0
cargo test --locked "${others[@]}" -- --test-threads=2 || status=$?
wait "$nat" || status=$?
cat "$nat_log"
rm -f "$nat_log"
[ "$status" = 0 ] || exit "$status"
# Figures, not assertions: see the README's performance section. Criterion runs are kept short.
cargo bench --locked --bench answer_latency
cargo bench --locked --bench echo_cpu
# 200 simultaneous echo calls to sipterm, then to baresip (about 2 minutes; scripts/load.sh N
# for more).
cargo bench --locked --bench load
cargo bench --locked --bench bridge_latency
cargo bench --locked --bench device_latency
cargo bench --locked --bench codecs -- --noplot
cargo bench --locked --bench jitter -- --noplot
cargo bench --locked --bench srtp -- --noplot
cargo bench --locked --bench tls_setup
# Calls sipterm places: post-dial delay and INVITE → 200 for 10 calls to a sipp callee (the
# debug binary the tests built; `bash scripts/outgoing_bench.sh` runs 100 on a release build).
SIPTERM_BIN=target/debug/sipterm bash scripts/outgoing_bench.sh 10
