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
    res.setdefault(k, {}).update(v)

lower_is_better = {"cold_ls_l_s", "cold_find_s", "tree_build_s"}
keys = list(res["local"].keys())
print(f"{'workload':26} {'local':>10} | {'gluster r3':>10} {'hafs r3':>10} {'vs gl':>6} {'vs disk':>7} |"
      f" {'gluster d3':>10} {'hafs d3':>10} {'vs gl':>6} {'vs disk':>7}")
def ratio(a, b, low):
    if not a or not b: return "  -"
    return f"{(b / a if low else a / b):6.2f}"
for k in keys:
    low = k in lower_is_better
    loc = res["local"].get(k)
    fmt = "10.3f" if low else "10.1f"
    row = f"{k:26} {loc:{fmt}} |"
    for g, h in (("gr3", "hr3"), ("gd3", "hd3")):
        gv, hv = res.get(g, {}).get(k), res.get(h, {}).get(k)
        if gv is None and hv is None:
            row += f" {'':>10} {'':>10} {'':>6} {'':>7} |"
            continue
        row += f" {gv or 0:{fmt}} {hv or 0:{fmt}} {ratio(hv, gv, low)} {ratio(hv, loc, low):>7} |"
    print(row)
print("ratios: hafs / GlusterFS and hafs / local disk, >1 is better for hafs (for times: the inverse)")
