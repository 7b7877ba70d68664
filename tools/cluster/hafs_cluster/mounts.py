"""hafs volume mounts inside a node's own mount namespace (`mount -t hafs`)."""
import os
import signal

from .common import ClusterError, alive, log, nsexec, run, stop_process, wait_until


def mountpoint(state, node, vol):
    return os.path.join(state.dir, node["name"], "mnt", vol)


def mount_helper(state):
    """mount(8) runs /sbin/mount.hafs; without it installed we call the helper ourselves."""
    for d in ("/sbin", "/usr/sbin"):
        if os.path.exists(os.path.join(d, "mount.hafs")):
            return ["mount", "-t", "hafs"]
    return [state.bin("mount.hafs")]


def mounted(state, node, path):
    """path is mounted in node's mount namespace and its hafs client is alive."""
    for rec in node.get("procs", {}).values():
        if path in rec.get("cmd", []) and not alive(rec):
            return False
    return in_mount_table(node, path)


def in_mount_table(node, path):
    """path is in node's mount table (a dead client's mount included)."""
    holder = node.get("holder")
    if not holder:
        return False
    try:
        with open(f"/proc/{holder['pid']}/mounts") as f:
            return any(line.split()[1] == path and line.split()[2].startswith("fuse")
                       for line in f)
    except OSError:
        return False


def fuse_pid(path):
    """The hafs-fuse process serving path (its command line names the mount point)."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if args and os.path.basename(args[0]) == b"hafs-fuse" and path.encode() in args:
            return int(d)
    return None


def mount(state, node, vol):
    path = mountpoint(state, node, vol)
    os.makedirs(path, exist_ok=True)
    if not any(m["volume"] == vol for m in node["mounts"]):
        node["mounts"].append({"volume": vol, "path": path})
        state.save()
    storage = state.nodes("storage")
    first, rest = storage[0]["address"], [n["address"] for n in storage[1:]]
    opts = f"log-file={os.path.join(state.dir, node['name'], 'fuse-' + vol + '.log')}"
    if rest:
        opts = f"backup-volfile-servers={':'.join(rest)}," + opts
    # A killed client leaves a dead mount ("Transport endpoint is not connected"): clear it.
    node["procs"].pop(f"hafs-fuse-{vol}", None)  # a client killed before is forgotten
    if in_mount_table(node, path):
        run(nsexec(state, node, ["umount", "-l", path]), check=False)
    cmd = mount_helper(state) + [f"{first}:/{vol}", path, "-o", opts]
    run(nsexec(state, node, cmd), timeout=40)
    wait_until(f"mount of {vol} on {node['name']}", lambda: in_mount_table(node, path), 10)
    pid = fuse_pid(path)
    if pid:
        from .common import proc_start_time
        node["procs"][f"hafs-fuse-{vol}"] = {"pid": pid, "pgid": None, "start": proc_start_time(pid),
                                             "cmd": cmd, "log": opts.split("log-file=")[1]}
        state.save()
    log(f"{node['name']}: {vol} mounted on {path}")


def unmount_all(state, node, kill=True):
    for m in node.get("mounts", []):
        if node.get("holder") and alive(node["holder"]) and in_mount_table(node, m["path"]):
            try:
                run(nsexec(state, node, ["umount", m["path"]]), check=False, timeout=10)
                if in_mount_table(node, m["path"]):
                    run(nsexec(state, node, ["umount", "-l", m["path"]]), check=False, timeout=10)
            except ClusterError:
                pass
        rec = node["procs"].get(f"hafs-fuse-{m['volume']}")
        if kill and rec:
            stop_process(rec, signal.SIGTERM, 3)
