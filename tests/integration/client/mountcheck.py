"""Helpers for the Python parts of the client's mount tests (lib.sh puts this folder on
PYTHONPATH): dropping the kernel's caches, and waiting for another mount's change."""
import os
import time


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def seen_within(read, want, what, limit=3.0, before_each=None):
    """Calls read() (after before_each(), if given) until it returns `want`; returns the seconds
    that took. Exits with `what` and the last value read if `limit` seconds pass first."""
    t0 = time.monotonic()
    while True:
        if before_each:
            before_each()
        got = read()
        if got == want:
            return time.monotonic() - t0
        if time.monotonic() - t0 > limit:
            raise SystemExit(f"{what}: still reads {str(got)[:40]} after {limit:g} s, want {str(want)[:40]}")
        time.sleep(0.02)
