"""Directors: hafs-lb (HTTP with cookie persistence, TCP round robin, stats page) and hafs-vipd
(VRRPv3, 100 ms adverts, priorities 150/100/90, external and internal VIP in one sync group);
gv1 mounted on each."""
import json
import os
import signal
import time

from .common import (HTTP_PORT, STATS_PORT, TCP_PORT, ClusterError, alive, log, nsexec, proc_start_time,
                     run, spawn, stop_process, tail, wait_until)
from . import mounts, topology

PRIORITIES = [150, 100, 90, 80, 70, 60, 50, 40, 30]
ADVERT_INT = "0.1"


def lb_config(state, node):
    d = state.node_dir(node["name"])
    servers = "\n".join(f"  server {w['name']} {w['address']}:80 cookie {w['name']}" for w in state.nodes("web"))
    tcp_servers = "\n".join(f"  server {w['name']} {w['address']}:80" for w in state.nodes("web"))
    return f"""# hafs-lb on director {node['name']} (written by hafs-cluster)
global
  nbthread 2
  stats socket {d}/lb-admin.sock mode 600 level admin

defaults
  mode http
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout check 500ms
  retries 3
  option redispatch
  option forwardfor
  default-server check inter 200 fall 2 rise 2

# the site, sticky per client through the SERVERID cookie
frontend www
  bind 0.0.0.0:{HTTP_PORT}
  default_backend web

backend web
  balance roundrobin
  cookie SERVERID insert
  option httpchk GET /hafs-health
{servers}

# plain TCP round robin to the same web nodes
listen tcp_rr
  mode tcp
  bind 0.0.0.0:{TCP_PORT}
  balance roundrobin
{tcp_servers}

listen stats
  bind 0.0.0.0:{STATS_PORT}
  stats enable
  stats uri /stats
  stats refresh 2s
"""


def vipd_config(state, node, index):
    d = state.node_dir(node["name"])
    prio = PRIORITIES[index]
    return f"""# hafs-vipd on director {node['name']} (written by hafs-cluster)
global_defs {{
  router_id {node['name']}
  vrrp_version 3
}}
vrrp_script chk_lb {{
  script "kill -0 $(cat {d}/lb.pid)"
  interval 0.2
  fall 2
  rise 2
  weight 0
}}
vrrp_instance VI_EXT {{
  interface eth0
  virtual_router_id 51
  priority {prio}
  advert_int {ADVERT_INT}
  virtual_ipaddress {{
    {state.vip_external}/24
  }}
  track_script {{
    chk_lb
  }}
}}
vrrp_instance VI_INT {{
  interface eth0
  virtual_router_id 52
  priority {prio}
  advert_int {ADVERT_INT}
  virtual_ipaddress {{
    {state.vip_internal}/24
  }}
  track_script {{
    chk_lb
  }}
}}
vrrp_sync_group VG {{
  group {{
    VI_EXT
    VI_INT
  }}
}}
"""


def start_services(state, node, index):
    d = state.node_dir(node["name"])
    lb_cfg = os.path.join(d, "lb.cfg")
    vip_cfg = os.path.join(d, "vipd.conf")
    with open(lb_cfg, "w") as f:
        f.write(lb_config(state, node))
    with open(vip_cfg, "w") as f:
        f.write(vipd_config(state, node, index))
    run([state.bin("hafs-lb"), "-c", "-f", lb_cfg])
    run([state.bin("hafs-vipd"), "-t", "-f", vip_cfg])
    lb = spawn(state, node, "hafs-lb", [state.bin("hafs-lb"), "-f", lb_cfg, "-p", os.path.join(d, "lb.pid")])

    def lb_answers():
        if not alive(lb):
            raise ClusterError(f"hafs-lb on {node['name']} exited: {tail(lb['log'], 5)}")
        p = run(nsexec(state, node, ["curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                                     f"http://127.0.0.1:{STATS_PORT}/stats"]), check=False, timeout=5)
        return p.stdout.strip() == "200"
    wait_until(f"hafs-lb on {node['name']}", lb_answers, 20, 0.1)
    spawn(state, node, "hafs-vipd", [state.bin("hafs-vipd"), "-f", vip_cfg, "-S", os.path.join(d, "vipd.sock"),
                                     "-l", "info"])


def create(state):
    for i, n in enumerate(state.nodes("director")):
        mounts.mount(state, n, "gv1")
        start_services(state, n, i)
        log(f"{n['name']}: hafs-lb (:{HTTP_PORT} http+cookie, :{TCP_PORT} tcp, :{STATS_PORT}/stats) and "
            f"hafs-vipd (priority {PRIORITIES[i]}) started")
    wait_until("a director holding both VIPs", lambda: vip_holder(state, state.vip_external)
               and vip_holder(state, state.vip_internal), 15)


def vip_holder(state, vip):
    """The director whose eth0 carries vip (several if split), or None. A director whose link is
    down (failed) cannot answer for it, whatever address its dead interface still carries."""
    holders = []
    for n in state.nodes("director"):
        if not topology.netns_exists(n["netns"]):
            continue
        p = run(["ip", "-n", n["netns"], "-4", "-o", "addr", "show", "dev", "eth0", "up"], check=False, timeout=5)
        if f" {vip}/" in p.stdout:
            holders.append(n["name"])
    return ",".join(holders) or None


def vipd_status(state, node):
    sock = os.path.join(state.dir, node["name"], "vipd.sock")
    if not alive(node["procs"].get("hafs-vipd")):
        return None
    p = run(nsexec(state, node, [state.bin("hafs-vipd"), "--status", "-S", sock]), check=False, timeout=3)
    try:
        return json.loads(p.stdout)
    except ValueError:
        return None


def fail(state, node):
    """A director dies: hafs-vipd and hafs-lb get SIGKILL together (the kernel resets the
    connections they held: the requests in flight fail), then at once its link goes down, as a
    powered-off host: it neither answers nor resets new connections, which reach the next master
    with their SYN retransmission. Its hafs client is killed too."""
    # First the switch stops delivering frames to the director (its port no longer learns or
    # floods, its MAC is forgotten) while what the director sends still goes out: the resets of
    # the killed processes' connections reach the clients, but no new connection is refused by a
    # half-dead host in the milliseconds between the kill and the link going down.
    topology.isolate_port(state, node, True)
    targets = []
    for p in ("hafs-vipd", "hafs-lb"):
        rec = node["procs"].get(p)
        if alive(rec):
            targets.append(rec["pid"])
    for pid in targets:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    deadline = time.monotonic() + 2
    while any(proc_start_time(p) is not None for p in targets) and time.monotonic() < deadline:
        time.sleep(0.001)
    topology.link(state, node, False)
    for m in node["mounts"]:
        rec = node["procs"].get(f"hafs-fuse-{m['volume']}")
        if rec:
            stop_process(rec, signal.SIGKILL)


def recover(state, node):
    stop_services(state, node)  # recover is also a restart of a node that was not failed
    # A rebooted host does not keep the VIPs it held when it died.
    for vip in (state.vip_external, state.vip_internal):
        run(["ip", "-n", node["netns"], "addr", "del", f"{vip}/24", "dev", "eth0"], check=False)
    topology.isolate_port(state, node, False)
    topology.link(state, node, True)
    mounts.mount(state, node, "gv1")
    index = [n["name"] for n in state.nodes("director")].index(node["name"])
    start_services(state, node, index)


def stop_services(state, node):
    for p in ("hafs-vipd", "hafs-lb"):
        rec = node["procs"].get(p)
        if rec:
            stop_process(rec, signal.SIGTERM, 3)
