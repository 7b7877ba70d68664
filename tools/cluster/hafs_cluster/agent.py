"""The loopback agent hafs-cluster leaves running (in the root namespace):
- forwarders 127.0.0.1:PORT -> VIP:80 and 127.0.0.1:PORT+1 -> VIP:8404, whose upstream sockets
  are opened by a thread that entered the client namespace with setns(2) (Python 3.11 has no
  os.setns: ctypes). Sockets keep the namespace they were created in, so relaying happens in
  ordinary threads.
- the status page on 127.0.0.1:PORT+2 (HTML refreshing itself, and /status.json).
"""
import ctypes
import http.server
import json
import os
import queue
import socket
import socketserver
import sys
import threading
import time

from .common import HTTP_PORT, STATS_PORT, State
from . import status

CLONE_NEWNET = 0x40000000


class NetnsConnector:
    """One thread living in a network namespace; connects sockets there on request."""

    def __init__(self, netns):
        self.requests = queue.Queue()
        self.ready = threading.Event()
        self.error = None
        threading.Thread(target=self._run, args=(netns,), daemon=True).start()
        self.ready.wait(5)
        if self.error:
            raise OSError(self.error)

    def _run(self, netns):
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(f"/run/netns/{netns}", os.O_RDONLY)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            self.error = f"setns({netns}): {os.strerror(ctypes.get_errno())}"
        os.close(fd)
        self.ready.set()
        while True:
            addr, reply = self.requests.get()
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.settimeout(3)
                s.connect(addr)
                s.settimeout(None)
                reply.put(s)
            except OSError as e:
                reply.put(e)

    def connect(self, addr):
        reply = queue.Queue()
        self.requests.put((addr, reply))
        r = reply.get(timeout=10)
        if isinstance(r, Exception):
            raise r
        return r


def pump(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def forwarder(listen_port, connector, upstream):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(128)

    def serve():
        while True:
            c, _ = srv.accept()
            threading.Thread(target=handle, args=(c,), daemon=True).start()

    def handle(c):
        try:
            u = connector.connect(upstream)
        except OSError:
            c.close()
            return
        t = threading.Thread(target=pump, args=(u, c), daemon=True)
        t.start()
        pump(c, u)
        t.join()
        c.close()
        u.close()
    threading.Thread(target=serve, daemon=True).start()


class StatusCache:
    def __init__(self, state):
        self.state = state
        self.lock = threading.Lock()
        self.value = None
        self.at = 0.0

    def get(self):
        with self.lock:
            if self.value is None or time.monotonic() - self.at > 1.0:
                self.state = State(self.state.dir)  # fail/recover update the file
                self.value = status.collect(self.state)
                self.at = time.monotonic()
            return self.value


def status_server(port, cache):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            path = self.path.split("?")[0]
            if path in ("/", "/index.html"):
                body, ctype = status.html_page(cache.get()).encode(), "text/html; charset=utf-8"
            elif path == "/status.json":
                body, ctype = json.dumps(cache.get(), indent=1).encode(), "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True
    srv = Server(("127.0.0.1", port), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def main(state_dir):
    state = State(state_dir)
    port = state.data["port"]
    connector = NetnsConnector(state.client_netns)
    forwarder(port, connector, (state.vip_external, HTTP_PORT))
    forwarder(port + 1, connector, (state.vip_external, STATS_PORT))
    status_server(port + 2, StatusCache(state))
    print(f"agent: site 127.0.0.1:{port}, stats 127.0.0.1:{port + 1}, status 127.0.0.1:{port + 2}", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main(sys.argv[1])
