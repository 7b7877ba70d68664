#!/usr/bin/env python3
"""Helpers for the hafs-vipd netns tests and benchmark (runs inside the test's namespaces only).

  serve NAME PORT                 UDP responder on a director: answers every datagram with NAME
  poll ADDR PORT INTERVAL_MS OUT  client poller: one probe every INTERVAL_MS, logs "t node" per reply
  gap OUT T_FROM T_TO             longest silence (ms) between replies in [T_FROM, T_TO] and who answered after
  holder OUT T_FROM               node that answered last at or after T_FROM (or "none")
  inject KIND SRC DST VRID        sends one hostile VRRP packet (raw socket, needs root in the netns)
  garp PCAP_TXT VIP T_FROM        count of gratuitous ARPs for VIP seen by tcpdump -tt after T_FROM
  takeover PCAP_TXT OLD VIP T0    ms from OLD's last advert before T0 to the first GARP for VIP after T0
"""
import re
import socket
import struct
import sys
import time


def serve(name, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", int(port)))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(name.encode(), peer)


def poll(addr, port, interval_ms, out):
    iv = int(interval_ms) / 1000.0
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    f = open(out, "w", buffering=1)
    nxt = time.time()
    seq = 0
    while True:
        now = time.time()
        if now >= nxt:
            seq += 1
            try:
                s.sendto(str(seq).encode(), (addr, int(port)))
            except OSError:
                pass
            nxt += iv
            if nxt < now:
                nxt = now + iv
        try:
            while True:
                data, _ = s.recvfrom(256)
                f.write("%.4f %s\n" % (time.time(), data.decode(errors="replace")))
        except BlockingIOError:
            pass
        time.sleep(max(0.0, min(0.002, nxt - time.time())))


def load(out):
    rows = []
    with open(out) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                rows.append((float(parts[0]), parts[1]))
    return rows


def gap(out, t_from, t_to):
    rows = [r for r in load(out) if float(t_from) <= r[0] <= float(t_to)]
    if len(rows) < 2:
        print("inf none")
        return
    best, after = 0.0, rows[-1][1]
    # The silence that started before the window counts too: measure from the last reply before T_FROM.
    before = [r for r in load(out) if r[0] < float(t_from)]
    prev = before[-1][0] if before else rows[0][0]
    for t, node in rows:
        if t - prev > best:
            best, after = t - prev, node
        prev = t
    print("%.0f %s" % (best * 1000, after))


def holder(out, t_from):
    rows = [r for r in load(out) if r[0] >= float(t_from)]
    print(rows[-1][1] if rows else "none")


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def inject(kind, src, dst, vrid):
    vrid = int(vrid)
    v2 = kind in ("v2-badauth", "v2-owner-badauth", "v2-badchecksum", "v2-truncated", "v2-ttl")
    prio = 255 if kind in ("v2-owner-badauth", "v3-owner-ttl") else 254
    vip = socket.inet_aton("10.99.0.100")
    if v2:
        auth = b"WRONGPW!" if "badauth" in kind else b"hafs\0\0\0\0"
        body = struct.pack("!BBBBBBH", 0x21, vrid, prio, 1, 1, 1, 0) + vip + auth
        ck = checksum(body)
    else:
        body = struct.pack("!BBBBHH", 0x31, vrid, prio, 1, 5, 0) + vip
        pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 112, len(body))
        ck = checksum(pseudo + body)
    if kind.endswith("badchecksum"):
        ck ^= 0x5A5A
    body = body[:6] + struct.pack("!H", ck) + body[8:]
    if kind.endswith("truncated"):
        body = body[:10]  # count says one address + auth, payload stops inside the address
    ttl = 64 if kind.endswith("ttl") else 255
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(body), 0, 0, ttl, 112, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    s.sendto(ip + body, (dst, 0))


def is_garp(line, vip):
    """tcpdump line of an ARP announcement for vip: 'who-has V [(MAC)] tell V' (keepalived sets a target MAC)."""
    v = re.escape(vip)
    return re.search(r"who-has %s (\([^)]*\) )?tell %s(,|$|\s)" % (v, v), line) is not None


def garp(txt, vip, t_from):
    n = 0
    with open(txt) as f:
        for line in f:
            parts = line.split()
            try:
                t = float(parts[0])
            except (ValueError, IndexError):
                continue
            if t >= float(t_from) and is_garp(line, vip):
                n += 1
    print(n)


def takeover(txt, old_src, vip, t0):
    """ms from the old master's last advert before T0 to the first GARP for VIP after it (tcpdump -tt)."""
    t0 = float(t0)
    last_adv, first_garp = None, None
    with open(txt) as f:
        for line in f:
            parts = line.split()
            try:
                t = float(parts[0])
            except (ValueError, IndexError):
                continue
            if "VRRP" in line and (" %s > " % old_src) in line and t <= t0 + 0.005:
                last_adv = t
            elif t > t0 and first_garp is None and is_garp(line, vip):
                first_garp = t
    if last_adv is None or first_garp is None:
        print("n/a")
    else:
        print("%.0f" % ((first_garp - last_adv) * 1000))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"serve": serve, "poll": poll, "gap": gap, "holder": holder, "inject": inject, "garp": garp,
     "takeover": takeover}[cmd](*args)
