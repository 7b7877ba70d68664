#!/usr/bin/env python3
"""Concurrent writer for the rebalance test: creates files, then keeps creating new ones and
appending to existing ones until STOP exists; every write is checked (no exception) and the
final content of every file is logged as `sha256 relpath` in LOG. Files are closed after each
write, so the test sees the writer's log as the truth."""
import hashlib, os, random, sys, time

root, n_initial, ready, stop, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
rnd = random.Random(7)
content = {}
dirs = ["", "d0", "d1", "d2", "d3/sub"]
for d in dirs:
    if d:
        os.makedirs(os.path.join(root, d), exist_ok=True)

closed = []  # files written open-write-close (the held ones have their own descriptor)

def write(rel, data, mode):
    with open(os.path.join(root, rel), mode) as f:
        f.write(data)
    if rel not in content:
        closed.append(rel)
    content[rel] = (content.get(rel, b"") if mode == "ab" else b"") + data

for i in range(n_initial):
    rel = os.path.join(dirs[i % len(dirs)], f"f{i:05d}")
    write(rel, os.urandom(rnd.randint(1, 64 * 1024)), "wb")
# Files held open for the whole run and appended through the same descriptor: a client
# holding a file open must keep working while the file moves.
held = {}
for k in range(8):
    rel = os.path.join(dirs[k % len(dirs)], f"held{k}")
    held[rel] = open(os.path.join(root, rel), "wb", buffering=0)
    content[rel] = b""
open(ready, "w").close()
i = n_initial
ops = 0
deadline = time.time() + 150
while not os.path.exists(stop) and time.time() < deadline:
    r = rnd.random()
    if r < 0.1:
        rel = rnd.choice(list(held))
        data = os.urandom(rnd.randint(1, 4096))
        assert held[rel].write(data) == len(data)
        content[rel] += data
    elif r < 0.45:
        rel = os.path.join(dirs[i % len(dirs)], f"n{i:05d}")
        i += 1
        write(rel, os.urandom(rnd.randint(1, 16 * 1024)), "wb")
    else:
        rel = rnd.choice(closed)
        write(rel, os.urandom(rnd.randint(1, 8 * 1024)), "ab")
    ops += 1
for fh in held.values():
    fh.close()
with open(log, "w") as f:
    for rel, data in sorted(content.items()):
        f.write(f"{hashlib.sha256(data).hexdigest()} {rel}\n")
print(f"writer: {len(content)} files, {ops} operations while rebalancing")
