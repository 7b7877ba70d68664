#!/usr/bin/env python3
"""Tables of bench/cluster/thesis_bench.sh: one per page, incumbent and hafs side by side.

Input: the TSV the bench writes, one ab run per line:
  system page n c requests_per_s mean_ms_per_request failed non_2xx complete document_length round
With several rounds, requests/s and time per request are medians over the rounds and failed
requests are summed. Ratios are hafs / incumbent: requests/s above 1 and time per request
below 1 favour hafs.
"""
import statistics
import sys


def load(path):
    runs = {}
    pages = []
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 9:
                continue
            system, page, n, c = parts[0], parts[1], int(parts[2]), int(parts[3])
            if page not in pages:
                pages.append(page)
            runs.setdefault((system, page, n, c), []).append({
                "rps": float(parts[4]), "tpr": float(parts[5]), "failed": int(float(parts[6])),
                "non2xx": int(float(parts[7])), "complete": int(float(parts[8])),
                "doclen": int(float(parts[9])) if len(parts) > 9 else None})
    rows = {}
    for key, rs in runs.items():
        rows[key] = {"rps": statistics.median(r["rps"] for r in rs),
                     "tpr": statistics.median(r["tpr"] for r in rs),
                     "failed": sum(r["failed"] for r in rs), "non2xx": sum(r["non2xx"] for r in rs),
                     "doclens": {r["doclen"] for r in rs if r["doclen"] is not None}, "rounds": len(rs)}
    return pages, rows


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "—"


def cell(r, key, fmt):
    return format(r[key], fmt) if r else "—"


def failed(r):
    if r is None:
        return "—"
    return str(r["failed"]) + (f" ({r['non2xx']} non-2xx)" if r["non2xx"] else "")


def table(rows, keys, page, inc_name, hafs_name, title):
    lens = {s: set().union(*[rows[k]["doclens"] for k in rows if k[0] == s and k[1] == page] or [set()])
            for s in (inc_name, hafs_name)}
    size = ", ".join(f"{s} {'/'.join(map(str, sorted(v)))} B" for s, v in lens.items() if v)
    print(f"\n### {page} — {title}  (document length: {size})\n")
    if lens[inc_name] and lens[hafs_name] and lens[inc_name] != lens[hafs_name]:
        print("**warning: the two clusters served documents of different lengths**\n")
    print("| n | c | req/s incumbent | req/s hafs | ratio | ms/req incumbent | ms/req hafs | ratio "
          "| failed incumbent | failed hafs |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (p, n, c) in keys:
        if p != page:
            continue
        inc = rows.get((inc_name, p, n, c))
        haf = rows.get((hafs_name, p, n, c))
        print(f"| {n} | {c} | {cell(inc, 'rps', '.1f')} | {cell(haf, 'rps', '.1f')} "
              f"| {ratio(haf and haf['rps'], inc and inc['rps'])} "
              f"| {cell(inc, 'tpr', '.2f')} | {cell(haf, 'tpr', '.2f')} "
              f"| {ratio(haf and haf['tpr'], inc and inc['tpr'])} | {failed(inc)} | {failed(haf)} |")


def main(path):
    pages, rows = load(path)
    if not rows:
        print("no results")
        return 1
    rounds = max(r["rounds"] for r in rows.values())
    keys = sorted({(p, n, c) for (_, p, n, c) in rows}, key=lambda k: (pages.index(k[0]), k[1], k[2]))
    systems = {k[0] for k in rows}
    for inc_name, hafs_name, title in (("incumbent", "hafs", "through the VIP"),
                                       ("incumbent-direct", "hafs-direct", "direct to web node w1, no balancer")):
        if inc_name not in systems and hafs_name not in systems:
            continue
        for page in pages:
            table(rows, keys, page, inc_name, hafs_name, title)
    print(f"\nratio = hafs / incumbent (req/s: > 1 favours hafs; ms/req: < 1 favours hafs); "
          f"{'medians of ' + str(rounds) + ' rounds' if rounds > 1 else 'one round'}. "
          "incumbent = GlusterFS + HAProxy + keepalived with the same nginx/php-fpm, same run.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: thesis_report.py RESULTS.tsv", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
