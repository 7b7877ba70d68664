#!/usr/bin/env python3
"""Tables of bench/cluster/thesis_bench.sh: one per page, incumbent and hafs side by side.

Input: the TSV the bench writes, one ab run per line:
  system page n c requests_per_s mean_ms_per_request failed non_2xx complete
Ratios are hafs / incumbent: requests/s above 1 and time per request below 1 favour hafs.
"""
import sys
from collections import OrderedDict


def load(path):
    rows = OrderedDict()
    pages = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 9:
                continue
            system, page, n, c, rps, tpr, failed, non2xx, complete = parts
            if page not in pages:
                pages.append(page)
            rows[(system, page, int(n), int(c))] = {
                "rps": float(rps), "tpr": float(tpr), "failed": int(float(failed)),
                "non2xx": int(float(non2xx)), "complete": int(float(complete))}
    return pages, rows


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "—"


def fmt_failed(r):
    if r is None:
        return "—"
    s = str(r["failed"])
    if r["non2xx"]:
        s += f" ({r['non2xx']} non-2xx)"
    return s


def main(path):
    pages, rows = load(path)
    if not rows:
        print("no results")
        return 1
    keys = sorted({(p, n, c) for (_, p, n, c) in rows}, key=lambda k: (pages.index(k[0]), k[1], k[2]))
    for page in pages:
        print(f"\n### {page}\n")
        print("| n | c | req/s incumbent | req/s hafs | ratio | ms/req incumbent | ms/req hafs | ratio "
              "| failed incumbent | failed hafs |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for (p, n, c) in keys:
            if p != page:
                continue
            inc = rows.get(("incumbent", p, n, c))
            haf = rows.get(("hafs", p, n, c))
            print(f"| {n} | {c} "
                  f"| {inc['rps']:.1f} " if inc else f"| {n} | {c} | — ", end="")
            print(f"| {haf['rps']:.1f} " if haf else "| — ", end="")
            print(f"| {ratio(haf and haf['rps'], inc and inc['rps'])} ", end="")
            print(f"| {inc['tpr']:.2f} " if inc else "| — ", end="")
            print(f"| {haf['tpr']:.2f} " if haf else "| — ", end="")
            print(f"| {ratio(haf and haf['tpr'], inc and inc['tpr'])} ", end="")
            print(f"| {fmt_failed(inc)} | {fmt_failed(haf)} |")
    print("\nratio = hafs / incumbent (req/s: > 1 favours hafs; ms/req: < 1 favours hafs). "
          "incumbent = GlusterFS + HAProxy + keepalived, same nginx/php-fpm, same run.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: thesis_report.py RESULTS.tsv", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
