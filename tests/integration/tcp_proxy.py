"""A TCP proxy the tests can freeze: `freeze()` stops forwarding on the connections open now
(their sockets stay open, as behind a hung middlebox or a lost route: a half-open connection);
connections made later are forwarded as usual. `freeze(new_too=True)` also holds the
connections made later (a peer that accepts and then says nothing); `thaw()` forwards again."""
import select
import socket
import threading


class TcpProxy:
    def __init__(self, target_host, target_port):
        self.target = (target_host, int(target_port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.frozen = set()   # ids of connections that forward nothing any more
        self.freeze_new = False
        self.connections = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self, new_too=False):
        """Freezes every connection open now (and with `new_too`, every later one)."""
        with self.lock:
            self.frozen.update(id(pair) for pair in self.connections)
            self.freeze_new = new_too

    def thaw(self):
        """Forwards again on every connection, held data first."""
        with self.lock:
            self.frozen.clear()
            self.freeze_new = False

    def close(self):
        self.stop.set()
        self.listener.close()
        with self.lock:
            for client, server in self.connections:
                for s in (client, server):
                    try:
                        s.close()
                    except OSError:
                        pass

    def _accept(self):
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            try:
                server = socket.create_connection(self.target)
            except OSError:  # the server is down: the client sees its connection closed
                client.close()
                continue
            pair = (client, server)
            with self.lock:
                self.connections.append(pair)
                if self.freeze_new:
                    self.frozen.add(id(pair))
            threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _pump(self, pair):
        client, server = pair
        peer = {client: server, server: client}
        while not self.stop.is_set():
            with self.lock:
                frozen = id(pair) in self.frozen
            if frozen:
                self.stop.wait(0.1)  # holds everything, closes nothing
                continue
            try:
                readable, _, _ = select.select([client, server], [], [], 0.1)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return self._close(pair)  # one side closed: so does the other, as a proxy does
                    peer[s].sendall(data)
            except OSError:
                return self._close(pair)

    def _close(self, pair):
        for s in pair:
            try:
                s.close()
            except OSError:
                pass
