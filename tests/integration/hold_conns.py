#!/usr/bin/env python3
"""hold_conns.py: keeps N plain TCP connections open to 127.0.0.1:PORT for SECONDS, never
sending a byte (so each sits in the server's TLS handshake), and re-opens the ones the server
closes: a host trying to keep a listener's handshake slots full.

usage: hold_conns.py PORT N SECONDS
"""
import socket
import sys
import time

port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
held = []
end = time.monotonic() + secs
while time.monotonic() < end:
    alive = []
    for s in held:  # drop the ones the server closed
        try:
            s.setblocking(False)
            if s.recv(1) == b"":
                s.close()
                continue
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            continue
        alive.append(s)
    held = alive
    while len(held) < n:
        try:
            held.append(socket.create_connection(("127.0.0.1", port), timeout=1))
        except OSError:
            break
    time.sleep(0.02)
