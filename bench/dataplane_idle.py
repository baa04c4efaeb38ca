#!/usr/bin/env python3
"""Open N idle TCP connections to HOST:PORT and hold them until stdin closes.

Used by bench/dataplane.sh to measure RSS per idle client connection.
Prints "ready <opened>" once every connection is established.

With --after-request SECONDS, each connection first sends one keep-alive
request and reads its response: connections that served a request, now
idle. They are opened in batches of 500 with SECONDS between batches, so a
proxy that frees an idle connection's buffers after a while can reuse them
for the next batch (RSS never shrinks, so only reuse shows).
"""
import socket
import sys
import time

BATCH = 500


def request(s):
    s.sendall(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            raise SystemExit("the proxy closed a connection")
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += s.recv(4096)


args = sys.argv[1:]
pause = None
if "--after-request" in args:
    i = args.index("--after-request")
    pause = float(args[i + 1])
    del args[i : i + 2]
host, port, n = args[0], int(args[1]), int(args[2])
conns = []
for i in range(n):
    s = socket.socket()
    # Spread source addresses so 10,000 connections never exhaust ports.
    s.bind((f"127.0.{100 + i // 20000}.{1 + (i // 250) % 250}", 0))
    s.connect((host, port))
    if pause is not None:
        request(s)
        if (i + 1) % BATCH == 0 or i + 1 == n:
            time.sleep(pause)
    conns.append(s)
print(f"ready {len(conns)}", flush=True)
sys.stdin.read()
