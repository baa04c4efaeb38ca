#!/usr/bin/env bash
# Health-check scale benchmark (issue #5): 5,000 members on 127.0.0.1
# monitored by TCP and then by HTTP at delay 1 s; prints the checker's CPU use
# (from /proc) and the time from a member's death to OFFLINE.
#
# Usage: bench/health_scale.sh [members] [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."

MEMBERS="${1:-5000}"
SECONDS_MEASURED="${2:-20}"

# Each member is a listening socket, and each probe in flight holds two more.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "open-file limit: $(ulimit -n)"

cargo build --release --example health_scale
for kind in tcp http; do
    echo "== ${kind} =="
    ./target/release/examples/health_scale \
        --members "$MEMBERS" --kind "$kind" --seconds "$SECONDS_MEASURED"
done
