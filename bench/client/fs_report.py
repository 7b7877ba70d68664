#!/usr/bin/env python3
"""Prints the client benchmark's table: every figure with its ratio to GlusterFS and to the
local disk. Input: lines "TARGET {json}" and web lines "TARGET page_rps image_rps"."""
import json, sys

res = {}
for line in open(sys.argv[1]):
    name, js = line.split(" ", 1)
    res[name] = json.loads(js)
web = {}
for line in open(sys.argv[2]):
    p = line.split()
    if len(p) == 3:
        web[p[0]] = {"web_page_rps": float(p[1] or 0), "web_image_rps": float(p[2] or 0)}
for k, v in web.items():
    if k.endswith("-ro"):  # a read-only mount's web figures: rows of their own for its volume
        res.setdefault(k[:-3], {}).update({n.replace("_rps", "_ro_rps"): x for n, x in v.items()})
    else:
        res.setdefault(k, {}).update(v)

lower_is_better = {"cold_ls_l_s", "cold_find_s", "tree_build_s", "cold_find_prefetch_s"}
# hafs-only rows, compared with GlusterFS's and the disk's figure for the same work.
same_as = {"cold_find_prefetch_s": "cold_find_s"}
# Rows whose local-disk figure is another row's (the disk has no read-only mount).
local_as = dict(same_as, web_page_ro_rps="web_page_rps", web_image_ro_rps="web_image_rps")
keys = [k for k in res["local"] if not k.startswith("n_")]
for t in ("hr3", "hd3"):
    keys += [k for k in res.get(t, {}) if k not in keys and not k.startswith("n_")]
print(f"{'workload':26} {'local':>10} | {'gluster r3':>10} {'hafs r3':>10} {'vs gl':>6} {'vs disk':>7} |"
      f" {'gluster d3':>10} {'hafs d3':>10} {'vs gl':>6} {'vs disk':>7}")
def ratio(a, b, low):
    if not a or not b: return "  -"
    return f"{(b / a if low else a / b):6.2f}"
for k in keys:
    low = k in lower_is_better
    base = same_as.get(k, k)
    loc = res["local"].get(local_as.get(k, k))
    fmt = "10.3f" if low else "10.1f"
    row = f"{k:26} {loc or 0:{fmt}} |"
    for g, h in (("gr3", "hr3"), ("gd3", "hd3")):
        gv, hv = res.get(g, {}).get(base), res.get(h, {}).get(k)
        if gv is None and hv is None:
            row += f" {'':>10} {'':>10} {'':>6} {'':>7} |"
            continue
        row += f" {gv or 0:{fmt}} {hv or 0:{fmt}} {ratio(hv, gv, low)} {ratio(hv, loc, low):>7} |"
    print(row)
print("ratios: hafs / GlusterFS and hafs / local disk, >1 is better for hafs (for times: the inverse)")
print("cold_find_prefetch_s: hafs mounted with -o readdir-prefetch, against GlusterFS's and the disk's cold_find_s")
print("web_*_ro_rps: nginx serving a read-only mount of each replica-3 volume (the disk column: nginx on the disk)")

# What the target (hafs >= 10x GlusterFS on every small-file and metadata workload)
# asks per operation, next to what the local disk itself takes: where the target is below the
# disk's own time, no network file system on this machine can meet it.
counted = {"cold_ls_l_s": "n_files", "tree_build_s": "n_tree", "cold_find_s": "n_tree",
           "cold_find_prefetch_s": "n_tree"}  # else a rate
print()
print("time per operation (us) that 10x GlusterFS allows, and what each target takes:")
print(f"{'workload':26} {'10x gl r3':>10} {'10x gl d3':>10} {'local disk':>11} {'hafs r3':>9} {'hafs d3':>9}")
for k in ("creates_per_s", "mkdirs_per_s", "cold_stats_per_s", "cold_reads_per_s", "rand_4k_reads_per_s",
          "cold_ls_l_s", "tree_build_s", "cold_find_s", "cold_find_prefetch_s"):
    if same_as.get(k, k) not in res["local"]: continue
    n = res["local"].get(counted[k]) if k in counted else None
    if k in counted and not n: continue
    def per_op(t, factor=1):
        v = res.get(t, {}).get(k if t in ("hr3", "hd3") else same_as.get(k, k))
        if not v: return None
        return 1e6 / (factor * v) if n is None else v * 1e6 / (factor * n)
    cells = [per_op("gr3", 10), per_op("gd3", 10), per_op("local"), per_op("hr3"), per_op("hd3")]
    txt = [f"{c:.1f}" if c is not None else "-" for c in cells]
    beyond = cells[2] and any(c is not None and c < cells[2] for c in cells[:2])
    print(f"{k:26} {txt[0]:>10} {txt[1]:>10} {txt[2]:>11} {txt[3]:>9} {txt[4]:>9}"
          + ("  target faster than the local disk" if beyond else ""))
