#!/usr/bin/env bash
# Ballast data plane vs HAProxy on this machine, same worker threads.
#
# Starts two bench members (examples/bench_member.rs), HAProxy (mode http and
# mode tcp, round robin, X-Forwarded-* like Ballast) and Ballast's data plane
# (examples/dataplane_bench.rs), drives each with wrk on loopback and prints
# a table with Ballast/HAProxy ratios. Needs: haproxy, wrk, python3.
#
# Each measure runs ROUNDS times, HAProxy and Ballast back to back (the order
# flips every round), so a slow patch of the machine hits both: the table
# shows medians, and the ratio is the median of the per-round ratios. The
# proxies' own CPU time per request (from /proc) is printed too, split into
# user time (the proxy's code) and kernel time (the socket calls, the same
# four per request for both proxies): it does not depend on how the kernel
# schedules wrk and the members around them.
#
#   THREADS=1 ROUNDS=5 DURATION=3s bench/dataplane.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

THREADS=${THREADS:-1}
DURATION=${DURATION:-3s}
ROUNDS=${ROUNDS:-5}
# The hard fd limit here is 20000; HAProxy needs ~2 fds per maxconn.
IDLE=${IDLE:-5000}
M1=18101 M2=18102
HA_VIP=127.77.251.1 BA_VIP=127.77.252.1
HTTP_PORT=18080 TCP_PORT=18081

cargo build --release --quiet --example bench_member --example dataplane_bench
BIN=target/release/examples

"$BIN/bench_member" $M1 1 & PIDS+=($!)
"$BIN/bench_member" $M2 1 & PIDS+=($!)

haproxy_config() { # vip → HAProxy's configuration on stdout
cat <<CFG
global
    nbthread $THREADS
    maxconn 9000
defaults
    timeout connect 3s
    timeout client 120s
    timeout server 120s
frontend http_in
    mode http
    bind $1:$HTTP_PORT
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
    bind $1:$TCP_PORT
    default_backend tcp_members
backend tcp_members
    mode tcp
    balance roundrobin
    server m1 127.0.0.1:$M1
    server m2 127.0.0.1:$M2
CFG
}
start_haproxy() { # vip name → pid
    haproxy_config "$1" > "$WORK/$2.cfg"
    haproxy -f "$WORK/$2.cfg" -db > "$WORK/$2.log" 2>&1 &
    echo $!
}
start_ballast() { # vip name → pid
    "$BIN/dataplane_bench" "$THREADS" "$1" $HTTP_PORT $TCP_PORT 127.0.0.1:$M1 127.0.0.1:$M2 \
        > "$WORK/$2.log" 2>&1 &
    echo $!
}
HA_PID=$(start_haproxy $HA_VIP haproxy); PIDS+=($HA_PID)
BA_PID=$(start_ballast $BA_VIP ballast); PIDS+=($BA_PID)

for a in "127.0.0.1 $M1" "127.0.0.1 $M2" "$HA_VIP $HTTP_PORT" "$HA_VIP $TCP_PORT" \
         "$BA_VIP $HTTP_PORT" "$BA_VIP $TCP_PORT"; do wait_port $a; done

measure() { # measure conns path port
    for r in $(seq "$ROUNDS"); do
        if (( r % 2 )); then
            measure_one "$1" haproxy "$r" $HA_PID "$2" "http://$HA_VIP:$4$3"
            measure_one "$1" ballast "$r" $BA_PID "$2" "http://$BA_VIP:$4$3"
        else
            measure_one "$1" ballast "$r" $BA_PID "$2" "http://$BA_VIP:$4$3"
            measure_one "$1" haproxy "$r" $HA_PID "$2" "http://$HA_VIP:$4$3"
        fi
    done
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
idle_rss() { # pid host port [--after-request SECONDS] → KiB per idle connection
    local before after
    before=$(rss_kib "$1")
    exec 4> >(python3 bench/dataplane_idle.py "$2" "$3" "$IDLE" "${@:4}" > "$WORK/idle.out")
    for _ in $(seq 1200); do grep -q ready "$WORK/idle.out" 2>/dev/null && break; sleep 0.1; done
    sleep 1  # let the proxy finish accepting the backlog
    after=$(rss_kib "$1")
    exec 4>&-
    sleep 1
    awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN {printf "%.1f", (a-b)/n}'
}

echo "threads=$THREADS rounds=$ROUNDS duration=$DURATION per run"
read -r direct _ _ _ <<<"$(run_wrk 50 http://127.0.0.1:$M1/)"
printf "direct to one member, 50 conns: %s req/s\n\n" "$direct"

# Idle connections first, while neither proxy's heap holds memory freed by
# the load runs (reused memory would not show in RSS).
h_idle=$(idle_rss $HA_PID $HA_VIP $HTTP_PORT)
b_idle=$(idle_rss $BA_PID $BA_VIP $HTTP_PORT)
# Then kept-alive connections idle after one request each (Ballast sheds an
# idle connection's HTTP state 1-2 s after its last request), on a fresh
# pair of proxies: memory the first measure freed would be reused unseen.
HA2_VIP=127.77.251.2 BA2_VIP=127.77.252.2
HA2_PID=$(start_haproxy $HA2_VIP haproxy2); PIDS+=($HA2_PID)
BA2_PID=$(start_ballast $BA2_VIP ballast2); PIDS+=($BA2_PID)
wait_port $HA2_VIP $HTTP_PORT; wait_port $BA2_VIP $HTTP_PORT
h_kept=$(idle_rss $HA2_PID $HA2_VIP $HTTP_PORT --after-request 2.5)
b_kept=$(idle_rss $BA2_PID $BA2_VIP $HTTP_PORT --after-request 2.5)
kill $HA2_PID $BA2_PID
: > "$WORK/runs"
measure "HTTP-50" 50 / $HTTP_PORT
measure "HTTP-200" 200 / $HTTP_PORT
measure "TCP-50" 50 / $TCP_PORT
measure "BIG-10" 10 /big $HTTP_PORT

python3 - "$WORK/runs" "$h_idle" "$b_idle" "$h_kept" "$b_kept" <<'PY'
import sys
from collections import defaultdict
from statistics import median

# (measure, round) -> proxy -> (rps, p99, xfer, user, kernel, cpu)
runs = defaultdict(dict)
for line in open(sys.argv[1]):
    m, proxy, rnd, rps, p99, xfer, user, kernel = line.split()
    v = tuple(map(float, (rps, p99, xfer, user, kernel)))
    runs[(m, rnd)][proxy] = v + (v[3] + v[4],)

def row(label, m, field, fmt="{:.0f}"):
    pairs = [v for (mm, _), v in runs.items() if mm == m and len(v) == 2]
    h = median(p["haproxy"][field] for p in pairs)
    b = median(p["ballast"][field] for p in pairs)
    ratio = median(p["ballast"][field] / p["haproxy"][field]
                   for p in pairs if p["haproxy"][field] > 0)
    print(f"{label:38} {fmt.format(h):>10} {fmt.format(b):>10} {ratio:8.2f}")

print(f"{'measure (median of rounds)':38} {'haproxy':>10} {'ballast':>10} {'ratio':>8}")
RPS, P99, XFER, USER, KERNEL, CPU = range(6)
def cpu_rows(label, m):
    row(f"  {label} CPU us/request (lower)", m, CPU, "{:.1f}")
    row("    of which user (the proxy's code)", m, USER, "{:.1f}")
    row("    of which kernel (socket calls)", m, KERNEL, "{:.1f}")
    # If the proxy's throughput follows its CPU per request, this is the
    # best ratio Ballast could reach were its own code free.
    pairs = [v for (mm, _), v in runs.items() if mm == m and len(v) == 2]
    ceiling = median(p["haproxy"][CPU] / p["ballast"][KERNEL]
                     for p in pairs if p["ballast"][KERNEL] > 0)
    print(f"{'    ceiling if Ballast user time were 0':38} {'':>10} {'':>10} {ceiling:8.2f}")
for conns in (50, 200):
    row(f"HTTP keep-alive req/s, {conns} conns", f"HTTP-{conns}", RPS)
    row(f"HTTP p99 ms, {conns} conns (lower=better)", f"HTTP-{conns}", P99, "{:.2f}")
    cpu_rows("HTTP", f"HTTP-{conns}")
row("TCP-mode req/s, 50 conns", "TCP-50", RPS)
cpu_rows("TCP", "TCP-50")
row("1 MiB bodies, MiB/s, 10 conns", "BIG-10", XFER)
for label, h, b in (("KiB RSS per idle conn (lower=better)", *sys.argv[2:4]),
                    ("  idle after one request (lower=better)", *sys.argv[4:6])):
    h, b = float(h), float(b)
    print(f"{label:38} {h:>10.1f} {b:>10.1f} {b / h if h else 0:8.2f}")
PY
