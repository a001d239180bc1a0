#!/usr/bin/env bash
# Load benchmark (issue 14): N simultaneous 20 s PCMU echo calls from sipp through Kamailio to
# sipterm, then to baresip 1.0's echo module (at most 250 calls: baresip stops near 255), one
# after the other; each UA's RTP captured on loopback and judged call by call. Prints per UA
#   load: <ua> N=<n>: failed …, frames lost per call max … (total …), CPU … ms per
#   call-second, RSS idle … MB, +… KB per call, after … MB; pacing |dev| p50 … p99 …
# and a sipterm/baresip ratio line. The work is in benches/load.rs (built optimised, as
# `cargo bench` does); needs root or CAP_NET_RAW for dumpcap.
#
#   scripts/load.sh [N]     N from the argument, else SIPTERM_LOAD_CALLS, else 200
set -euo pipefail
cd "$(dirname "$0")/.."

calls=${1:-${SIPTERM_LOAD_CALLS:-200}}
case $calls in
'' | *[!0-9]* | 0)
  echo "usage: $0 [N] (a positive number of simultaneous calls, default 200)" >&2
  exit 2
  ;;
esac
for tool in sipp kamailio kamcmd baresip dumpcap; do
  command -v "$tool" >/dev/null || {
    echo "load: $tool is not installed (scripts/setup.sh installs it)" >&2
    exit 1
  }
done
SIPTERM_LOAD_CALLS=$calls exec cargo bench --locked --bench load
