"""Command line of hafs-cluster: up, down, status, fail, recover."""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from .common import (DEFAULT_DIR, DEFAULT_PORT, DEFAULT_PREFIX, HTTP_PORT, STATS_PORT, SUBNET, TCP_PORT,
                     ClusterError, State, alive, find_binary, log, proc_start_time, run, stop_process,
                     wait_until)
from . import directors, mounts, status, storage, topology, web

UP_TIMEOUT = 120


def parser():
    p = argparse.ArgumentParser(prog="hafs-cluster",
                                description="A whole hafs cluster on one machine, one network namespace per node.")
    p.add_argument("--dir", default=os.environ.get("HAFS_CLUSTER_DIR", DEFAULT_DIR),
                   help=f"state directory (default {DEFAULT_DIR}, or $HAFS_CLUSTER_DIR)")
    sub = p.add_subparsers(dest="cmd", required=True)
    # --dir is accepted after the command too (hafs-cluster up --dir X).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dir", default=argparse.SUPPRESS, help="state directory")
    up = sub.add_parser("up", help="build and start the cluster", parents=[common])
    up.add_argument("--storage", type=int, default=3)
    up.add_argument("--web", type=int, default=3)
    up.add_argument("--directors", type=int, default=3)
    up.add_argument("--bin-dir", help="where the hafs binaries are (default: $HAFS_BIN_DIR, then PATH)")
    up.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"network namespace prefix (default {DEFAULT_PREFIX})")
    up.add_argument("--port", type=int, default=DEFAULT_PORT,
                    help=f"loopback ports: site PORT, lb stats PORT+1, status page PORT+2 (default {DEFAULT_PORT})")
    up.add_argument("--timeout", type=int, default=UP_TIMEOUT, help="give up after this many seconds")
    down = sub.add_parser("down", help="stop everything up started, unmount, delete the namespaces",
                          parents=[common])
    down.add_argument("--keep-data", action="store_true", help="keep bricks, logs and configs in the state dir")
    st = sub.add_parser("status", help="nodes, processes, mounts, volumes, bricks, heal backlog, VIP holders",
                        parents=[common])
    st.add_argument("--json", action="store_true")
    for verb in ("fail", "recover"):
        f = sub.add_parser(verb, help=f"{verb} a storage node, web node or director (e.g. s1, w2, d1)",
                           parents=[common])
        f.add_argument("node")
    ex = sub.add_parser("exec", help="run a command inside a node's network and mount namespaces",
                        parents=[common])
    ex.add_argument("node")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    return p


def main(argv):
    args = parser().parse_args(argv)
    if os.geteuid() != 0 and args.cmd != "status":
        print("hafs-cluster: must run as root (network namespaces, mounts)", file=sys.stderr)
        return 2
    try:
        if args.cmd == "up":
            return cmd_up(args)
        if args.cmd == "down":
            return cmd_down(args)
        if args.cmd == "status":
            return cmd_status(args)
        if args.cmd in ("fail", "recover"):
            return cmd_fail_recover(args)
        if args.cmd == "exec":
            return cmd_exec(args)
    except ClusterError as e:
        print(f"hafs-cluster {args.cmd}: error: {e}", file=sys.stderr)
        return 1
    return 0


# ---- up ---------------------------------------------------------------------------------

def port_free(port):
    # SO_REUSEADDR as the agent's listeners use it: a port left in TIME_WAIT by the
    # previous cluster is free for them, only a live listener is not.
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def check_prerequisites(args):
    for b in ("hafs-mgmtd", "hafs-brickd", "hafs", "hafs-fuse", "mount.hafs", "hafs-lb", "hafs-vipd"):
        find_binary(b, args.bin_dir)
    web.nginx_binary()
    web.php_fpm_binary()
    for tool in ("ip", "bridge", "nsenter", "unshare", "curl", "ping"):
        if not shutil.which(tool):
            raise ClusterError(f"{tool} is missing (tools/install-deps installs everything)")
    if not os.path.exists("/dev/fuse"):
        raise ClusterError("/dev/fuse is missing (modprobe fuse)")
    for p in (args.port, args.port + 1, args.port + 2):
        if not port_free(p):
            raise ClusterError(f"127.0.0.1:{p} is in use; choose other loopback ports with --port")


def cmd_up(args):
    state = State(args.dir)
    if state.exists():
        if state.data.get("phase") == "up" and any(topology.holder_alive(n) for n in state.nodes()):
            log("the cluster is already up")
            print_urls(state)
            return 0
        log("cleaning up what an earlier run left behind")
        down(state, keep_data=False)
        state = State(args.dir)
    check_prerequisites(args)
    os.makedirs(state.dir, exist_ok=True)
    os.chmod(state.dir, 0o755)  # the web servers' workers (www-data) reach their php-fpm sockets in here
    state.data = {"version": 1, "prefix": args.prefix, "subnet": SUBNET, "port": args.port,
                  "bin_dir": os.path.abspath(args.bin_dir) if args.bin_dir else os.environ.get("HAFS_BIN_DIR"),
                  "phase": "starting", "started": time.time(),
                  "counts": {"storage": args.storage, "web": args.web, "directors": args.directors}}
    state.save()

    def too_slow(*_):
        raise ClusterError(f"up did not finish within {args.timeout} s (see the logs in {state.dir}; "
                           f"`hafs-cluster --dir {state.dir} down` cleans up)")
    signal.signal(signal.SIGALRM, too_slow)
    signal.alarm(args.timeout)
    t0 = time.monotonic()
    try:
        topology.plan(state, args.storage, args.web, args.directors)
        log(f"network: bridge {topology.BRIDGE} in {args.prefix}sw, {len(state.nodes())} namespaces on {SUBNET}.0/24")
        topology.create(state)
        storage.create(state)
        web.create(state)
        directors.create(state)
        start_agent(state)
        verify(state)
    except ClusterError as e:
        signal.alarm(0)
        state.data["phase"] = "failed"
        state.save()
        raise ClusterError(f"{e}\n(the half-built cluster stays for inspection; "
                           f"`hafs-cluster --dir {state.dir} down` removes it)")
    signal.alarm(0)
    state.data["phase"] = "up"
    state.save()
    log(f"up in {time.monotonic() - t0:.1f} s")
    print_urls(state)
    return 0


def start_agent(state):
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=pkg_parent, PYTHONDONTWRITEBYTECODE="1")
    logf = os.path.join(state.dir, "agent.log")
    with open(logf, "ab") as out:
        p = subprocess.Popen([sys.executable, "-m", "hafs_cluster.agent", state.dir], env=env,
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True, close_fds=True)
    time.sleep(0.05)
    state.data["agent"] = {"pid": p.pid, "pgid": p.pid, "start": proc_start_time(p.pid), "log": logf}
    state.save()


def http_code(state, url, netns=None, timeout=3):
    cmd = ["curl", "-s", "-m", str(timeout), "-o", "/dev/null", "-w", "%{http_code}", url]
    if netns:
        cmd = ["ip", "netns", "exec", netns] + cmd
    return run(cmd, check=False, timeout=timeout + 5).stdout.strip()


def verify(state):
    """Every part answers: each web node directly, each frontend on the VIP, the loopback ports."""
    cl = state.client_netns
    vip = state.vip_external
    for n in state.nodes("web"):
        wait_until(f"{n['name']} index.php from the client",
                   lambda a=n["address"]: http_code(state, f"http://{a}/index.php", cl) == "200", 20)
    checks = [(f"HTTP frontend http://{vip}:{HTTP_PORT}/", f"http://{vip}:{HTTP_PORT}/index.php", cl),
              (f"TCP frontend {vip}:{TCP_PORT}", f"http://{vip}:{TCP_PORT}/static.html", cl),
              (f"stats page http://{vip}:{STATS_PORT}/stats", f"http://{vip}:{STATS_PORT}/stats", cl),
              (f"internal VIP {state.vip_internal}", f"http://{state.vip_internal}:{HTTP_PORT}/index.php", cl)]
    urls = state.urls()
    checks += [("the loopback forwarder to the site", urls["site_url"] + "index.php", None),
               ("the loopback forwarder to the stats page", urls["stats_url"], None),
               ("the status page", urls["status_url"], None)]
    for what, url, ns in checks:
        wait_until(what, lambda u=url, n=ns: http_code(state, u, n) == "200", 20, 0.2)
    wait_until("status: every node, process, mount and brick", lambda: status.collect(state)["healthy"], 20, 0.5)


def print_urls(state):
    u = state.urls()
    print(f"""
hafs cluster is up ({len(state.nodes('storage'))} storage, {len(state.nodes('web'))} web, {len(state.nodes('director'))} directors; state in {state.dir})
  site (via the external VIP {state.vip_external}): {u['site_url']}   pi: {u['site_url']}pi.php?n=1000000
  hafs-lb stats page:                     {u['stats_url']}
  cluster status page:                    {u['status_url']}
  from inside the client namespace:       ip netns exec {state.client_netns} curl http://{state.vip_external}/
  status / failures:  hafs-cluster --dir {state.dir} status | fail s1 | recover s1 | down
""", flush=True)


# ---- down -------------------------------------------------------------------------------

def down(state, keep_data):
    d = state.data
    if d.get("agent"):
        stop_process(d["agent"], signal.SIGTERM, 2)
    nodes = state.nodes()
    for n in nodes:
        if n["role"] == "director" and topology.holder_alive(n):
            try:
                directors.stop_services(state, n)
            except ClusterError:
                pass
    for n in nodes:
        if n["role"] == "web":
            web.stop_services(state, n)
    for n in nodes:
        try:
            mounts.unmount_all(state, n)
        except ClusterError:
            pass
    for n in nodes:
        for rec in n.get("procs", {}).values():
            stop_process(rec, signal.SIGTERM, 5)
    topology.destroy(state)
    left = [f"{n['name']}/{k}[{r['pid']}]" for n in nodes for k, r in n.get("procs", {}).items() if alive(r)]
    if left:
        raise ClusterError(f"processes still running after down: {', '.join(left)}")
    if keep_data:
        d["phase"] = "down"
        state.save()
        return
    for n in nodes:
        path = os.path.join(state.dir, n["name"])
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
    for f in ("cluster.json", "agent.log"):
        try:
            os.unlink(os.path.join(state.dir, f))
        except OSError:
            pass


def cmd_down(args):
    state = State(args.dir)
    if not state.exists():
        log(f"nothing to stop ({state.dir} holds no cluster)")
        return 0
    down(state, args.keep_data)
    log("down: every process stopped, mounts gone, namespaces deleted")
    return 0


# ---- status, fail, recover ------------------------------------------------------------------

def load(args):
    state = State(args.dir)
    if not state.exists():
        raise ClusterError(f"no cluster in {state.dir} (hafs-cluster --dir DIR up)")
    return state


def cmd_status(args):
    state = load(args)
    st = status.collect(state)
    try:
        print(json.dumps(st, indent=1) if args.json else status.text(st), flush=True)
    except BrokenPipeError:  # `status | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def cmd_fail_recover(args):
    state = load(args)
    node = state.node(args.node)
    module = {"storage": storage, "web": web, "director": directors}.get(node["role"])
    if module is None:
        raise ClusterError(f"{args.node} is the client namespace; fail a storage node, web node or director")
    t0 = time.monotonic()
    if args.cmd == "fail":
        module.fail(state, node)
        node["failed"] = True
    else:
        module.recover(state, node)
        node["failed"] = False
    state.save()
    log(f"{args.cmd} {args.node}: done in {time.monotonic() - t0:.2f} s")
    return 0


def cmd_exec(args):
    state = load(args)
    node = state.node(args.node)
    if not args.command:
        raise ClusterError("exec NODE COMMAND [ARGS...]")
    from .common import nsexec
    return subprocess.call(nsexec(state, node, args.command))
