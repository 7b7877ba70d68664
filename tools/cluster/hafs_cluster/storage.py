"""Storage nodes: one hafs-mgmtd per node (it starts and supervises the bricks), the pool,
the volumes gv0 (replica N) and gv1 (distribute N)."""
import json
import os
import signal

from .common import MGMT_PORT, ClusterError, alive, log, nsexec, run, spawn, stop_process, tail, wait_until

PING_TIMEOUT = "1"  # seconds; a killed node's connections are reset at once anyway


def brick_path(state, node, vol):
    return os.path.join(state.dir, node["name"], "bricks", vol)


def cli(state, node, args, json_out=False, check=True, timeout=30):
    cmd = [state.bin("hafs"), "--remote-host", f"{node['address']}:{MGMT_PORT}", "--timeout", str(timeout)]
    if json_out:
        cmd.append("--json")
    p = run(nsexec(state, node, cmd + args), check=check, timeout=timeout + 5)
    if json_out and p.returncode == 0:
        return json.loads(p.stdout)
    return p


def start_mgmtd(state, node):
    d = os.path.join(state.node_dir(node["name"]), "mgmtd")
    os.makedirs(d, exist_ok=True)
    rec = spawn(state, node, "hafs-mgmtd",
                [state.bin("hafs-mgmtd"), "--state-dir", d, "--listen", f"{node['address']}:{MGMT_PORT}",
                 "--advertise", f"{node['address']}:{MGMT_PORT}", "--brickd", state.bin("hafs-brickd")])

    def answers():
        if not alive(rec):
            raise ClusterError(f"hafs-mgmtd on {node['name']} exited: {tail(rec['log'], 5)}")
        return cli(state, node, ["pool", "list"], check=False, timeout=2).returncode == 0
    wait_until(f"hafs-mgmtd on {node['name']}", answers, 30, 0.2)


def create(state):
    nodes = state.nodes("storage")
    for n in nodes:
        log(f"{n['name']}: starting hafs-mgmtd on {n['address']}:{MGMT_PORT}")
        start_mgmtd(state, n)
    first = nodes[0]
    for n in nodes[1:]:
        cli(state, first, ["peer", "probe", f"{n['address']}:{MGMT_PORT}"])
    log(f"pool formed: {', '.join(n['address'] for n in nodes)}")
    for vol, replica in (("gv0", len(nodes)), ("gv1", 1)):
        bricks = [f"{n['address']}:{brick_path(state, n, vol)}" for n in nodes]
        args = ["volume", "create", vol] + (["replica", str(replica)] if replica > 1 else []) + bricks + ["force"]
        cli(state, first, args)
        cli(state, first, ["volume", "set", vol, "network.ping-timeout", PING_TIMEOUT])
        cli(state, first, ["volume", "start", vol], timeout=40)
        log(f"volume {vol} ({'replica ' + str(replica) if replica > 1 else 'distribute ' + str(len(nodes))}) started")
    state.data["volumes"] = ["gv0", "gv1"]
    state.save()


def any_alive_node(state):
    for n in state.nodes("storage"):
        if alive(n["procs"].get("hafs-mgmtd")):
            return n
    return None


def volume_status(state, vol):
    for n in state.nodes("storage"):
        if alive(n["procs"].get("hafs-mgmtd")):
            p = cli(state, n, ["volume", "status", vol], json_out=True, check=False, timeout=3)
            if isinstance(p, dict):
                return p
    return None


def heal_info(state, vol):
    for n in state.nodes("storage"):
        if alive(n["procs"].get("hafs-mgmtd")):
            p = cli(state, n, ["volume", "heal", vol, "info"], json_out=True, check=False, timeout=3)
            if isinstance(p, dict):
                return p
    return None


def fail(state, node):
    """Kills the node's mgmtd and its bricks with SIGKILL (the namespace stays: peers get RST)."""
    rec = node["procs"].get("hafs-mgmtd")
    if rec:
        stop_process(rec, signal.SIGKILL)


def recover(state, node):
    rec = node["procs"].get("hafs-mgmtd")
    if rec:
        stop_process(rec, signal.SIGTERM)  # recover is also a restart of a node that was not failed
    start_mgmtd(state, node)
    for vol in state.data.get("volumes", []):
        wait_until(f"bricks of {node['name']} for {vol}", lambda v=vol: bricks_online(state, node, v), 30, 0.2)


def bricks_online(state, node, vol):
    st = volume_status(state, vol)
    if not st:
        return False
    mine = [b for b in bricks_of(st) if b.get("host") == node["address"]]
    return bool(mine) and all(b.get("online") is True for b in mine)


def bricks_of(status_json):
    """The brick list of `hafs --json volume status` (tolerant of its exact nesting)."""
    if isinstance(status_json, dict):
        for key in ("bricks", "Bricks"):
            if isinstance(status_json.get(key), list):
                return status_json[key]
        for v in status_json.values():
            r = bricks_of(v)
            if r:
                return r
    if isinstance(status_json, list):
        for v in status_json:
            r = bricks_of(v)
            if r:
                return r
    return []
