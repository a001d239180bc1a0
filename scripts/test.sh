#!/usr/bin/env bash
# The whole test suite: set-up, formatting and lint gates, unit and integration tests against
# real peers (Kamailio, sipp) on loopback. This is what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo build --locked --bins
cargo test --locked -- --test-threads=2
