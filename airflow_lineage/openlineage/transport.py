"""A transport for the OpenLineage provider: its events recorded in our lineage store.

Configure the provider with it, and every operator the provider has lineage for (SQL
operators, Spark, dbt, …) records into the store, with no extractor of ours::

    [openlineage]
    transport = {"type": "airflow_lineage.openlineage.transport.LineageTransport"}

``"store": "<url>"`` names the store; without it, ``[ml_lineage] store_url`` or the
embedded ``$AIRFLOW_HOME/lineage.db`` (not the lineage connection: the provider sends
events from a process forked off the task, where Airflow cannot look connections up).

A task's events make the action the listener records for the same try (see
:mod:`.ingest`), so a task both capture paths see is one action. While the listener is on
(``[ml_lineage] enabled``), a task's ``START`` and ``RUNNING`` events are left to it: the
listener's record names the step's type (``Training``, say), which an action created
first from the provider's event (the operator's class) would keep for good. The task's
final event, sent after the listener recorded the try, adds the provider's data sets.

An event the store cannot take is logged and dropped: lineage never fails the task (the
provider sends events after the task's own work, in another process).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import attr
from openlineage.client.serde import Serde
from openlineage.client.transport.transport import Config, Transport

from airflow_lineage.store.base import LineageStore

__all__ = ["LineageTransport", "LineageTransportConfig"]

log = logging.getLogger(__name__)


@attr.define
class LineageTransportConfig(Config):
    """The transport's settings: ``store``, a store URL (default: found as usual)."""

    store: str | None = None

    @classmethod
    def from_dict(cls, params: dict[str, Any]) -> LineageTransportConfig:
        """Build the settings from the provider's ``transport`` JSON.

        :raises ValueError: ``store`` is not a string.
        """
        store = params.get("store")
        if store is not None and not isinstance(store, str):
            raise ValueError(f"store must be a URL string, not {type(store).__name__}")
        return cls(store=store)


def _left_to_the_listener(data: dict[str, Any]) -> bool:
    """Return whether this is a task's start, which the listener records itself."""
    from airflow_lineage import config

    facets = data["run"].get("facets") or {}
    return (
        data.get("eventType") in ("START", "RUNNING") and "airflow" in facets and config.enabled()
    )


class LineageTransport(Transport):
    """Record each OpenLineage run event into the lineage store."""

    kind = "airflow_lineage"
    config_class = LineageTransportConfig

    def __init__(self, config: LineageTransportConfig) -> None:
        self.config = config
        self._store: LineageStore | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def _open(self) -> LineageStore:
        if self._pid != os.getpid():
            # A process forked off the one that opened the store (the provider forks per
            # event) must not share its connections: it opens its own.
            self._store, self._pid = None, os.getpid()
        if self._store is None:
            from airflow_lineage import config
            from airflow_lineage.store import connect

            # The provider emits from a process forked off the task, where looking up an
            # Airflow connection would wait on the task's supervisor forever: the store
            # is named by URL ([ml_lineage] store_url or the embedded file by default).
            self._store = connect(self.config.store or config.default_store_url())
        return self._store

    def emit(self, event: Any) -> None:
        """Validate and record one event; job and data set events carry no run and are skipped."""
        from airflow_lineage.openlineage.facets import validate
        from airflow_lineage.openlineage.ingest import parent_action_in, to_lineage, write

        data = Serde.to_dict(event)
        if "run" not in data:
            log.debug("OpenLineage event without a run skipped")
            return
        if _left_to_the_listener(data):
            log.debug("OpenLineage %s event of a task left to the listener", data["eventType"])
            return
        from airflow_lineage.store.locate import without_airflow_connections

        try:
            validate(data)
            # Nothing here may look up an Airflow connection (the store, the signing
            # key): the provider emits from a process forked off the task, where a
            # look-up waits on the task's supervisor forever.
            with self._lock, without_airflow_connections():
                store = self._open()
                lineage = to_lineage(
                    [data],
                    account=store.account,
                    region=store.region,
                    parent_action=parent_action_in(store),
                )
                write(store, lineage)
        except Exception as e:  # lineage never breaks what emitted it
            log.warning(
                "OpenLineage event of %s not recorded: %s: %s",
                data.get("job", {}).get("name"),
                type(e).__name__,
                e,
            )

    def close(self, timeout: float = -1) -> bool:
        """Close the store."""
        with self._lock:
            if self._store is not None and self._pid == os.getpid():
                self._store.close()
            self._store = None
        return True
