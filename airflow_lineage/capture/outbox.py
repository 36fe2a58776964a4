"""A durable local outbox for lineage records the store could not take.

Each record is one JSON file, written to a temporary name, flushed to disk and renamed
into place, so a crash never leaves half a record. Files are named by time and a
sequence, and replayed in that order; a replayed file is deleted only after its
transaction committed. Replays are idempotent (upsert by modification time), so a record
written twice, or replayed after a later one, changes nothing.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from airflow_lineage.model import Association, Entity
from airflow_lineage.provenance.attestation import Attestation
from airflow_lineage.records import format_time, from_record, parse_time, to_record
from airflow_lineage.store.base import LineageStore

__all__ = ["Outbox", "ReplayResult"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay did: records written, and records still waiting."""

    replayed: int
    pending: int


class Outbox:
    """A folder of lineage records waiting to be written to the store."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

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
        """
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        body = {
            "entities": [to_record(e) for e in entities],
            "associations": [to_record(a) for a in associations],
            "upsert": sorted(upsert),
        }
        if attestations:
            body["attestations"] = [
                {"arn": a.arn, "envelope": a.envelope, "modified": format_time(a.modified)}
                for a in attestations
            ]
        tmp = self.directory / f".{name}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(body, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        final = self.directory / name
        os.replace(tmp, final)
        return final

    def pending(self) -> list[Path]:
        """Return the waiting records, oldest first."""
        if not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.glob("*.json") if not p.name.startswith("."))

    def __len__(self) -> int:
        return len(self.pending())

    @staticmethod
    def read(path: Path) -> tuple[list[Entity], list[Association], list[str]]:
        """Return the entities, associations and upserted ARNs of one record file.

        :raises ValueError: the file is not a lineage record.
        """
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            ents = [from_record(r) for r in body["entities"]]
            assocs = [from_record(r) for r in body["associations"]]
            upsert = [str(arn) for arn in body["upsert"]]
        except (KeyError, TypeError, json.JSONDecodeError) as e:
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
            return [
                Attestation(str(a["arn"]), str(a["envelope"]), parse_time(a["modified"]))
                for a in body.get("attestations", [])
            ]
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as e:
            raise ValueError(f"{path} has malformed attestations: {e}") from e

    def records(self) -> Iterator[tuple[Path, list[Entity], list[Association], list[str]]]:
        """Yield every waiting record, oldest first."""
        for path in self.pending():
            ents, assocs, upsert = self.read(path)
            yield path, ents, assocs, upsert

    def replay(self, store: LineageStore) -> ReplayResult:
        """Write every waiting record to ``store`` in order; stop at the first failure.

        :raises LineageError: the store failed; records not yet written stay waiting.
        """
        done = 0
        for path, ents, assocs, upsert in self.records():
            store.write(ents, assocs, upsert=upsert, attestations=self.read_attestations(path))
            path.unlink(missing_ok=True)
            done += 1
        return ReplayResult(done, len(self.pending()))
