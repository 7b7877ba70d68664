"""Network namespaces, the bridge, veths and addresses; one mount-namespace holder per node.

Every node is a network namespace <prefix>NAME whose eth0 is a veth into the bridge hafsbr0,
which lives in its own namespace <prefix>sw (the "switch"): no interface, address or route is
added to the machine's root namespace. Each node also gets a private mount namespace, kept
alive by a `sleep infinity` holder started with `unshare --mount --propagation private`; every
command of that node runs with `nsenter -t HOLDER -m -n`, so a node's mounts are its own.
"""
import os
import signal
import subprocess
import time

from .common import BRIDGE, ClusterError, alive, log, proc_start_time, run, stop_process, wait_until

ROLES = {"storage": ("s", 10), "web": ("w", 20), "director": ("d", 30)}


def plan(state, storage, web, directors):
    nodes = {}
    for role, count in (("storage", storage), ("web", web), ("director", directors)):
        letter, base = ROLES[role]
        if not 1 <= count <= 9:
            raise ClusterError(f"--{role if role != 'director' else 'directors'} must be 1..9, not {count}")
        for i in range(1, count + 1):
            name = f"{letter}{i}"
            nodes[name] = {"name": name, "role": role, "netns": state.data["prefix"] + name,
                           "address": f"{state.data['subnet']}.{base + i}", "procs": {}, "mounts": []}
    nodes["client"] = {"name": "client", "role": "client", "netns": state.client_netns,
                       "address": f"{state.data['subnet']}.50", "procs": {}, "mounts": []}
    state.data["nodes"] = nodes
    state.save()


def netns_exists(name):
    return os.path.exists(f"/run/netns/{name}")


def add_netns(state, name):
    state.data.setdefault("netns", [])
    if name not in state.data["netns"]:
        state.data["netns"].append(name)  # recorded first: `down` deletes it even if we stop here
        state.save()
    if netns_exists(name):
        raise ClusterError(f"network namespace {name} already exists (another cluster? "
                           f"run `hafs-cluster down` or use --prefix)")
    run(["ip", "netns", "add", name])
    run(["ip", "-n", name, "link", "set", "lo", "up"])


def create(state):
    sw = state.data["prefix"] + "sw"
    add_netns(state, sw)
    run(["ip", "-n", sw, "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "-n", sw, "link", "set", BRIDGE, "up"])
    for node in state.data["nodes"].values():
        ns = node["netns"]
        add_netns(state, ns)
        port = node["name"]
        run(["ip", "link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", port, "netns", sw])
        run(["ip", "-n", sw, "link", "set", port, "master", BRIDGE])
        run(["ip", "-n", sw, "link", "set", port, "up"])
        run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        run(["ip", "-n", ns, "addr", "add", f"{node['address']}/24", "dev", "eth0"])
        start_holder(state, node)
    # A director binds its frontends before it holds the VIP.
    for node in state.nodes("director"):
        run(["ip", "netns", "exec", node["netns"], "sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1"])
    client = state.node("client")
    for node in state.nodes():
        if node is client:
            continue
        wait_until(f"network path client -> {node['name']} ({node['address']})",
                   lambda a=node["address"]: run(["ip", "netns", "exec", client["netns"], "ping", "-c1", "-W1",
                                                  "-q", a], check=False).returncode == 0, 20)


def start_holder(state, node):
    p = subprocess.Popen(["ip", "netns", "exec", node["netns"], "unshare", "--mount", "--propagation",
                          "private", "sleep", "infinity"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)
    # ip and unshare exec their successor: the pid ends up as `sleep` in the new mount namespace.
    def ready():
        try:
            with open(f"/proc/{p.pid}/comm") as f:
                return f.read().strip() == "sleep"
        except OSError:
            raise ClusterError("namespace holder exited")
    wait_until(f"mount namespace of {node['name']}", ready, 10, 0.01)
    node["holder"] = {"pid": p.pid, "pgid": p.pid, "start": proc_start_time(p.pid)}
    state.save()


def link(state, node, up):
    run(["ip", "-n", node["netns"], "link", "set", "eth0", "up" if up else "down"])


def isolate_port(state, node, on):
    """on: the bridge stops delivering frames to node (no learning, no flooding, its learned MAC
    forgotten); node's own frames still go out. off: back to normal."""
    sw = state.data["prefix"] + "sw"
    v = "off" if on else "on"
    run(["bridge", "-n", sw, "link", "set", "dev", node["name"], "learning", v, "flood", v,
         "mcast_flood", v, "bcast_flood", v])
    if on:
        p = run(["ip", "-n", node["netns"], "-o", "link", "show", "dev", "eth0"], check=False)
        parts = p.stdout.split()
        if "link/ether" in parts:
            mac = parts[parts.index("link/ether") + 1]
            run(["bridge", "-n", sw, "fdb", "del", mac, "dev", node["name"], "master"], check=False)


def processes_in(state):
    """Every process inside one of the cluster's network namespaces, plus its agent: what a
    killed `up` may have started without recording it."""
    inodes = set()
    for ns in state.data.get("netns", []):
        try:
            inodes.add(os.stat(f"/run/netns/{ns}").st_ino)
        except OSError:
            pass
    me = os.getpid()
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == me:
            continue
        try:
            if os.stat(f"/proc/{p}/ns/net").st_ino in inodes:
                out.append(int(p))
                continue
            with open(f"/proc/{p}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
            if b"hafs_cluster.agent" in args and state.dir.encode() in args:
                out.append(int(p))
        except OSError:
            pass
    return out


def sweep(state):
    """SIGTERM, then SIGKILL, to every process processes_in() finds (bounded: 3 s)."""
    for sig, wait in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 1.0)):
        pids = processes_in(state)
        if not pids:
            return
        for p in pids:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and any(proc_start_time(p) is not None for p in pids):
            time.sleep(0.02)


def destroy(state):
    sweep(state)
    for node in state.data.get("nodes", {}).values():
        if node.get("holder"):
            stop_process(node["holder"], signal.SIGKILL)
    for ns in reversed(state.data.get("netns", [])):
        if netns_exists(ns):
            for _ in range(50):
                if run(["ip", "netns", "del", ns], check=False).returncode == 0:
                    break
                time.sleep(0.1)
            else:
                log(f"warning: could not delete network namespace {ns}")


def holder_alive(node):
    return alive(node.get("holder"))
