#!/usr/bin/env bash
# The whole Ballast binary, as a user runs it, against HAProxy on this machine.
#
# Starts three nginx members (a small page at / and 1 MiB at /big), the
# release `ballast serve` with its default configuration (only the data dir,
# the API port and the VIP range are set) and HAProxy with as many threads as
# Ballast has data plane workers (THREADS, default 2: Ballast's default on
# this 2-core box is one worker per CPU). Ballast is driven through its API:
# one load balancer with an HTTP listener, a TCP listener and two HTTPS
# listeners (an ECDSA P-256 and an RSA 2048 certificate, the same files
# HAProxy serves), each over the three members, round robin. HAProxy also
# gets a TCP frontend with `option splice-auto`, the second anchor for TCP
# bulk transfers. Needs: haproxy, nginx, wrk, openssl, curl, python3 (and
# cargo, for the TLS client).
#
# TLS rows: wrk keeps the session of a closed connection and resumes it on
# the next one (as h2load does), so its `Connection: close` rate over HTTPS
# is a rate of resumed handshakes (no certificate, no signature): that is
# the `tlsresume` row. The full-handshake rows use bench/tlsload, a one-thread
# rustls client with resumption off, one request per connection.
#
# Each row runs ROUNDS times, the proxies back to back in an order that
# flips every round. The table shows medians and the median of the per-round
# ratios (Ballast / HAProxy): req/s (or MiB/s for bulk rows), p99 and the
# proxies' CPU time per request from /proc, split into user time (the
# proxy's code; for Ballast the whole process, API and health checker
# included) and kernel time.
#
#   THREADS=2 ROUNDS=3 DURATION=3s bench/full.sh          # ~10 minutes
#   ROWS="http50 tcpbig" bench/full.sh                     # some rows only
#   BALLAST=/path/to/ballast bench/full.sh                 # another build
#   RUNS_OUT=rounds.txt bench/full.sh                      # keep every round's figures
#   SERIES=dir bench/full.sh                               # each round every 100 ms (bench/series.py)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

THREADS=${THREADS:-2}
DURATION=${DURATION:-3s}
ROUNDS=${ROUNDS:-3}
ROWS=${ROWS:-"http50 http200 tcp50 tcp200 httpbig tcpbig httpclose tcpclose tlsecdsa tlsrsa tlsresume https50 httpsbig"}
M1=18201 M2=18202 M3=18203
HA_VIP=127.77.241.1
HTTP_PORT=18280 TCP_PORT=18281 SPLICE_PORT=18282 ECDSA_PORT=18443 RSA_PORT=18444

if [[ -z "${BALLAST:-}" ]]; then
    cargo build --release --quiet --bin ballast
    BALLAST=target/release/ballast
fi
# The full-handshake client (wrk resumes TLS sessions: see bench/tlsload).
cargo build --release --quiet --manifest-path bench/tlsload/Cargo.toml --target-dir target/tlsload
TLSLOAD=target/tlsload/release/tlsload

# Members: one nginx, one worker, three ports; long keep-alive so neither
# proxy's member connections are recycled during a run.
mkdir -p "$WORK/www"; chmod 755 "$WORK"  # nginx workers run as an unprivileged user
echo "hello from a member" > "$WORK/www/index.html"
head -c 1048576 /dev/zero > "$WORK/www/big"
cat > "$WORK/nginx.conf" <<CFG
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_body_temp_path $WORK/nginx_body;
    proxy_temp_path $WORK/nginx_proxy;
    fastcgi_temp_path $WORK/nginx_fcgi;
    uwsgi_temp_path $WORK/nginx_uwsgi;
    scgi_temp_path $WORK/nginx_scgi;
    server {
        listen 127.0.0.1:$M1; listen 127.0.0.1:$M2; listen 127.0.0.1:$M3;
        root $WORK/www;
        location = /big { default_type application/octet-stream; }
    }
}
CFG
nginx -c "$WORK/nginx.conf" -g "daemon off;" 2>"$WORK/nginx.log" & PIDS+=($!)

# One certificate of each kind, served by both proxies.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj /CN=bench.example -keyout "$WORK/ecdsa.key" -out "$WORK/ecdsa.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 30 \
    -subj /CN=bench.example -keyout "$WORK/rsa.key" -out "$WORK/rsa.crt" 2>/dev/null
cat "$WORK/ecdsa.crt" "$WORK/ecdsa.key" > "$WORK/ecdsa.pem"
cat "$WORK/rsa.crt" "$WORK/rsa.key" > "$WORK/rsa.pem"

members() { # backend lines
    echo "    server m1 127.0.0.1:$M1"
    echo "    server m2 127.0.0.1:$M2"
    echo "    server m3 127.0.0.1:$M3"
}
cat > "$WORK/haproxy.cfg" <<CFG
global
    nbthread $THREADS
    maxconn 4000
defaults
    timeout connect 3s
    timeout client 120s
    timeout server 120s
    balance roundrobin
listen http_in
    mode http
    bind $HA_VIP:$HTTP_PORT
    bind $HA_VIP:$ECDSA_PORT ssl crt $WORK/ecdsa.pem alpn http/1.1
    bind $HA_VIP:$RSA_PORT ssl crt $WORK/rsa.pem alpn http/1.1
    option forwardfor
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Port %[dst_port]
$(members)
listen tcp_in
    mode tcp
    bind $HA_VIP:$TCP_PORT
$(members)
listen tcp_splice
    mode tcp
    option splice-auto
    bind $HA_VIP:$SPLICE_PORT
$(members)
CFG
haproxy -f "$WORK/haproxy.cfg" -db > "$WORK/haproxy.log" 2>&1 & HA_PID=$!; PIDS+=($HA_PID)

cat > "$WORK/ballast.toml" <<TOML
data_dir = "$WORK/data"
[api]
port = 0
[[networks]]
name = "bench"
mode = "loopback"
cidr = "127.77.242.0/24"
TOML
# The default worker count is one per CPU; only another THREADS sets it.
workers=()
[[ "$THREADS" != "$(nproc)" ]] && workers=(BALLAST_DATAPLANE__WORKERS="$THREADS")
env "${workers[@]}" RUST_LOG=warn,ballast::app=info \
    "$BALLAST" serve --config "$WORK/ballast.toml" 2> "$WORK/ballast.log" & BA_PID=$!; PIDS+=($BA_PID)

api=""
for _ in $(seq 300); do
    api=$(sed -n 's/.*API listening addr=\([0-9.:]*\).*/\1/p' "$WORK/ballast.log" | head -n1)
    [[ -n "$api" ]] && break
    kill -0 "$BA_PID" 2>/dev/null || { cat "$WORK/ballast.log"; exit 1; }
    sleep 0.1
done
[[ -n "$api" ]] || { echo "ballast did not start" >&2; cat "$WORK/ballast.log"; exit 1; }
B=http://$api/v1
for _ in $(seq 300); do curl -sf "http://$api/readyz" >/dev/null && break; sleep 0.1; done
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
post() { curl -sf -X POST -H 'Content-Type: application/json' "$B$1" -d "$2"; }
wait_active() {
    local s
    for _ in $(seq 300); do
        s=$(curl -sf "$B/loadbalancers/$LB" | json '["provisioning_status"]')
        [[ $s == ACTIVE ]] && return 0
        [[ $s == ERROR ]] && { echo "load balancer in ERROR" >&2; cat "$WORK/ballast.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "load balancer still $s" >&2; exit 1
}
cert() { # name key-file cert-file → certificate id
    python3 -c 'import json,sys; print(json.dumps({"name": sys.argv[1],
        "certificate": open(sys.argv[3]).read(), "private_key": open(sys.argv[2]).read()}))' \
        "$@" | curl -sf -X POST -H 'Content-Type: application/json' "$B/certificates" -d @- | json '["id"]'
}
listener() { # protocol port [certificate id] → (listener over the three members)
    local body="{\"protocol\": \"$1\", \"protocol_port\": $2"
    [[ -n "${3:-}" ]] && body+=", \"default_tls_container_id\": \"$3\""
    local l p pool_protocol=HTTP
    [[ $1 == TCP ]] && pool_protocol=TCP
    l=$(post "/loadbalancers/$LB/listeners" "$body}" | json '["id"]'); wait_active
    p=$(post "/loadbalancers/$LB/listeners/$l/pools" \
        "{\"protocol\": \"$pool_protocol\", \"lb_algorithm\": \"ROUND_ROBIN\"}" | json '["id"]'); wait_active
    for m in $M1 $M2 $M3; do
        post "/loadbalancers/$LB/listeners/$l/pools/$p/members" \
            "{\"ip_address\": \"127.0.0.1\", \"protocol_port\": $m}" >/dev/null; wait_active
    done
}
NET=$(curl -sf "$B/networks" | json '[0]["id"]')
LB=$(post /loadbalancers "{\"name\": \"bench\", \"vip\": {\"network_id\": \"$NET\"}}" | json '["id"]')
wait_active
BA_VIP=$(curl -sf "$B/loadbalancers/$LB" | json '["vip"]["ip_address"]')
listener HTTP $HTTP_PORT
listener TCP $TCP_PORT
listener HTTPS $ECDSA_PORT "$(cert ecdsa "$WORK/ecdsa.key" "$WORK/ecdsa.crt")"
listener HTTPS $RSA_PORT "$(cert rsa "$WORK/rsa.key" "$WORK/rsa.crt")"

for a in "127.0.0.1 $M1" "127.0.0.1 $M2" "127.0.0.1 $M3"; do wait_port $a; done
for port in $HTTP_PORT $TCP_PORT $ECDSA_PORT $RSA_PORT; do
    wait_port $HA_VIP $port; wait_port "$BA_VIP" $port
done
wait_port $HA_VIP $SPLICE_PORT
for url in "http://$HA_VIP:$HTTP_PORT/big" "http://$BA_VIP:$TCP_PORT/big" "https://$HA_VIP:$RSA_PORT/" \
           "https://$BA_VIP:$ECDSA_PORT/" "https://$BA_VIP:$RSA_PORT/"; do
    curl -sfk -o /dev/null "$url" || { echo "$url failed" >&2; tail -n 5 "$WORK"/*.log >&2; exit 1; }
done

# row conns scheme port path [splice] -- [wrk args]
measure() {
    local row=$1 conns=$2 scheme=$3 port=$4 path=$5 splice=${6:-}
    shift 6
    local order=(haproxy ballast)
    [[ -n "$splice" ]] && order+=(haproxy_splice)
    for r in $(seq "$ROUNDS"); do
        (( r % 2 )) || order=("${order[@]:1}" "${order[0]}")
        for proxy in "${order[@]}"; do
            case $proxy in
                haproxy) measure_one "$row" $proxy "$r" $HA_PID "$conns" "$scheme://$HA_VIP:$port$path" "$@" ;;
                haproxy_splice) measure_one "$row" $proxy "$r" $HA_PID "$conns" "$scheme://$HA_VIP:$SPLICE_PORT$path" "$@" ;;
                ballast) measure_one "$row" $proxy "$r" $BA_PID "$conns" "$scheme://$BA_VIP:$port$path" "$@" ;;
            esac
        done
    done
}

echo "ballast $("$BALLAST" --version 2>/dev/null | head -1) ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), threads=$THREADS rounds=$ROUNDS duration=$DURATION"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
: > "$WORK/runs"
CLOSE=(-H "Connection: close")
for row in $ROWS; do
    case $row in
        http50) measure http50 50 http $HTTP_PORT / "" ;;
        http200) measure http200 200 http $HTTP_PORT / "" ;;
        tcp50) measure tcp50 50 http $TCP_PORT / "" ;;
        tcp200) measure tcp200 200 http $TCP_PORT / "" ;;
        httpbig) measure httpbig 10 http $HTTP_PORT /big "" ;;
        tcpbig) measure tcpbig 10 http $TCP_PORT /big splice ;;
        httpclose) measure httpclose 50 http $HTTP_PORT / "" "${CLOSE[@]}" ;;
        tcpclose) measure tcpclose 50 http $TCP_PORT / "" "${CLOSE[@]}" ;;
        tlsecdsa) LOAD=run_tlsload measure tlsecdsa 50 https $ECDSA_PORT / "" ;;
        tlsrsa) LOAD=run_tlsload measure tlsrsa 50 https $RSA_PORT / "" ;;
        tlsresume) measure tlsresume 50 https $ECDSA_PORT / "" "${CLOSE[@]}" ;;
        https50) measure https50 50 https $ECDSA_PORT / "" ;;
        httpsbig) measure httpsbig 10 https $ECDSA_PORT /big "" ;;
        *) echo "unknown row $row" >&2; exit 1 ;;
    esac
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
# Every round's figures, for a closer look: "row proxy round req/s p99_ms
# MiB/s user_us kernel_us" per line.
[[ -n "${RUNS_OUT:-}" ]] && cp "$WORK/runs" "$RUNS_OUT"

python3 - "$WORK/runs" <<'PY'
import sys
from collections import defaultdict
from statistics import median

runs = defaultdict(dict)  # (row, round) -> proxy -> values
for line in open(sys.argv[1]):
    row, proxy, rnd, *v = line.split()
    rps, p99, xfer, user, kernel = map(float, v)
    runs[(row, rnd)][proxy] = dict(rps=rps, p99=p99, xfer=xfer, user=user,
                                   kernel=kernel, cpu=user + kernel)

LABELS = {
    "http50": ("HTTP keep-alive, 50 conns", "rps"),
    "http200": ("HTTP keep-alive, 200 conns", "rps"),
    "tcp50": ("TCP, 50 conns", "rps"),
    "tcp200": ("TCP, 200 conns", "rps"),
    "httpbig": ("HTTP 1 MiB bodies, 10 conns", "xfer"),
    "tcpbig": ("TCP 1 MiB bodies, 10 conns", "xfer"),
    "httpclose": ("HTTP Connection: close, 50 conns", "rps"),
    "tcpclose": ("TCP connect-send-close, 50 conns", "rps"),
    "tlsecdsa": ("TLS 1.3 full handshakes, ECDSA P-256", "rps"),
    "tlsrsa": ("TLS 1.3 full handshakes, RSA 2048", "rps"),
    "tlsresume": ("TLS 1.3 resumed (wrk), ECDSA", "rps"),
    "https50": ("HTTPS keep-alive, 50 conns", "rps"),
    "httpsbig": ("HTTPS 1 MiB bodies, 10 conns", "xfer"),
}

def med(pairs, who, f):
    return median(p[who][f] for p in pairs)

def ratio(pairs, who, f):
    r = [p["ballast"][f] / p[who][f] for p in pairs if p[who][f] > 0]
    return median(r) if r else float("nan")

print(f"{'row (median of rounds)':36} {'unit':5} {'haproxy':>8} {'ballast':>8} {'ratio':>6}"
      f" {'p99 ms H':>9} {'p99 ms B':>9} {'ratio':>6}   CPU us/req user+kernel H -> B")
seen = []
for (row, _) in runs:
    if row not in seen:
        seen.append(row)
for row in seen:
    label, f = LABELS[row]
    unit = "MiB/s" if f == "xfer" else "req/s"
    for anchor in ("haproxy", "haproxy_splice"):
        pairs = [v for (r, _), v in runs.items() if r == row and anchor in v and "ballast" in v]
        if not pairs:
            continue
        name = label if anchor == "haproxy" else "  vs HAProxy splice-auto"
        cpu = (f"{med(pairs, anchor, 'user'):.1f}+{med(pairs, anchor, 'kernel'):.1f} -> "
               f"{med(pairs, 'ballast', 'user'):.1f}+{med(pairs, 'ballast', 'kernel'):.1f}")
        print(f"{name:36} {unit:5} {med(pairs, anchor, f):8.0f} {med(pairs, 'ballast', f):8.0f}"
              f" {ratio(pairs, anchor, f):6.2f} {med(pairs, anchor, 'p99'):9.2f}"
              f" {med(pairs, 'ballast', 'p99'):9.2f} {ratio(pairs, anchor, 'p99'):6.2f}   {cpu}")
print("ratios are Ballast/HAProxy: throughput higher is better, p99 lower is better;"
      " bulk rows' CPU is per 1 MiB request")
PY
