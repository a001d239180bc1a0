#!/usr/bin/env bash
# The whole test suite: set-up, formatting and lint gates, unit and integration tests against
# real peers (Kamailio, sipp, baresip, linphonec, pjsua) on loopback with a five-minute soak,
# then the benchmarks that print figures.
# This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked -- --test-threads=2
# Figures, not assertions: see the README's performance section. Criterion runs are kept short.
cargo bench --locked --bench answer_latency
cargo bench --locked --bench echo_cpu
cargo bench --locked --bench bridge_latency
cargo bench --locked --bench device_latency
cargo bench --locked --bench codecs -- --noplot
cargo bench --locked --bench jitter -- --noplot
cargo bench --locked --bench srtp -- --noplot
cargo bench --locked --bench tls_setup
