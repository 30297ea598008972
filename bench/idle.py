#!/usr/bin/env python3
"""Memory an idle TLS connection costs a server, and whether a burst's is given back.

    bench/idle.py PID PORT [CONNECTIONS] [AUTH-HEADER]

Opens CONNECTIONS TLS connections to 127.0.0.1:PORT (default 2000), sends
one `GET /v2/` on each (keep-alive, with AUTH-HEADER when given) and reads
its answer, then leaves them idle; reads the server's resident memory
(VmRSS of PID and its children) before, while they are open, and 7 s after
they all closed. Prints "per-connection-KiB retained-KiB" on one line,
retained being what the server still holds after the burst past its
starting point.
"""
import os
import resource
import socket
import ssl
import sys
import time


def rss_kib(pid):
    total = 0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    for p in pids:
        with open(f"/proc/{p}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def main():
    pid, port = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    auth = sys.argv[4] if len(sys.argv) > 4 else ""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 100)), hard))
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    request = b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
    if auth:
        request += auth.encode() + b"\r\n"
    request += b"\r\n"
    time.sleep(1)
    before = rss_kib(pid)
    conns = []
    for _ in range(n):
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
        s.sendall(request)
        got = b""
        while b"\r\n\r\n" not in got:
            got += s.recv(65536)
        head, _, body = got.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        while len(body) < length:
            body += s.recv(65536)
        conns.append(s)
    time.sleep(1)
    during = rss_kib(pid)
    for s in conns:
        s.close()
    time.sleep(7)  # keepd hands free pages back every 5 s after a burst
    after = rss_kib(pid)
    print(f"{(during - before) / n:.1f} {max(0, after - before)}")


if __name__ == "__main__":
    main()
