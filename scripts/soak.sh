#!/usr/bin/env bash
# The soak on its own, for longer than CI's two minutes: mutated SIP and RTP datagrams at
# sipterm beside a live call, one clean call after, and the figures (datagrams sent, RSS and
# open files before and after) on the line starting with 📊.
#   scripts/soak.sh [SECONDS]     (default 1800)
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-1800}"
bash scripts/setup.sh
SIPTERM_SOAK_SECS="$secs" cargo test --locked --test peers soak -- --nocapture 2>&1 |
  grep -E '📊|^test |test result|panicked'
