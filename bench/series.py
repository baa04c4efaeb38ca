#!/usr/bin/env python3
"""Where a round's time goes, every 100 ms (bench/lib.sh runs this when
SERIES is set): loopback throughput, and for the proxy's busy threads, the
member (nginx's worker) and the load generator, the share of the interval
each ran and each waited for a CPU (/proc/<pid>/task/<tid>/schedstat).
Also free memory handed back to the host, where the kernel reports it
(virtio-balloon free page reporting): such pages are faulted back in on
their next use.

    series.py PROXY_PID OUT_FILE SECONDS

A round whose throughput drops while the member runs at 100% and the
proxy idles is a round slowed on the member's side (see the README's
bench notes: the TCP relay's splicing did that here).
"""

import os
import sys
import time

REPORTED = "/sys/module/page_reporting/parameters/reported_kib"


def comm(path):
    try:
        with open(f"{path}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def tasks(pid):
    """The schedstat files of all of a process's threads."""
    try:
        return [f"/proc/{pid}/task/{tid}/schedstat" for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return []


def threads(proxy):
    """name -> schedstat files: each of the proxy's threads on its own; the
    member (nginx's worker) and the load generator each summed."""
    found = {}
    for tid in os.listdir(f"/proc/{proxy}/task"):
        name = comm(f"/proc/{proxy}/task/{tid}")
        if name:
            found[f"{name}/{tid}"] = [f"/proc/{proxy}/task/{tid}/schedstat"]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        name = comm(f"/proc/{pid}")
        if name in ("wrk", "tlsload"):
            found[name] = tasks(pid)
        elif name == "nginx":
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"worker" in f.read():
                        found["member"] = tasks(pid)
            except OSError:
                pass
    return found


def loopback_bytes():
    with open("/proc/net/dev") as f:
        for line in f:
            if line.strip().startswith("lo:"):
                return int(line.split(":", 1)[1].split()[8])
    return 0


def reported_kib():
    try:
        with open(REPORTED) as f:
            return int(f.read())
    except OSError:
        return 0


def sample(paths):
    """name -> (ns run, ns waited for a CPU), summed over its files."""
    out = {}
    for name, files in paths.items():
        run = wait = 0
        try:
            for path in files:
                with open(path) as f:
                    r, w, _ = map(int, f.read().split())
                run, wait = run + r, wait + w
        except (OSError, ValueError):
            continue
        out[name] = (run, wait)
    return out


def main():
    proxy, out_file, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    start = time.monotonic()
    paths = threads(proxy)
    prev = (start, loopback_bytes(), reported_kib(), sample(paths))
    with open(out_file, "w") as out:
        out.write("# t(s) loopback MiB/s, host-reported MiB, then per thread: ran% waited%\n")
        while time.monotonic() - start < seconds:
            time.sleep(0.1)
            if "wrk" not in paths and "tlsload" not in paths:
                paths = threads(proxy)  # the load generator starts after us
            now = (time.monotonic(), loopback_bytes(), reported_kib(), sample(paths))
            dt = now[0] - prev[0]
            cells = [
                f"{now[0] - start:5.1f}",
                f"lo {(now[1] - prev[1]) / dt / 2**20:6.0f}",
                f"reported {(now[2] - prev[2]) / 1024:4.0f}",
            ]
            for name, (run, wait) in sorted(now[3].items()):
                if name in prev[3]:
                    ran = (run - prev[3][name][0]) / dt / 1e7
                    waited = (wait - prev[3][name][1]) / dt / 1e7
                    if ran >= 1 or waited >= 1:
                        cells.append(f"{name} {ran:3.0f} {waited:3.0f}")
            out.write(" | ".join(cells) + "\n")
            prev = now


if __name__ == "__main__":
    main()
