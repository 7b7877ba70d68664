"""Web nodes: gv0 mounted with `mount -t hafs`, php-fpm and nginx (Debian packages) run as
private instances (own config, pid file and sockets under STATE/wN) serving STATE/wN/mnt/gv0/site."""
import glob
import os
import random
import signal
import struct
import zlib

from .common import ClusterError, alive, log, nsexec, run, spawn, stop_process, tail, wait_until
from . import mounts

SITE_DIR = "site"


def php_fpm_binary():
    for p in sorted(glob.glob("/usr/sbin/php-fpm*"), reverse=True):
        if os.access(p, os.X_OK):
            return p
    raise ClusterError("php-fpm is not installed (apt-get install php-fpm; tools/install-deps does it)")


def nginx_binary():
    for p in ("/usr/sbin/nginx",):
        if os.access(p, os.X_OK):
            return p
    raise ClusterError("nginx is not installed (apt-get install nginx-light; tools/install-deps does it)")


def docroot(state, node):
    return os.path.join(mounts.mountpoint(state, node, "gv0"), SITE_DIR)


def write_configs(state, node):
    d = state.node_dir(node["name"])
    name = node["name"]
    for t in ("body", "fastcgi", "proxy", "uwsgi", "scgi"):
        os.makedirs(os.path.join(d, "tmp", t), exist_ok=True)
    with open(os.path.join(d, "php-fpm.conf"), "w") as f:
        f.write(f"""[global]
pid = {d}/php-fpm.pid
error_log = {d}/php-fpm-error.log
daemonize = no

[www]
user = www-data
group = www-data
listen = {d}/php-fpm.sock
listen.owner = www-data
listen.group = www-data
listen.mode = 0660
pm = static
pm.max_children = 4
env[HAFS_NODE] = {name}
php_admin_value[opcache.revalidate_freq] = 1
""")
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(f"""daemon off;
worker_processes 2;
user www-data;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  keepalive_timeout 30;
  client_body_temp_path {d}/tmp/body;
  fastcgi_temp_path {d}/tmp/fastcgi;
  proxy_temp_path {d}/tmp/proxy;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  server {{
    listen 80 default_server;
    root {docroot(state, node)};
    index index.php index.html;
    add_header X-Hafs-Node {name} always;
    # health check for hafs-lb: answered by nginx itself
    location = /hafs-health {{ return 200 "ok {name}\\n"; }}
    location ~ \\.php$ {{
      try_files $uri =404;
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
      fastcgi_param HAFS_NODE {name};
      fastcgi_pass unix:{d}/php-fpm.sock;
    }}
  }}
}}
""")
    return d


def start_services(state, node):
    d = write_configs(state, node)
    run([nginx_binary(), "-t", "-q", "-c", os.path.join(d, "nginx.conf")])
    fpm = spawn(state, node, "php-fpm", [php_fpm_binary(), "-F", "-y", os.path.join(d, "php-fpm.conf")])
    ngx = spawn(state, node, "nginx", [nginx_binary(), "-c", os.path.join(d, "nginx.conf")])

    def answers():
        for rec, what in ((fpm, "php-fpm"), (ngx, "nginx")):
            if not alive(rec):
                raise ClusterError(f"{what} on {node['name']} exited: {tail(rec['log'], 5)}")
        p = run(nsexec(state, node, ["curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                                     "http://127.0.0.1/index.php"]), check=False, timeout=5)
        return p.stdout.strip() == "200"
    wait_until(f"nginx + php-fpm on {node['name']}", answers, 30, 0.2)


def stop_services(state, node, sig=signal.SIGTERM):
    for p in ("nginx", "php-fpm"):
        rec = node["procs"].get(p)
        if rec:
            stop_process(rec, sig)


def create(state):
    nodes = state.nodes("web")
    for n in nodes:
        mounts.mount(state, n, "gv0")
    seed(state, nodes[0])
    for n in nodes:
        start_services(state, n)
        log(f"{n['name']}: nginx + php-fpm serving {docroot(state, n)} on {n['address']}:80")


def fail(state, node):
    """Kills every process of the web node (nginx, php-fpm, its hafs client) with SIGKILL."""
    stop_services(state, node, signal.SIGKILL)
    for m in node["mounts"]:
        rec = node["procs"].get(f"hafs-fuse-{m['volume']}")
        if rec:
            stop_process(rec, signal.SIGKILL)


def recover(state, node):
    stop_services(state, node)  # recover is also a restart of a node that was not failed
    mounts.mount(state, node, "gv0")
    start_services(state, node)


# ---- the site --------------------------------------------------------------------------

def png(width, height, seed=1):
    """A valid PNG of random pixels (incompressible: ~3 bytes per pixel on disk)."""
    rng = random.Random(seed)
    raw = b"".join(b"\0" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def site_files(state):
    vip = state.vip_external
    return {
        "config.php": f"<?php\n$HAFS_VIP = '{vip}';\n$HAFS_VIP_INTERNAL = '{state.vip_internal}';\n",
        "index.php": """<?php
require __DIR__ . '/config.php';
$node = getenv('HAFS_NODE') ?: ($_SERVER['HAFS_NODE'] ?? 'unknown');
header('X-Hafs-Backend: ' . $node);
$now = new DateTime('now', new DateTimeZone('UTC'));
?><!DOCTYPE html>
<html><head><title>hafs demo site</title></head>
<body>
<h1>hafs demo site</h1>
<p>Date: <span id="date"><?= $now->format('Y-m-d') ?></span></p>
<p>Time: <span id="time"><?= $now->format('H:i:s.v') ?> UTC</span></p>
<p>VIP: <span id="vip"><?= htmlspecialchars($HAFS_VIP) ?></span> (internal <?= htmlspecialchars($HAFS_VIP_INTERNAL) ?>)</p>
<p>Served by backend: <span id="backend">backend=<?= htmlspecialchars($node) ?></span>
 (<?= htmlspecialchars($_SERVER['SERVER_ADDR'] ?? '') ?>)</p>
<p>Client: <?= htmlspecialchars($_SERVER['HTTP_X_FORWARDED_FOR'] ?? $_SERVER['REMOTE_ADDR'] ?? '') ?></p>
<p><a href="pi.php?n=1000000">pi.php?n=1000000</a> &middot; <a href="static.html">static page with a 200 KiB image</a></p>
</body></html>
""",
        "pi.php": """<?php
$node = getenv('HAFS_NODE') ?: 'unknown';
header('X-Hafs-Backend: ' . $node);
header('Content-Type: text/plain');
$n = isset($_GET['n']) ? (int)$_GET['n'] : 100000;
if ($n < 1 || $n > 50000000) { http_response_code(400); echo "n must be 1..50000000\\n"; exit; }
$t0 = microtime(true);
$h = 1.0 / $n; $sum = 0.0;
for ($i = 0; $i < $n; $i++) { $x = ($i + 0.5) * $h; $sum += 4.0 / (1.0 + $x * $x); }
$pi = $h * $sum;
printf("pi = %.15f with n = %d intervals (error %.3e) in %.3f s on backend=%s\\n",
       $pi, $n, abs($pi - M_PI), microtime(true) - $t0, $node);
""",
        "static.html": """<!DOCTYPE html>
<html><head><title>hafs static page</title></head>
<body><h1>A static page</h1><p>Served by nginx straight from the hafs volume gv0.</p>
<img src="image.png" alt="200 KiB of random pixels" width="300" height="300">
</body></html>
""",
        "health.txt": "ok\n",
        "image.png": png(300, 228),
    }


def seed(state, node):
    root = docroot(state, node)
    files = site_files(state)
    run(nsexec(state, node, ["mkdir", "-p", root]))
    for name, content in files.items():
        data = content if isinstance(content, bytes) else content.encode()
        run(nsexec(state, node, ["sh", "-c", f"cat > '{root}/{name}.tmp' && mv '{root}/{name}.tmp' '{root}/{name}'"]),
            input=data)
    log(f"docroot seeded through {node['name']}'s mount: {', '.join(sorted(files))}")
