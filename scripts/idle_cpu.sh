#!/usr/bin/env bash
# What the full-screen UI costs when idle: the release build of sipterm in a real terminal
# (tmux, 120x40), registered at a Kamailio on loopback started by the test harness, no calls;
# after 5 s its CPU time over 60 s, from /proc/<pid>/stat. Prints
#   idle_tui_cpu: X % of a core over 60 s (...)
# The work is in tests/idle_cpu.rs (ignored in the normal suite).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cargo test --release --locked --test idle_cpu -- --ignored --nocapture --test-threads=1 \
  >"$out" 2>&1 || { cat "$out" >&2; exit 1; }
# The test prints the figure on the line of its own name: cut it out.
line=$(grep -o 'idle_tui_cpu: .*' "$out" || true)
if [ -z "$line" ]; then
  cat "$out" >&2
  echo "idle_cpu: the test printed no figure" >&2
  exit 1
fi
echo "$line"
