# Shared by the bench scripts (sourced): a work dir removed on exit with the
# processes started into PIDS, and load runs (wrk, or LOAD=run_tlsload) with
# the proxy's CPU time per request. wait_port shows the work dir's *.log
# files when a port never opens.

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

wait_port() { # host port
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1:$2" >&2
    tail -n 5 "$WORK"/*.log >&2 || true
    exit 1
}

# wrk → "req/s p99_ms transfer_MiB/s requests"
run_wrk() { # conns url [wrk args]
    local out rps p99 xfer n
    out=$(wrk -t1 -c"$1" -d"$DURATION" --latency "${@:3}" "$2")
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v=v*1000}; print v}' <<<"$out")
    xfer=$(awk '/^Transfer\/sec/ {v=$2; if (v ~ /GB$/) {sub(/GB/,"",v); v=v*1024} else if (v ~ /MB$/) {sub(/MB/,"",v)} else if (v ~ /KB$/) {sub(/KB/,"",v); v=v/1024}; print v}' <<<"$out")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    echo "$rps $p99 $xfer $n"
}

# bench/tlsload → the same four figures, for full TLS handshakes (one
# request per connection, no session resumption; see its source). TLSLOAD is
# its binary.
run_tlsload() { # conns https://ip:port/path
    local rest=${2#https://}
    "$TLSLOAD" "$1" "${DURATION%s}" "${rest%%/*}" "/${rest#*/}"
}

cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat"; } # user, kernel

# One wrk run against one proxy, appended to $WORK/runs as
# "measure proxy round req/s p99_ms MiB/s user_us/request kernel_us/request".
measure_one() { # measure proxy round pid conns url [wrk args]
    local u0 k0 u1 k1 rps p99 xfer n
    local series=""
    if [[ -n "${SERIES:-}" ]]; then  # where the time goes, every 100 ms
        mkdir -p "$SERIES"
        python3 bench/series.py "$4" "$SERIES/$1-$2-$3.txt" "${DURATION%s}" & series=$!
    fi
    read -r u0 k0 <<<"$(cpu_ticks "$4")"
    read -r rps p99 xfer n <<<"$("${LOAD:-run_wrk}" "$5" "$6" "${@:7}")"
    read -r u1 k1 <<<"$(cpu_ticks "$4")"
    [[ -n "$series" ]] && { wait "$series" || true; }
    local tick_us=$((1000000 / $(getconf CLK_TCK)))
    echo "$1 $2 $3 $rps $p99 $xfer $(awk -v u=$((u1 - u0)) -v k=$((k1 - k0)) -v n="$n" -v t="$tick_us" \
        'BEGIN {if (n > 0) printf "%.2f %.2f", u * t / n, k * t / n; else print "0 0"}')" >> "$WORK/runs"
}
