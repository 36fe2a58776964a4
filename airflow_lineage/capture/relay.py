"""The lineage relay: one long-lived process that writes the records of many task processes.

Every Airflow 3 task runs in a new process, and a new process that opens a PostgreSQL
store pays for a new database backend: the connection, authentication and the server's
cold catalog caches cost about 25 ms, most of what capture costs a task. The relay keeps
the stores it is asked for open for the life of the scheduler. A task process builds its
record as before, hands it to the relay over a Unix socket, and waits until the relay
has committed it, so the record is in the store before the task reports success, as a
direct write would be.

The relay holds no credentials of its own. Every request names its store (the URL with
the task's own login, its account and region) and the relay opens it with exactly that;
a request can do nothing its sender could not do directly. Only the OS user that runs
Airflow can reach the socket (it is created owner-only).

The relay speeds capture up; capture never depends on it. A task that cannot reach it
opens the store itself; a relay that fails or misses the capture deadline leaves the
record in the outbox, as a failed direct write does.

The scheduler starts a relay beside itself (:func:`start_beside`, from the listener's
``on_starting``) and it exits when the scheduler does. Elsewhere, for example next to a
Celery worker, run ``airflow-lineage relay`` as a sidecar.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_lineage.capture.record import LineageRecord, signed
from airflow_lineage.exceptions import LineageError

__all__ = ["RelayClient", "RelayError", "StoreSpec", "serve", "socket_path", "start_beside"]

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!I")
_MAX_MESSAGE = 64 * 1024 * 1024
RELOCATE_S = 30.0
"""How long the relay trusts where a lineage connection pointed: a changed connection
applies to tasks within this many seconds."""
_MAX_SOCKET_PATH = 100
"""Unix socket paths are limited to 107 bytes on Linux; longer ones move to a short path."""


class RelayError(LineageError):
    """The relay could not take a request: it is not running, broke off, or refused it."""


class RelayUnreachable(RelayError):
    """No relay listens on the socket: nothing was sent, so writing directly is safe."""


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """The store a request is for: a lineage connection, found as a task would find it."""

    conn_id: str
    timeout: float

    def as_json(self) -> dict[str, Any]:
        """Return the spec as sent over the socket."""
        return {"conn_id": self.conn_id, "timeout": self.timeout}

    @classmethod
    def from_json(cls, body: Any) -> StoreSpec:
        """Return the spec a request carries.

        :raises ValueError: the request does not name a store.
        """
        if not isinstance(body, dict) or not isinstance(body.get("conn_id"), str):
            raise ValueError("a relay request names its store: {'conn_id': ..., 'timeout': ...}")
        timeout = body.get("timeout")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"the store's timeout must be a positive number, got {timeout!r}")
        return cls(conn_id=body["conn_id"], timeout=float(timeout))


def socket_path(configured: Path) -> Path:
    """Return the socket to use for the configured path (a short one if it is too long).

    Both ends derive it the same way, so a relay and its tasks always agree.
    """
    if len(os.fsencode(configured)) <= _MAX_SOCKET_PATH:
        return configured
    digest = hashlib.sha256(os.fsencode(configured)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"airflow-lineage-{os.getuid()}" / f"{digest}.sock"


# -- framing -------------------------------------------------------------------------------


def _send(sock: socket.socket, message: dict[str, Any]) -> None:
    body = json.dumps(message, separators=(",", ":")).encode()
    sock.sendall(_HEADER.pack(len(body)) + body)


def _recv_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _recv(sock: socket.socket) -> dict[str, Any] | None:
    """Return the next message, or None when the peer closed the connection."""
    header = _recv_exactly(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > _MAX_MESSAGE:
        raise ValueError(f"relay message of {size} bytes is over the {_MAX_MESSAGE} limit")
    body = _recv_exactly(sock, size)
    if body is None:
        return None
    message = json.loads(body)
    if not isinstance(message, dict):
        raise ValueError("a relay message is a JSON object")
    return message


# -- the task's side ---------------------------------------------------------------------------


class RelayClient:
    """A task process's connection to the relay (one per process, reused by its captures).

    :param path: the relay's socket (see :func:`socket_path`).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._sock: socket.socket | None = None
        self._places: dict[StoreSpec, tuple[str, str]] = {}

    def _connected(self, deadline: float) -> socket.socket:
        if self._sock is None:
            try:
                owner = os.stat(self.path).st_uid
            except OSError as e:
                raise RelayUnreachable(f"no lineage relay at {self.path}: {e}") from e
            if owner != os.getuid():  # someone else's socket must not get our credentials
                raise RelayUnreachable(f"{self.path} belongs to another user; not using it")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                sock.connect(os.fspath(self.path))
            except OSError as e:  # no socket, nobody listening, or not ours to use
                sock.close()
                raise RelayUnreachable(f"no lineage relay at {self.path}: {e}") from e
            self._sock = sock
        return self._sock

    def _ask(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        sock = self._connected(deadline)
        try:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            _send(sock, request)
            answer = _recv(sock)
        except (OSError, ValueError) as e:
            self.close()
            raise RelayError(f"the lineage relay at {self.path} broke off: {e}") from e
        if answer is None:
            self.close()
            raise RelayError(f"the lineage relay at {self.path} closed the connection")
        if answer.get("direct"):
            raise RelayUnreachable(f"the lineage relay does not write there: {answer.get('error')}")
        if not answer.get("ok"):
            raise RelayError(f"the lineage relay could not {request['op']}: {answer.get('error')}")
        return answer

    def place(self, spec: StoreSpec, deadline: float) -> tuple[str, str]:
        """Return the (account, region) the store acts as, opening it in the relay.

        :raises RelayUnreachable: no relay listens, or the relay does not write to that
            store (SageMaker); nothing was written.
        :raises RelayError: the relay failed to open the store or broke off.
        """
        known = self._places.get(spec)
        if known is None:
            answer = self._ask({"op": "open", "store": spec.as_json()}, deadline)
            known = (str(answer["account"]), str(answer["region"]))
            self._places[spec] = known
        return known

    def write(
        self, spec: StoreSpec, record: LineageRecord, deadline: float, *, sign: bool = False
    ) -> float:
        """Have the relay commit ``record`` to the store; return once it has.

        :param sign: the relay signs the record (it comes unsigned).
        :returns: the seconds the relay spent signing it.
        :raises RelayError: the record may not have been committed (the relay failed,
            broke off or missed the deadline); writing it again is harmless.
        """
        request: dict[str, Any] = {
            "op": "write",
            "store": spec.as_json(),
            "record": record.as_json(),
        }
        if sign:
            request["sign"] = True
        return float(self._ask(request, deadline).get("signing_s", 0.0))

    def stats(self, deadline: float) -> dict[str, int]:
        """Return how many records the relay has written and failed to write, and how
        many stores it keeps open."""
        answer = self._ask({"op": "stats"}, deadline)
        return {k: int(answer[k]) for k in ("written", "failed", "stores")}

    def close(self) -> None:
        """Close the connection (the next request connects again)."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


# -- the relay's side ---------------------------------------------------------------------


class _NotRelayed(Exception):
    """The store is one the relay does not write to (SageMaker): the task writes directly."""


@dataclass
class _Opened:
    where: tuple[str, str | None, str | None]
    store: Any
    checked: float


class _Relay:
    """The stores a relay keeps open, and the answer to each request."""

    def __init__(self) -> None:
        self._stores: dict[StoreSpec, _Opened] = {}
        self._lock = threading.Lock()
        self.counts = {"written": 0, "failed": 0}

    def _store(self, spec: StoreSpec) -> Any:
        """Return the store of ``spec``'s connection, found anew every ``RELOCATE_S``."""
        with self._lock:
            opened = self._stores.get(spec)
        now = time.monotonic()
        if opened is not None and now - opened.checked < RELOCATE_S:
            return opened.store
        from airflow_lineage.store import connect, locate

        found = locate(conn_id=spec.conn_id)
        if found.url.startswith("sagemaker://"):
            raise _NotRelayed(f"the lineage connection {spec.conn_id!r} is a SageMaker store")
        where = (found.url, found.account, found.region)
        if opened is not None and opened.where == where:
            opened.checked = now
            return opened.store
        store = connect(found.url, account=found.account, region=found.region, timeout=spec.timeout)
        with self._lock:
            previous = self._stores.get(spec)
            self._stores[spec] = _Opened(where, store, now)
        if previous is not None and previous.store is not store:
            previous.store.close()  # the connection changed: its old store is done
        return store

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """Carry out one request; failures are answers too, never a dropped connection."""
        try:
            op = request.get("op")
            if op == "stats":
                with self._lock:
                    return {"ok": True, **self.counts, "stores": len(self._stores)}
            spec = StoreSpec.from_json(request.get("store"))
            store = self._store(spec)
            if op == "open":
                return {"ok": True, "account": store.account, "region": store.region}
            if op == "write":
                from airflow_lineage.capture.shared import commit

                try:
                    record = LineageRecord.from_json(request.get("record"))
                    began = time.perf_counter()
                    if request.get("sign") and not record.attestations:
                        record = signed(record)
                    signing = time.perf_counter() - began
                    commit(record, store)
                except Exception:
                    self._count("failed")
                    raise
                self._count("written")
                return {"ok": True, "signing_s": signing}
            raise ValueError(f"unknown relay request {op!r}: expected 'open', 'write' or 'stats'")
        except _NotRelayed as e:
            return {"ok": False, "direct": True, "error": str(e)}
        except Exception as e:  # the task decides what a failure means (outbox, strict)
            return {"ok": False, "error": f"{type(e).__name__}: {e}"}

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1

    def warm(self, spec: StoreSpec) -> None:
        """Open the default store and load the signing key ahead of the first task (a
        failure waits for a task)."""
        try:
            from airflow_lineage import config
            from airflow_lineage.provenance import keys

            if config.attest():
                keys.deployment_key()
        except Exception as e:  # the first signature tries again, and says why
            log.info("Lineage relay: the signing key is not loaded yet: %s", e)
        try:
            self._store(spec)
        except Exception as e:  # e.g. not migrated yet: the first request tries again
            log.info("Lineage relay: the store is not open yet: %s", e)

    def close(self) -> None:
        with self._lock:
            opened = list(self._stores.values())
            self._stores.clear()
        for entry in opened:
            with contextlib.suppress(Exception):
                entry.store.close()


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        while True:
            try:
                request = _recv(sock)
            except (OSError, ValueError) as e:
                log.warning("Lineage relay: dropped a malformed request: %s", e)
                return
            if request is None:
                return
            try:
                _send(sock, self.server.relay.answer(request))
            except OSError:  # the task went away (killed, or gave up at its deadline)
                return


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: Path, relay: _Relay) -> None:
        self.relay = relay
        old = os.umask(0o077)  # the socket is the OS user's alone from the start
        try:
            super().__init__(os.fspath(path), _Handler)
        finally:
            os.umask(old)


def serve(
    path: Path,
    *,
    parent: int | None = None,
    ready: threading.Event | None = None,
    warm: StoreSpec | None = None,
) -> int:
    """Run a relay on ``path`` until it is stopped, or until process ``parent`` exits.

    Only one relay serves a path: a second one finds the first holding the lock beside
    the socket and returns 1 at once.

    :param ready: set once the socket accepts requests.
    :param warm: open this store at once, before the first task asks for it.

    :returns: 0 after serving, 1 when another relay serves the path already.
    """
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = open(f"{path}.lock", "a")  # noqa: SIM115 - held for the relay's whole life
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            log.info("Lineage relay: another relay serves %s", path)
            return 1
        with contextlib.suppress(FileNotFoundError):
            path.unlink()  # left by a relay that was killed: no one listens on it
        relay = _Relay()
        server = _Server(path, relay)
        thread = threading.Thread(target=server.serve_forever, name="lineage-relay", daemon=True)
        thread.start()
        log.info("Lineage relay serving %s", path)
        if ready is not None:
            ready.set()
        if warm is not None:
            threading.Thread(target=relay.warm, args=(warm,), daemon=True).start()
        try:
            while parent is None or _alive(parent):
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            server.shutdown()
            server.server_close()
            relay.close()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        return 0
    finally:
        lock.close()


def _alive(pid: int) -> bool:
    if os.getppid() != pid:  # our parent exited and we were handed to another
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_started: subprocess.Popen[bytes] | None = None


def start_beside(path: Path) -> None:
    """Start a relay process that serves ``path`` for as long as this process lives."""
    global _started
    if _started is not None and _started.poll() is None:
        return
    _started = subprocess.Popen(
        [sys.executable, "-m", "airflow_lineage.capture.relay", os.fspath(path), str(os.getpid())],
        stdin=subprocess.DEVNULL,
        close_fds=True,
    )


def _main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    from airflow_lineage import config

    path, parent = Path(argv[0]), int(argv[1])
    return serve(path, parent=parent, warm=StoreSpec(config.conn_id(), config.capture_timeout()))


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
