"""A local HTTP(S) server for the webhook tests, written with Python's own http.server: it
records every request (path, headers, body) and answers what the test scripts, request by
request: a status (with headers), a hang, or a connection closed in the middle of the answer."""
import http.server
import os
import socket
import ssl
import threading
import time

from conftest import wait_until


def serve(handler, tls=False, port=0):
    """(server, uri): `handler` served by threads on 127.0.0.1, over TLS with the test CA's
    server certificate (for the name localhost) when `tls`."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    httpd.daemon_threads = True
    if tls:
        tls_dir = os.path.dirname(os.environ["PGEP_TLS_CA"])
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(os.path.join(tls_dir, "server.pem"), os.path.join(tls_dir, "server.key"))
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    uri = f"{'https' if tls else 'http'}://{'localhost' if tls else '127.0.0.1'}:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, uri


class WebhookServer:
    def __init__(self, tls=False, port=0):
        self.requests = []      # (path, headers dict, body bytes) in arrival order
        self.arrivals = []      # time.monotonic() of each request, closed ones included
        self.script = []        # what to do with the next requests: int, ("hang", s), "close"
        self.lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real webhook endpoint

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with server.lock:
                    server.arrivals.append(time.monotonic())
                    action = server.script.pop(0) if server.script else 200
                    if action != "close":
                        server.requests.append((self.path, dict(self.headers), body))
                if action == "close":
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if isinstance(action, tuple) and action[0] == "hang":
                    time.sleep(action[1])
                    action = 200
                status, headers = (action, {}) if isinstance(action, int) else action
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.httpd, self.uri = serve(Handler, tls, port)
        self.port = self.httpd.server_address[1]

    def answer(self, *actions):
        with self.lock:
            self.script.extend(actions)

    def wait(self, count, timeout=30):
        wait_until(lambda: len(self.requests) >= count, timeout,
                   what=lambda: f"{count} webhook request(s) (have {len(self.requests)})")
        with self.lock:
            return list(self.requests)

    def wait_bodies(self, bodies, timeout, what):
        """Until every body in `bodies` has arrived at least once (in any order)."""
        wanted = {b.encode() for b in bodies}
        wait_until(lambda: {body for _, _, body in list(self.requests)} >= wanted, timeout, what=what)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
