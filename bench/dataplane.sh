#!/usr/bin/env bash
# Ballast data plane vs HAProxy on this machine, same worker threads, one run.
#
# Starts two bench members (examples/bench_member.rs), HAProxy (mode http and
# mode tcp, round robin, X-Forwarded-* like Ballast) and Ballast's data plane
# (examples/dataplane_bench.rs), drives each with wrk on loopback and prints
# a table with Ballast/HAProxy ratios. Needs: haproxy, wrk, python3.
#
#   THREADS=1 DURATION=10s bench/dataplane.sh
set -euo pipefail
cd "$(dirname "$0")/.."

THREADS=${THREADS:-1}
DURATION=${DURATION:-10s}
# The hard fd limit here is 20000; HAProxy needs ~2 fds per maxconn.
IDLE=${IDLE:-5000}
M1=18101 M2=18102
HA_VIP=127.77.251.1 BA_VIP=127.77.252.1
HTTP_PORT=18080 TCP_PORT=18081
WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

cargo build --release --quiet --example bench_member --example dataplane_bench
BIN=target/release/examples

"$BIN/bench_member" $M1 1 & PIDS+=($!)
"$BIN/bench_member" $M2 1 & PIDS+=($!)

cat > "$WORK/haproxy.cfg" <<CFG
global
    nbthread $THREADS
    maxconn 9000
defaults
    timeout connect 3s
    timeout client 120s
    timeout server 120s
frontend http_in
    mode http
    bind $HA_VIP:$HTTP_PORT
    option forwardfor
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Port %[dst_port]
    default_backend http_members
backend http_members
    mode http
    balance roundrobin
    server m1 127.0.0.1:$M1
    server m2 127.0.0.1:$M2
frontend tcp_in
    mode tcp
    bind $HA_VIP:$TCP_PORT
    default_backend tcp_members
backend tcp_members
    mode tcp
    balance roundrobin
    server m1 127.0.0.1:$M1
    server m2 127.0.0.1:$M2
CFG
haproxy -f "$WORK/haproxy.cfg" -db > "$WORK/haproxy.log" 2>&1 & HA_PID=$!; PIDS+=($HA_PID)
"$BIN/dataplane_bench" "$THREADS" $BA_VIP $HTTP_PORT $TCP_PORT 127.0.0.1:$M1 127.0.0.1:$M2 \
    > "$WORK/ballast.log" 2>&1 & BA_PID=$!; PIDS+=($BA_PID)

wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1:$2" >&2; exit 1
}
for a in "127.0.0.1 $M1" "127.0.0.1 $M2" "$HA_VIP $HTTP_PORT" "$HA_VIP $TCP_PORT" \
         "$BA_VIP $HTTP_PORT" "$BA_VIP $TCP_PORT"; do wait_port $a; done

# wrk → "req/s p99_ms transfer_MiB/s"
run_wrk() { # conns url
    local out
    out=$(wrk -t1 -c"$1" -d"$DURATION" --latency "$2")
    local rps p99 xfer
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
    xfer=$(awk '/^Transfer\/sec/ {v=$2; if (v ~ /GB$/) {sub(/GB/,"",v); v=v*1024} else if (v ~ /MB$/) {sub(/MB/,"",v)} else if (v ~ /KB$/) {sub(/KB/,"",v); v=v/1024}; print v}' <<<"$out")
    echo "$rps $p99 $xfer"
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
idle_rss() { # pid host port → KiB per idle connection
    local before after
    before=$(rss_kib "$1")
    exec 4> >(python3 bench/dataplane_idle.py "$2" "$3" "$IDLE" > "$WORK/idle.out")
    for _ in $(seq 600); do grep -q ready "$WORK/idle.out" 2>/dev/null && break; sleep 0.1; done
    sleep 1  # let the proxy finish accepting the backlog
    after=$(rss_kib "$1")
    exec 4>&-
    sleep 1
    awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN {printf "%.1f", (a-b)/n}'
}

ratio() { awk -v b="$1" -v h="$2" 'BEGIN { if (h > 0) printf "%.2f", b/h; else print "-" }'; }

echo "threads=$THREADS duration=$DURATION (one run; only ratios within a run count)"
read -r direct _ _ <<<"$(run_wrk 50 http://127.0.0.1:$M1/)"
printf "direct to one member, 50 conns: %s req/s\n\n" "$direct"
printf "%-34s %12s %12s %8s\n" "measure" "haproxy" "ballast" "ratio"
row() { printf "%-34s %12s %12s %8s\n" "$1" "$2" "$3" "$(ratio "$3" "$2")"; }

for c in 50 200; do
    read -r h_rps h_p99 _ <<<"$(run_wrk $c http://$HA_VIP:$HTTP_PORT/)"
    read -r b_rps b_p99 _ <<<"$(run_wrk $c http://$BA_VIP:$HTTP_PORT/)"
    row "HTTP keep-alive req/s, $c conns" "$h_rps" "$b_rps"
    row "HTTP p99 ms, $c conns (lower=better)" "$h_p99" "$b_p99"
done
read -r h_rps _ _ <<<"$(run_wrk 50 http://$HA_VIP:$TCP_PORT/)"
read -r b_rps _ _ <<<"$(run_wrk 50 http://$BA_VIP:$TCP_PORT/)"
row "TCP-mode req/s, 50 conns" "$h_rps" "$b_rps"
read -r _ _ h_x <<<"$(run_wrk 10 http://$HA_VIP:$HTTP_PORT/big)"
read -r _ _ b_x <<<"$(run_wrk 10 http://$BA_VIP:$HTTP_PORT/big)"
row "1 MiB bodies, MiB/s, 10 conns" "$h_x" "$b_x"
h_idle=$(idle_rss $HA_PID $HA_VIP $HTTP_PORT)
b_idle=$(idle_rss $BA_PID $BA_VIP $HTTP_PORT)
row "KiB RSS per idle conn (lower=better)" "$h_idle" "$b_idle"
