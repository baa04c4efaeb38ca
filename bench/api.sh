#!/usr/bin/env bash
# API benchmark: POST -> ACTIVE latency of load balancer creation (1,000
# sequential, 1,000 by 16 concurrent clients) and GET throughput on one
# resource with 50 keep-alive connections, against a release build of
# `ballast serve` on a temp data dir and a free port.
#
#   bench/api.sh [--count N] [--clients C] [--connections K] [--seconds S]
#
# The GET figure is measured twice when `wrk` is installed: once by the Rust
# client (examples/api_bench.rs) and once by wrk, which costs less CPU on the
# same cores. Targets on a 2-core machine: POST->ACTIVE p99 < 50 ms,
# >= 10,000 GET/s.
set -euo pipefail
cd "$(dirname "$0")/.."

connections=50
seconds=10
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --connections) connections="${args[i + 1]}" ;;
    --seconds) seconds="${args[i + 1]}" ;;
  esac
done

cargo build --release --examples --bins

tmp=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    wait "$pid" || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

cat >"$tmp/ballast.toml" <<TOML
data_dir = "$tmp/data"

[api]
address = "127.0.0.1"
port = 0

[[networks]]
name = "bench"
mode = "loopback"
cidr = "127.88.0.0/16"
TOML

RUST_LOG="${RUST_LOG:-warn,ballast::app=info}" \
  target/release/ballast serve --config "$tmp/ballast.toml" 2>"$tmp/ballast.log" &
pid=$!

addr=""
for _ in $(seq 1 300); do
  addr=$(sed -n 's/.*API listening addr=\([0-9.:]*\).*/\1/p' "$tmp/ballast.log" | head -n1)
  [[ -n "$addr" ]] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/ballast.log"; exit 1; }
  sleep 0.1
done
[[ -n "$addr" ]] || { echo "ballast did not start" >&2; cat "$tmp/ballast.log"; exit 1; }
for _ in $(seq 1 300); do
  if target/release/examples/api_bench --url "http://$addr" --probe-ready 2>/dev/null; then break; fi
  sleep 0.1
done

echo "Ballast API benchmark: $(nproc) cores, $(git rev-parse --short HEAD 2>/dev/null || echo '?'), API on $addr"
out=$(target/release/examples/api_bench --url "http://$addr" "$@")
echo "$out"

if command -v wrk >/dev/null; then
  path=$(sed -n 's/^GET target: //p' <<<"$out")
  echo
  echo "wrk -t2 -c$connections -d${seconds}s http://$addr$path"
  wrk -t2 -c"$connections" -d"${seconds}s" "http://$addr$path"
else
  echo
  echo "(wrk not installed: apt-get install -y wrk for a second GET figure)"
fi
