#!/usr/bin/env bash
# The whole test suite: set-up, formatting and lint gates, unit and integration tests against
# real peers (Kamailio, sipp) on loopback, then the benchmarks that print figures.
# This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked -- --test-threads=2
# Figures, not assertions: see the README's performance section.
cargo bench --locked --bench answer_latency
