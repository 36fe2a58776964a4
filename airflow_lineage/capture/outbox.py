"""A durable local outbox for lineage records the store could not take.

Each record is one JSON file, written to a temporary name, flushed to disk and renamed
into place, and the folder itself is flushed after the rename, so a crash never leaves
half a record and never loses a whole one. Files are named by time and a sequence, and
replayed in that order; a replayed file is deleted only after its transaction committed.
Replays are idempotent (upsert by modification time), so a record written twice, or
replayed after a later one, changes nothing.

The outbox cannot jam. A record that fails while the store is unavailable (see
:func:`store_unavailable`) stays waiting and the replay stops, to be resumed later. A
record that fails for any other reason (it cannot be read, the store refuses it) can
never succeed by waiting: it moves to the dead-letter folder ``dead/`` with its error
beside it (``<name>.error``), and the replay goes on with the next record.
``airflow-lineage outbox replay --retry-dead`` tries dead records again.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
import uuid
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from airflow_lineage.exceptions import (
    AccessDeniedError,
    AssociationsExistError,
    EntityNotFoundError,
    StoreError,
    StoreUnavailableError,
)
from airflow_lineage.model import Association, Entity
from airflow_lineage.provenance.attestation import Attestation
from airflow_lineage.records import from_record, to_record
from airflow_lineage.store.base import LineageStore

__all__ = ["DEAD_LETTER", "Outbox", "ReplayResult", "store_unavailable"]

log = logging.getLogger(__name__)

DEAD_LETTER = "dead"
"""The sub-folder of an outbox that holds records that can never be written as they are."""

ERROR_SUFFIX = ".error"

_UNAVAILABLE_DRIVER_ERRORS = frozenset(
    {
        # SQLAlchemy: no connection, a lost one, a lock or statement timeout, a full pool.
        "sqlalchemy.exc.OperationalError",
        "sqlalchemy.exc.InterfaceError",
        "sqlalchemy.exc.DisconnectionError",
        "sqlalchemy.exc.TimeoutError",
        # botocore: the endpoint cannot be reached or does not answer in time.
        "botocore.exceptions.EndpointConnectionError",
        "botocore.exceptions.ConnectionClosedError",
        "botocore.exceptions.ConnectTimeoutError",
        "botocore.exceptions.ReadTimeoutError",
        "botocore.exceptions.NoCredentialsError",
    }
)
"""Driver errors that say the store did not answer, not that it refused the record.

Matched by name along the error's chain, so that no driver is imported to classify."""

_REFUSED_AWS_CODES = frozenset({"ValidationException", "ResourceNotFound"})
"""SageMaker error codes that refuse the request itself (any other code, such as
throttling, a service error or expired credentials, says the store is unavailable)."""


def _qualname(error: BaseException) -> set[str]:
    """Return the qualified names of an error's class and its bases."""
    return {f"{c.__module__}.{c.__qualname__}" for c in type(error).__mro__}


def store_unavailable(error: BaseException) -> bool:
    """Return whether ``error`` says the store is unavailable, rather than that it
    refused this record (which waiting cannot fix).

    :class:`StoreUnavailableError` says so; so does a :class:`StoreError` caused by a
    driver error that means no answer (no connection, a timeout, a lock held too long,
    throttling), or an ``OSError``/``TimeoutError`` on the way.
    """
    if isinstance(error, StoreUnavailableError | TimeoutError | ConnectionError):
        return True
    if isinstance(error, AccessDeniedError | EntityNotFoundError | AssociationsExistError):
        return False  # the store answered: this record is refused
    if not isinstance(error, StoreError):
        return isinstance(error, OSError)
    cause: BaseException | None = error.__cause__
    while cause is not None:
        if _qualname(cause) & _UNAVAILABLE_DRIVER_ERRORS:
            return True
        response = getattr(cause, "response", None)
        if isinstance(response, dict) and "Error" in response:  # a botocore ClientError
            return response["Error"].get("Code") not in _REFUSED_AWS_CODES
        cause = cause.__cause__ or cause.__context__
    return False


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did: records written, records moved to dead-letter, records waiting,
    and why it stopped early (None: it went through every waiting record)."""

    replayed: int
    dead: int
    pending: int
    stopped: str | None = None


def _fsync_dir(directory: Path) -> None:
    """Flush a folder's entries to disk, so that a rename in it survives a crash."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, flushed, renamed, flushed."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Outbox:
    """A folder of lineage records waiting to be written to the store."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @property
    def dead_directory(self) -> Path:
        """The folder of dead-lettered records."""
        return self.directory / DEAD_LETTER

    def put(
        self,
        entities: tuple[Entity, ...],
        associations: tuple[Association, ...],
        upsert: Collection[str] = (),
        attestations: Collection[Attestation] = (),
    ) -> Path:
        """Store a record durably and return its file.

        :param upsert: the ARNs whose stored fields the record replaces (see
            :meth:`LineageStore.write`); other entities are created if absent.
        :param attestations: the record's signed provenance (public: no key material).
        :raises OSError: the folder cannot be created or written.
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        body = {
            "entities": [to_record(e) for e in entities],
            "associations": [to_record(a) for a in associations],
            "upsert": sorted(upsert),
        }
        if attestations:
            body["attestations"] = [a.as_json() for a in attestations]
        final = self.directory / name
        _write_durably(final, json.dumps(body, sort_keys=True))
        return final

    def pending(self) -> list[Path]:
        """Return the waiting records, oldest first."""
        return _records_in(self.directory)

    def dead(self) -> list[Path]:
        """Return the dead-lettered records, oldest first."""
        return _records_in(self.dead_directory)

    @staticmethod
    def error_of(dead: Path) -> str:
        """Return the error saved beside a dead-lettered record ('' when there is none)."""
        try:
            return dead.with_name(dead.name + ERROR_SUFFIX).read_text(encoding="utf-8")
        except OSError:
            return ""

    def __len__(self) -> int:
        return len(self.pending())

    @staticmethod
    def read(path: Path) -> tuple[list[Entity], list[Association], list[str]]:
        """Return the entities, associations and upserted ARNs of one record file.

        :raises ValueError: the file is not a lineage record.
        :raises OSError: the file cannot be read.
        """
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            ents = [from_record(r) for r in body["entities"]]
            assocs = [from_record(r) for r in body["associations"]]
            upsert = [str(arn) for arn in body["upsert"]]
        except (KeyError, TypeError, ValueError) as e:  # JSON, UTF-8 and field errors
            raise ValueError(f"{path} is not a lineage outbox record: {e}") from e
        return (
            [e for e in ents if not isinstance(e, Association)],
            [a for a in assocs if isinstance(a, Association)],
            upsert,
        )

    @staticmethod
    def read_attestations(path: Path) -> list[Attestation]:
        """Return the signed provenance kept with one record file (none in older files).

        :raises ValueError: the file's attestations are malformed.
        """
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            return [Attestation.from_json(a) for a in body.get("attestations", [])]
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path} has malformed attestations: {e}") from e

    def records(self) -> Iterator[tuple[Path, list[Entity], list[Association], list[str]]]:
        """Yield every waiting record, oldest first.

        :raises ValueError: a waiting file is not a lineage record.
        """
        for path in self.pending():
            ents, assocs, upsert = self.read(path)
            yield path, ents, assocs, upsert

    def dead_letter(self, path: Path, error: BaseException) -> Path | None:
        """Move a waiting record to the dead-letter folder with its error beside it.

        :returns: where it went; None when it was gone already (another replay took it).
        """
        dead_dir = self.dead_directory
        dead_dir.mkdir(exist_ok=True)
        target = dead_dir / path.name
        detail = "".join(traceback.format_exception_only(type(error), error)).strip()
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        _write_durably(target.with_name(target.name + ERROR_SUFFIX), f"{when} {detail}\n")
        try:
            os.replace(path, target)
        except FileNotFoundError:
            target.with_name(target.name + ERROR_SUFFIX).unlink(missing_ok=True)
            return None
        _fsync_dir(dead_dir)
        _fsync_dir(self.directory)
        log.error(
            "Lineage record %s can never be written as it is (%s); moved to %s",
            path.name,
            detail,
            dead_dir,
        )
        return target

    def requeue_dead(self) -> int:
        """Move every dead-lettered record back into the outbox, to be tried again.

        :returns: how many records moved.
        """
        moved = 0
        for path in self.dead():
            os.replace(path, self.directory / path.name)
            path.with_name(path.name + ERROR_SUFFIX).unlink(missing_ok=True)
            moved += 1
        if moved:
            _fsync_dir(self.directory)
            _fsync_dir(self.dead_directory)
        return moved

    def replay(
        self,
        store: LineageStore,
        *,
        max_records: int | None = None,
        time_budget: float | None = None,
        on_record: Callable[[Path, str], None] | None = None,
    ) -> ReplayResult:
        """Write waiting records to ``store``, oldest first.

        A record that fails because the store is unavailable stops the replay and stays
        waiting (the error is raised). A record that fails for any other reason goes to
        the dead-letter folder, and the replay goes on.

        :param max_records: try at most this many records (None: all).
        :param time_budget: start no record after this many seconds (None: no limit);
            a record already started runs to the store's own timeouts.
        :param on_record: called with each record's file and what happened to it:
            ``"replayed"``, ``"dead"``.
        :raises LineageError: the store is unavailable; this record and later ones wait.
        :raises ValueError: ``max_records`` or ``time_budget`` is not positive.
        """
        if max_records is not None and (isinstance(max_records, bool) or max_records < 1):
            raise ValueError(f"max_records must be a positive integer, got {max_records!r}")
        if time_budget is not None and not time_budget > 0:
            raise ValueError(f"time_budget must be a positive number, got {time_budget!r}")
        deadline = None if time_budget is None else time.monotonic() + time_budget
        replayed = dead = 0
        stopped: str | None = None
        for path in self.pending():
            if max_records is not None and replayed + dead >= max_records:
                stopped = f"max_records={max_records} reached"
                break
            if deadline is not None and time.monotonic() >= deadline:
                stopped = f"time_budget={time_budget}s spent"
                break
            outcome = self._replay_one(store, path)
            if outcome is None:
                continue
            if outcome == "dead":
                dead += 1
            else:
                replayed += 1
            if on_record is not None:
                on_record(path, outcome)
        return ReplayResult(replayed, dead, len(self.pending()), stopped)

    def _replay_one(self, store: LineageStore, path: Path) -> str | None:
        """Write one record; return "replayed", "dead", or None when it was gone.

        :raises LineageError: the store is unavailable.
        """
        try:
            ents, assocs, upsert = self.read(path)
            attestations = self.read_attestations(path)
        except FileNotFoundError:
            return None  # another replay wrote it meanwhile
        except Exception as error:  # unreadable: waiting cannot fix it
            return "dead" if self.dead_letter(path, error) else None
        try:
            store.write(ents, assocs, upsert=upsert, attestations=attestations)
        except Exception as error:
            if store_unavailable(error):
                raise
            return "dead" if self.dead_letter(path, error) else None
        path.unlink(missing_ok=True)
        return "replayed"


def _records_in(directory: Path) -> list[Path]:
    """Return the record files of a folder, oldest first (none when it does not exist)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.glob("*.json") if not p.name.startswith(".") and p.is_file())
