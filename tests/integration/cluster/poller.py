#!/usr/bin/python3
"""Site poller for the cluster test, run inside the client namespace.

poll URL INTERVAL_MS LOG   : one GET on a new connection every INTERVAL_MS (timeout 0.5 s), one line
                             per request: "start end ok|fail code backend" (epoch seconds) until killed.
gaps LOG T0 [WINDOW]       : the longest time without a successful answer after T0, within WINDOW s
                             (default 5): from T0 to the first success that started after T0, and
                             between consecutive successes after that. Prints seconds.
"""
import http.client
import sys
import time


def poll(url, interval_ms, log):
    host_port, path = url.split("://", 1)[1].split("/", 1)
    host, _, port = host_port.partition(":")
    out = open(log, "a", buffering=1)
    while True:
        t0 = time.time()
        ok, code, backend = "fail", 0, "-"
        try:
            c = http.client.HTTPConnection(host, int(port or 80), timeout=0.5)
            c.request("GET", "/" + path, headers={"Connection": "close"})
            r = c.getresponse()
            body = r.read()
            code = r.status
            backend = r.getheader("X-Hafs-Node", "-")
            if code == 200 and body:
                ok = "ok"
            c.close()
        except Exception:  # noqa: BLE001 - every failure is one "fail" line
            pass
        t1 = time.time()
        out.write(f"{t0:.3f} {t1:.3f} {ok} {code} {backend}\n")
        time.sleep(max(0.0, interval_ms / 1000.0 - (t1 - t0)))


def gaps(log, t_fail, window=5.0):
    rows = []
    for line in open(log):
        p = line.split()
        if len(p) >= 3:
            rows.append((float(p[0]), float(p[1]), p[2] == "ok"))
    t_fail = float(t_fail)
    # The site "answers again" at the end of the first successful request started after the failure;
    # after that, consecutive successes must also be close together.
    succ = [end for start, end, ok in rows if ok and start >= t_fail and start <= t_fail + window]
    if not succ:
        print(f"{window:.3f}")
        return
    worst = succ[0] - t_fail
    for a, b in zip(succ, succ[1:]):
        worst = max(worst, b - a)
    print(f"{worst:.3f}")


def procs(prefix, state_dir):
    """PIDs of processes inside any network namespace /run/netns/PREFIX*, or whose command line
    names state_dir (this process excluded)."""
    import os
    inodes = set()
    for name in os.listdir("/run/netns") if os.path.isdir("/run/netns") else []:
        if name.startswith(prefix):
            try:
                inodes.add(os.stat(f"/run/netns/{name}").st_ino)
            except OSError:
                pass
    me = os.getpid()
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == me:
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    continue  # a zombie holds nothing
            ino = os.stat(f"/proc/{p}/ns/net").st_ino
            with open(f"/proc/{p}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, IndexError):
            continue
        if ino in inodes or state_dir.encode() in cmd:
            print(p)


def free_ports(seed):
    """A base port B below the ephemeral range with B, B+1, B+2 free on 127.0.0.1."""
    import socket
    for i in range(2000):
        base = 20000 + ((int(seed) * 7 + i * 3) % 12000)
        socks = []
        try:
            for p in (base, base + 1, base + 2):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            print(base)
            return
        except OSError:
            pass
        finally:
            for s in socks:
                s.close()
    sys.exit("no free loopback ports")


if __name__ == "__main__":
    if sys.argv[1] == "poll":
        poll(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif sys.argv[1] == "ports":
        free_ports(sys.argv[2])
    elif sys.argv[1] == "procs":
        procs(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "gaps":
        gaps(sys.argv[2], sys.argv[3], float(sys.argv[4]) if len(sys.argv) > 4 else 5.0)
