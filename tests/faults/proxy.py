"""A TCP proxy a test can break: forward, refuse, or accept and stall (a hung store)."""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time


class Proxy:
    """Forward 127.0.0.1:<port> to a target, until told to refuse or to stall.

    - ``forward``: pass bytes both ways (a healthy store).
    - ``refuse``: close every connection and refuse new ones (a store that is down).
    - ``stall``: keep connections open and accept new ones, but pass no byte either way
      (a store that hangs: the client waits for an answer that never comes).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.mode = "forward"
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port: int = self._listener.getsockname()[1]
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def set(self, mode: str) -> None:
        """Switch to ``forward``, ``refuse`` or ``stall``."""
        assert mode in ("forward", "refuse", "stall"), mode
        self.mode = mode
        if mode == "refuse":
            self._drop_all()

    def close(self) -> None:
        """Stop the proxy and close every connection."""
        self._closed = True
        self._drop_all()
        self._thread.join(timeout=2)
        self._listener.close()

    def _drop_all(self) -> None:
        with self._lock:
            socks, self._open = self._open, []
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode == "refuse":
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        peer = {a: b, b: a}
        try:
            while not self._closed:
                if self.mode == "stall":
                    time.sleep(0.05)  # hold the bytes: the other side waits
                    continue
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    peer[s].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.close()
