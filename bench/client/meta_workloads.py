#!/usr/bin/env python3
"""Small-file and metadata workloads of issue 3 against one mounted directory; one JSON line.

Usage: meta_workloads.py DIR [--files 1000] [--mkdirs 300] [--stats-cmd "CMD"]
With --stats-cmd (a shell command printing `hafs-brick-inspect ADDR stats` of every brick),
the bricks' per-operation call counts (summed) are read before and after each workload, and
the calls per file are reported ("rpc_per_file": {workload: {op: calls per file}}), with
bytes_read: what each operation costs on all bricks together. "Cold" = kernel caches dropped and the 1 s attribute/entry timeouts expired.
"""
import argparse, json, os, random, subprocess, sys, time


def drop_caches():
    subprocess.run(["sync"])
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    time.sleep(1.2)


def brick_ops(cmd):
    if not cmd:
        return {}
    out = subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout
    ops = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3 and f[1] == "count":
            ops[f[0]] = ops.get(f[0], 0) + int(f[2])
        elif len(f) >= 3 and f[0] == "bytes" and f[1] == "read":
            ops["bytes_read"] = ops.get("bytes_read", 0) + int(f[2])
    return ops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--mkdirs", type=int, default=300)
    ap.add_argument("--stats-cmd", default="")
    a = ap.parse_args()
    d, n = a.dir, a.files
    os.makedirs(f"{d}/small", exist_ok=True)
    os.makedirs(f"{d}/empty", exist_ok=True)
    small = os.urandom(4096)
    r, rpc = {}, {}

    def run(name, count, fn, rate=True):
        before = brick_ops(a.stats_cmd)
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        time.sleep(0.3)  # asynchronous releases land in the counts of their own workload
        after = brick_ops(a.stats_cmd)
        r[name] = count / dt if rate else dt
        if a.stats_cmd:
            rpc[name] = {op: round((after.get(op, 0) - before.get(op, 0)) / count, 2)
                         for op in after if after.get(op, 0) != before.get(op, 0)}

    def creates():
        for i in range(n):
            fd = os.open(f"{d}/small/f{i}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
            os.write(fd, small)
            os.close(fd)
    run("creates_4k_per_s", n, creates)

    def empties():
        for i in range(n):
            os.close(os.open(f"{d}/empty/e{i}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644))
    run("creates_empty_per_s", n, empties)

    def mkdirs():
        for i in range(a.mkdirs):
            os.mkdir(f"{d}/dir{i}")
    run("mkdirs_per_s", a.mkdirs, mkdirs)

    drop_caches()
    run("cold_stats_per_s", n, lambda: [os.stat(f"{d}/small/f{i}") for i in range(n)])
    drop_caches()

    def reads():
        for i in range(n):
            fd = os.open(f"{d}/small/f{i}", os.O_RDONLY)
            os.read(fd, 8192)
            os.close(fd)
    run("cold_reads_per_s", n, reads)
    drop_caches()
    run("cold_ls_l_s", 1, lambda: subprocess.run(["ls", "-l", f"{d}/small"], stdout=subprocess.DEVNULL,
                                                  check=True), rate=False)
    # 4 KiB reads at random offsets of a 64 MiB file, cold (does readahead inflate them?).
    block = os.urandom(1 << 20)
    with open(f"{d}/rand.bin", "wb") as f:
        for _ in range(64):
            f.write(block)
    drop_caches()
    fd = os.open(f"{d}/rand.bin", os.O_RDONLY)
    rnd = random.Random(1)
    run("rand_4k_reads_per_s", 2000,
        lambda: [os.pread(fd, 4096, rnd.randrange(0, (64 << 20) // 4096) * 4096) for _ in range(2000)])
    os.close(fd)
    if rpc:
        r["rpc_per_file"] = rpc
    print(json.dumps(r))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
