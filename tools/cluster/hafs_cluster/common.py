"""State file, process bookkeeping and command helpers shared by every part of hafs-cluster."""
import json
import os
import shutil
import signal
import subprocess
import time

DEFAULT_DIR = "/var/lib/hafs-cluster"
DEFAULT_PREFIX = "hafs-"
DEFAULT_PORT = 18080
SUBNET = "10.213.0"          # every address lives only inside the cluster's namespaces
BRIDGE = "hafsbr0"           # inside the switch namespace <prefix>sw
MGMT_PORT = 24007
HTTP_PORT = 80               # hafs-lb HTTP frontend (cookie persistence) on the VIP
TCP_PORT = 8080              # hafs-lb TCP round-robin frontend on the VIP
STATS_PORT = 8404            # hafs-lb stats page on the VIP


class ClusterError(Exception):
    pass


def log(msg):
    print(f"[hafs-cluster {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run(cmd, check=True, timeout=30, input=None):
    try:
        p = subprocess.run(cmd, capture_output=True, text=not isinstance(input, bytes), timeout=timeout,
                           input=input)
    except subprocess.TimeoutExpired:
        raise ClusterError(f"timed out after {timeout}s: {' '.join(cmd)}")
    except FileNotFoundError:
        raise ClusterError(f"command not found: {cmd[0]}")
    if check and p.returncode != 0:
        raise ClusterError(f"failed (exit {p.returncode}): {' '.join(cmd)}: "
                           f"{_text(p.stderr or p.stdout or '').strip()}")
    return p


def _text(s):
    return s.decode(errors="replace") if isinstance(s, bytes) else s


def wait_until(what, fn, timeout, interval=0.1):
    """Polls fn until it returns a true value; raises ClusterError naming `what` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            r = fn()
            if r:
                return r
        except Exception as e:  # noqa: BLE001 - the last error is reported on timeout
            last = e
        if time.monotonic() > deadline:
            raise ClusterError(f"{what} did not answer within {timeout:.0f} s"
                               + (f" (last error: {last})" if last else ""))
        time.sleep(interval)


# ---- processes -------------------------------------------------------------------------

def proc_start_time(pid):
    """The process's start time in clock ticks (field 22 of /proc/PID/stat), None if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2:].split()
    if rest[0] == "Z":  # a zombie is dead for our purposes
        return None
    return int(rest[19])


def alive(rec):
    """rec: {"pid", "start"} as recorded by spawn; true while that very process runs."""
    if not rec or not rec.get("pid"):
        return False
    st = proc_start_time(rec["pid"])
    return st is not None and st == rec.get("start")


def descendants(pid):
    """Every live descendant of pid (children of children...), from /proc."""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rfind(")") + 2:].split()
        parent.setdefault(int(rest[1]), []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for c in parent.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def group_members(pgid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.getpgid(int(d)) == pgid:
                    out.append(int(d))
            except OSError:
                pass
    return out


def stop_process(rec, sig=signal.SIGTERM, grace=5.0):
    """Stops a process we started, with its descendants and its process group (which we made
    for it with setsid). The leader is signalled first and the group as a whole, so a master
    (nginx, php-fpm) cannot respawn a worker we have not seen yet; with SIGKILL the sweep is
    repeated until nothing is left. Safe when it is already gone."""
    pid, pgid = rec.get("pid"), rec.get("pgid")

    def members():
        t = set()
        if alive(rec):
            t.add(pid)
            t.update(descendants(pid))
        if pgid:
            t.update(group_members(pgid))
        return {p for p in t if proc_start_time(p) is not None}  # zombies hold nothing

    def signal_all(s):
        if alive(rec):
            try:
                os.kill(pid, s)
            except OSError:
                pass
        if pgid:
            try:
                os.killpg(pgid, s)
            except OSError:
                pass
        for p in members():
            try:
                os.kill(p, s)
            except OSError:
                pass

    if not members():
        return
    signal_all(sig)
    deadline = time.monotonic() + (min(grace, 2.0) if sig == signal.SIGKILL else grace)
    while time.monotonic() < deadline:
        if not members():
            return
        if sig == signal.SIGKILL:
            signal_all(signal.SIGKILL)
        time.sleep(0.02)
    deadline = time.monotonic() + 3
    while members() and time.monotonic() < deadline:
        signal_all(signal.SIGKILL)
        time.sleep(0.02)


# ---- the state directory ---------------------------------------------------------------

class State:
    """STATE/cluster.json: every namespace, process and mount hafs-cluster made, written
    before each thing is made so that `down` can undo a half-built cluster."""

    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        self.path = os.path.join(self.dir, "cluster.json")
        self.data = {}
        if os.path.exists(self.path):
            with open(self.path) as f:
                self.data = json.load(f)

    def exists(self):
        return bool(self.data)

    def save(self):
        os.makedirs(self.dir, exist_ok=True)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.data, f, indent=1, sort_keys=True)
        os.replace(tmp, self.path)

    # convenience accessors
    def node(self, name):
        try:
            return self.data["nodes"][name]
        except KeyError:
            raise ClusterError(f"no node {name!r} (nodes: {', '.join(self.data.get('nodes', {}))})")

    def nodes(self, role=None):
        return [n for n in self.data.get("nodes", {}).values() if role is None or n["role"] == role]

    def node_dir(self, name):
        d = os.path.join(self.dir, name)
        os.makedirs(d, exist_ok=True)
        return d

    def bin(self, name):
        return find_binary(name, self.data.get("bin_dir"))

    @property
    def client_netns(self):
        return self.data["prefix"] + "client"

    @property
    def vip_external(self):
        return f"{self.data['subnet']}.100"

    @property
    def vip_internal(self):
        return f"{self.data['subnet']}.101"

    def urls(self):
        port = self.data["port"]
        return {"site_url": f"http://127.0.0.1:{port}/",
                "stats_url": f"http://127.0.0.1:{port + 1}/stats",
                "status_url": f"http://127.0.0.1:{port + 2}/"}


def find_binary(name, bin_dir=None):
    for d in [bin_dir, os.environ.get("HAFS_BIN_DIR")]:
        if d and os.access(os.path.join(d, name), os.X_OK):
            return os.path.join(d, name)
    p = shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin")
    if not p:
        raise ClusterError(f"cannot find {name}: give --bin-dir, set HAFS_BIN_DIR, or install hafs "
                           f"(cmake --install build)")
    return p


def nsexec(state, node, cmd):
    """argv that runs cmd inside node's network and mount namespaces."""
    holder = node.get("holder")
    if not holder or not alive(holder):
        raise ClusterError(f"node {node['name']} has no namespace holder (is the cluster up?)")
    return ["nsenter", "-t", str(holder["pid"]), "-m", "-n", "--"] + cmd


def spawn(state, node, pname, cmd, logfile=None, netns_only=False):
    """Starts a long-running process in node's namespaces, in its own session, and records it
    in the state before returning."""
    logfile = logfile or os.path.join(state.node_dir(node["name"]), f"{pname}.log")
    argv = nsexec(state, node, cmd)
    old = node.get("procs", {}).get(pname)
    if old:
        stop_process(old)  # never lose track of a running process by overwriting its record
    with open(logfile, "ab") as out:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True, close_fds=True)
    # nsenter execs the command (no fork without -p), so p.pid is the daemon itself.
    rec = {"pid": p.pid, "pgid": p.pid, "start": None, "cmd": cmd, "log": logfile}
    for _ in range(100):
        rec["start"] = proc_start_time(p.pid)
        if rec["start"] is not None:
            break
        time.sleep(0.01)
    node.setdefault("procs", {})[pname] = rec
    state.save()
    return rec


def tail(path, n=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""
