#!/usr/bin/env python3
"""Open N idle TCP connections to HOST:PORT and hold them until stdin closes.

Used by bench/dataplane.sh to measure RSS per idle client connection.
Prints "ready <opened>" once every connection is established.
"""
import socket
import sys

host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
conns = []
for i in range(n):
    s = socket.socket()
    # Spread source addresses so 10,000 connections never exhaust ports.
    s.bind((f"127.0.{100 + i // 20000}.{1 + (i // 250) % 250}", 0))
    s.connect((host, port))
    conns.append(s)
print(f"ready {len(conns)}", flush=True)
sys.stdin.read()
