#!/usr/bin/env python3
"""The client benchmark's workloads, run against one mounted directory; prints one JSON line.

Usage: fs_workloads.py DIR [--seq-mib 1024] [--files 5000] [--tree 50000] [--mkdirs 2000]
       fs_workloads.py DIR --find-only KEY
--find-only: only a cold find of the tree an earlier run left in DIR, reported as KEY (the
benchmark's second mount of a hafs volume, with -o readdir-prefetch: cold_find_prefetch_s).
"Cold" means the kernel's caches were dropped (echo 3 > /proc/sys/vm/drop_caches) and the
attribute/entry caches had time to expire, so the filesystem itself must answer.
"""
import argparse, json, os, random, subprocess, sys, threading, time

def drop_caches():
    subprocess.run(["sync"])
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    time.sleep(1.2)  # let FUSE attribute/entry timeouts (1 s) expire too

def timed(fn):
    t = time.perf_counter(); fn(); return time.perf_counter() - t

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir"); ap.add_argument("--seq-mib", type=int, default=1024)
    ap.add_argument("--files", type=int, default=5000); ap.add_argument("--tree", type=int, default=50000)
    ap.add_argument("--mkdirs", type=int, default=2000); ap.add_argument("--find-only")
    a = ap.parse_args()
    if a.find_only:
        drop_caches()
        t = timed(lambda: subprocess.run(["find", f"{a.dir}/tree"], stdout=subprocess.DEVNULL, check=True))
        print(json.dumps({a.find_only: t}))
        return
    d = a.dir; r = {"n_files": a.files, "n_tree": a.tree}
    os.makedirs(d, exist_ok=True)
    block = os.urandom(1 << 20)

    def seq_write():
        fd = os.open(f"{d}/seq.bin", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        for _ in range(a.seq_mib): os.write(fd, block)
        os.fsync(fd); os.close(fd)
    r["seq_write_MBps"] = a.seq_mib * 1.048576 / timed(seq_write)
    drop_caches()
    def seq_read():
        fd = os.open(f"{d}/seq.bin", os.O_RDONLY)
        while os.read(fd, 1 << 20): pass
        os.close(fd)
    r["seq_read_MBps"] = a.seq_mib * 1.048576 / timed(seq_read)

    small = os.urandom(4096)
    os.makedirs(f"{d}/small", exist_ok=True)
    def creates():
        for i in range(a.files):
            fd = os.open(f"{d}/small/f{i}", os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
            os.write(fd, small); os.close(fd)
    r["creates_per_s"] = a.files / timed(creates)
    drop_caches()
    r["cold_stats_per_s"] = a.files / timed(lambda: [os.stat(f"{d}/small/f{i}") for i in range(a.files)])
    drop_caches()
    def reads():
        for i in range(a.files):
            fd = os.open(f"{d}/small/f{i}", os.O_RDONLY); os.read(fd, 8192); os.close(fd)
    r["cold_reads_per_s"] = a.files / timed(reads)
    drop_caches()
    r["cold_ls_l_s"] = timed(lambda: subprocess.run(["ls", "-l", f"{d}/small"], stdout=subprocess.DEVNULL, check=True))

    def mkdirs():
        for i in range(a.mkdirs): os.mkdir(f"{d}/dir{i}")
    r["mkdirs_per_s"] = a.mkdirs / timed(mkdirs)

    # A tree of `tree` empty files in 100 directories, then a cold find over it.
    def tree():
        for j in range(100):
            os.makedirs(f"{d}/tree/d{j}", exist_ok=True)
            for i in range(a.tree // 100): open(f"{d}/tree/d{j}/f{i}", "w").close()
    r["tree_build_s"] = timed(tree)
    drop_caches()
    r["cold_find_s"] = timed(lambda: subprocess.run(["find", f"{d}/tree"], stdout=subprocess.DEVNULL, check=True))

    drop_caches()
    fd = os.open(f"{d}/seq.bin", os.O_RDONLY); size = os.fstat(fd).st_size
    n = 5000; rnd = random.Random(1)
    def rand_reads():
        for _ in range(n): os.pread(fd, 4096, rnd.randrange(0, size // 4096) * 4096)
    r["rand_4k_reads_per_s"] = n / timed(rand_reads); os.close(fd)

    def writer(k):
        fd = os.open(f"{d}/par{k}.bin", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        for _ in range(a.seq_mib // 4): os.write(fd, block)
        os.fsync(fd); os.close(fd)
    def parallel():
        ts = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
        [t.start() for t in ts]; [t.join() for t in ts]
    r["parallel4_write_MBps"] = a.seq_mib * 1.048576 / timed(parallel)
    print(json.dumps(r)); sys.stdout.flush()

if __name__ == "__main__":
    main()
