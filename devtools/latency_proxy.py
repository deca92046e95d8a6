"""A TCP proxy that delays every answer of the server behind it, for tests that must catch a copy in the middle.

A local server answers in well under a millisecond, so a snapshot of thousands of documents is over before
a test can stop it part-way. Behind this proxy each chunk the server sends waits ``delay`` seconds first,
as a distant server's would; requests pass at once.
"""

from __future__ import annotations

import socket
import threading
import time


class LatencyProxy:
    """Start with :meth:`start`; connect to ``127.0.0.1:``:attr:`port` instead of ``upstream``."""

    def __init__(self, upstream_port: int, delay: float = 0.02, host: str = "127.0.0.1"):
        self.upstream = (host, upstream_port)
        self.delay = delay
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]
        self._closed = threading.Event()

    def start(self) -> "LatencyProxy":
        threading.Thread(target=self._accept, name="latency-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            for source, sink, delay in ((client, server, 0.0), (server, client, self.delay)):
                threading.Thread(target=self._pipe, args=(source, sink, delay), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, delay: float) -> None:
        try:
            while not self._closed.is_set():
                chunk = source.recv(65536)
                if not chunk:
                    break
                if delay:
                    time.sleep(delay)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                try:
                    end.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
