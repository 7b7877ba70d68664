"""`hafs-cluster status`: every node, process, mount, volume, brick, heal backlog and VIP holder."""
import html
import time

from .common import alive, run
from . import directors, mounts, storage, topology


def link_up(node):
    if not topology.netns_exists(node["netns"]):
        return False
    p = run(["ip", "-n", node["netns"], "-o", "link", "show", "dev", "eth0"], check=False, timeout=5)
    try:
        flags = p.stdout.split("<", 1)[1].split(">", 1)[0].split(",")
    except IndexError:
        return False
    return "UP" in flags and "LOWER_UP" in flags


def collect(state):
    d = state.data
    out = {"state_dir": state.dir, "prefix": d.get("prefix"), "client_netns": state.client_netns,
           "vip_external": state.vip_external, "vip_internal": state.vip_internal,
           "phase": d.get("phase"), "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "nodes": [], "mounts": [], "volumes": {}, "bricks": [], "heal": {}, "vips": {}}
    out.update(state.urls())
    out["http_frontend"] = f"http://{state.vip_external}/"
    healthy = True
    for n in state.nodes():
        procs = [{"name": k, "pid": v.get("pid"), "alive": alive(v)} for k, v in sorted(n.get("procs", {}).items())]
        ns_ok = topology.netns_exists(n["netns"])
        entry = {"name": n["name"], "role": n["role"], "netns": n["netns"], "address": n["address"],
                 "netns_present": ns_ok, "link_up": link_up(n) if ns_ok else False, "processes": procs,
                 "mounts": []}
        for m in n.get("mounts", []):
            mt = {"node": n["name"], "volume": m["volume"], "path": m["path"],
                  "mounted": mounts.mounted(state, n, m["path"])}
            entry["mounts"].append(mt)
            out["mounts"].append(mt)
            healthy &= mt["mounted"]
        healthy &= ns_ok and entry["link_up"] and all(p["alive"] for p in procs)
        out["nodes"].append(entry)
    for vol in d.get("volumes", []):
        st = storage.volume_status(state, vol)
        out["volumes"][vol] = st
        for b in storage.bricks_of(st or {}):
            out["bricks"].append({"volume": vol, "brick": f"{b.get('host')}:{b.get('path')}",
                                  "online": b.get("online"), "port": b.get("port"), "pid": b.get("pid"),
                                  "heal_pending": b.get("heal_pending")})
            healthy &= b.get("online") is True
        healthy &= st is not None
        hi = storage.heal_info(state, vol)
        backlog = None
        if hi is not None:
            backlog = sum(int(b.get("entries") or 0) for b in hi.get("bricks", []))
        out["heal"][vol] = {"backlog": backlog, "info": hi}
    for vip in (state.vip_external, state.vip_internal):
        out["vips"][vip] = directors.vip_holder(state, vip)
        healthy &= out["vips"][vip] is not None and "," not in out["vips"][vip]
    out["vipd"] = {}
    for n in state.nodes("director"):
        s = directors.vipd_status(state, n)
        if s is not None:
            out["vipd"][n["name"]] = s
    out["healthy"] = bool(healthy)
    return out


def text(st):
    lines = [f"hafs-cluster {st['state_dir']}  phase: {st['phase']}  healthy: {'yes' if st['healthy'] else 'NO'}",
             f"site:   {st['site_url']}   (inside {st['client_netns']}: {st['http_frontend']})",
             f"stats:  {st['stats_url']}",
             f"status: {st['status_url']}", "", "NODE    ROLE      ADDRESS       LINK  PROCESSES"]
    for n in st["nodes"]:
        procs = " ".join(f"{p['name']}[{p['pid']}]{'' if p['alive'] else ':DEAD'}" for p in n["processes"]) or "-"
        lines.append(f"{n['name']:<7} {n['role']:<9} {n['address']:<13} {'up' if n['link_up'] else 'DOWN':<5} {procs}")
    lines += ["", "MOUNTS"]
    for m in st["mounts"]:
        lines.append(f"  {m['node']:<4} {m['volume']} on {m['path']}  {'mounted' if m['mounted'] else 'NOT MOUNTED'}")
    lines += ["", "BRICKS"]
    for b in st["bricks"]:
        lines.append(f"  {b['volume']}  {b['brick']:<48} {'online' if b['online'] else 'OFFLINE'}  port {b['port']}"
                     f"  heal-pending {b['heal_pending']}")
    lines += ["", "HEAL BACKLOG"]
    for v, h in st["heal"].items():
        lines.append(f"  {v}: {h['backlog'] if h['backlog'] is not None else 'unknown (no mgmtd answers)'}")
    lines += ["", "VIPS"]
    for v, h in st["vips"].items():
        lines.append(f"  {v} held by {h or 'NOBODY'}")
    return "\n".join(lines)


def html_page(st, refresh=2):
    e = html.escape

    def ok(b):
        return '<td class="ok">yes</td>' if b else '<td class="bad">NO</td>'
    rows = []
    for n in st["nodes"]:
        procs = ", ".join(f"{e(p['name'])} [{p['pid']}] " + ("alive" if p["alive"] else "<b>DEAD</b>")
                          for p in n["processes"]) or "-"
        rows.append(f"<tr id='node-{e(n['name'])}'><td>{e(n['name'])}</td><td>{e(n['role'])}</td><td>{e(n['netns'])}</td>"
                    f"<td>{e(n['address'])}</td>{ok(n['link_up'])}<td>{procs}</td></tr>")
    mrows = [f"<tr><td>{e(m['node'])}</td><td>{e(m['volume'])}</td><td>{e(m['path'])}</td>{ok(m['mounted'])}</tr>"
             for m in st["mounts"]]
    brows = [f"<tr><td>{e(b['volume'])}</td><td>{e(b['brick'])}</td>{ok(b['online'] is True)}<td>{b['port']}</td>"
             f"<td>{b['pid']}</td><td>{b['heal_pending']}</td></tr>" for b in st["bricks"]]
    hrows = [f"<tr><td>{e(v)}</td><td>{h['backlog'] if h['backlog'] is not None else 'unknown'}</td></tr>"
             for v, h in st["heal"].items()]
    vrows = [f"<tr><td>{e(v)}</td><td id='vip-{e(v)}'>{e(h or 'NOBODY')}</td></tr>" for v, h in st["vips"].items()]
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{refresh}">
<title>hafs-cluster status</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse;margin-bottom:1em}}
td,th{{border:1px solid #999;padding:2px 6px}} .ok{{background:#cfc}} .bad{{background:#f99}}</style></head>
<body><h1>hafs-cluster status</h1>
<p id="summary">Cluster healthy: <b id="healthy" class="{'ok' if st['healthy'] else 'bad'}">{'yes' if st['healthy'] else 'NO'}</b> &middot; phase {e(str(st['phase']))}
 &middot; {e(st['time'])} &middot; refreshes every {refresh} s</p>
<p>Site: <a href="{e(st['site_url'])}">{e(st['site_url'])}</a> &middot; lb stats: <a href="{e(st['stats_url'])}">{e(st['stats_url'])}</a>
 &middot; <a href="status.json">status.json</a></p>
<h2>Nodes</h2><table><tr><th>node</th><th>role</th><th>netns</th><th>address</th><th>link up</th><th>processes</th></tr>
{''.join(rows)}</table>
<h2>Mounts</h2><table><tr><th>node</th><th>volume</th><th>path</th><th>mounted</th></tr>{''.join(mrows)}</table>
<h2>Bricks</h2><table><tr><th>volume</th><th>brick</th><th>online</th><th>port</th><th>pid</th><th>heal pending</th></tr>
{''.join(brows)}</table>
<h2>Heal backlog</h2><table><tr><th>volume</th><th>entries</th></tr>{''.join(hrows)}</table>
<h2>VIPs</h2><table><tr><th>VIP</th><th>held by</th></tr>{''.join(vrows)}</table>
</body></html>
"""
