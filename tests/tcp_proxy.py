"""A TCP forwarder the tests can cut and restore, to take a real server (PostgreSQL, S3) away and back."""

import socket
import threading
from contextlib import suppress


class TcpProxy:
    """Forward 127.0.0.1:port to target.

    down(): stop listening (new connections are refused) and cut every open connection, as a server
    that stops or a network that drops does. up(): listen on the same port again.
    """

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.up()

    @property
    def is_up(self) -> bool:
        return self._listener is not None

    def url(self, scheme: str = "http") -> str:
        return f"{scheme}://127.0.0.1:{self.port}"

    def up(self) -> None:
        # create_server sets SO_REUSEADDR: the port is ours again even with cut connections in TIME_WAIT.
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self.port = self._listener.getsockname()[1]
        self._start(self._accept, self._listener)

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._sockets = self._sockets | {listener}, set()
        for sock in sockets:
            _cut(sock)  # shutdown() also wakes a thread blocked in accept() or recv() on it
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join()

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # down()
            try:
                server = socket.create_connection(self.target)
            except OSError:
                _cut(client)
                continue
            with self._lock:
                cut = self._listener is not listener  # down() ran meanwhile
                if not cut:
                    self._sockets |= {client, server}
            if cut:
                _cut(client)
                _cut(server)
                return
            self._start(_pump, client, server)
            self._start(_pump, server, client)


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    _cut(sink)
    _cut(source)


def _cut(sock: socket.socket) -> None:
    with suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
