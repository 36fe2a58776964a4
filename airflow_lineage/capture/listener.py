"""The Airflow listener: capture points that Airflow calls in the task process.

Every hook guards itself: lineage capture must never break, delay or veto a task (the
strict mode acts through the task's own pre/post-execute hooks instead, see
:mod:`.runtime`). Hooks called outside a task process (an API or UI state change hands
an ORM task instance without ``.task``) are ignored.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Any

from airflow.listeners import hookimpl

from airflow_lineage import config

log = logging.getLogger(__name__)


_WARM_MODULES = (
    "airflow_lineage.capture.runtime",
    "airflow_lineage.capture.record",
    "airflow_lineage.capture.relay",
    "airflow_lineage.capture.shared",
    "airflow_lineage.hooks.lineage",
    "airflow_lineage.provenance.attestation",
    "airflow_lineage.provenance.dsse",
    "airflow_lineage.provenance.keys",
    "airflow_lineage.provenance.statement",
    "airflow_lineage.store.sql",
    "sqlalchemy.dialects.sqlite",
    "sqlalchemy.dialects.postgresql.psycopg",
    "psycopg",
)
"""What every task process's capture imports: loaded once in each long-lived component,
so that the task processes it forks (LocalExecutor, Celery workers) inherit them instead
of importing them again per task (about 20-60 ms; the PostgreSQL driver most of it)."""


@hookimpl
def on_starting(component: Any) -> None:
    """Import what capture needs, once, in the process that will fork task processes."""
    if not config.enabled():
        return
    if _is_scheduler(component):
        _start_relay()
    config.load_all()
    for name in _WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # an optional driver that is not installed: tasks do without
            log.debug("Lineage capture could not preload %s", name, exc_info=True)
    _rehearse()
    _load_signing_key()


def _rehearse() -> None:
    """Build and encode one throwaway record, so that what building loads on first use
    (the SageMaker limits module, compiled patterns, Airflow's asset metadata) is loaded
    here once, not in every task process; nothing is written."""
    try:
        from airflow_lineage.capture.lineage import DataRef, StepLineage
        from airflow_lineage.capture.record import TaskRun, build_record
        from airflow_lineage.model import ActionStatus, SourceIdType, SourceType, utcnow

        importlib.import_module("airflow.sdk.definitions.asset.metadata")
        digest = SourceType(SourceIdType.CUSTOM, "sha256:" + "0" * 64)
        data = DataRef("file:///lineage-rehearsal", digests=(digest,))
        lineage = StepLineage(inputs=(data,), outputs=(data,), parameters={"p": "1"})
        run = TaskRun("rehearsal", "rehearsal", "rehearsal", operator="rehearsal.Rehearsal")
        build_record(run, lineage, ActionStatus.COMPLETED, now=utcnow(), sign=False).as_json()
    except Exception:  # only a warm-up: each task loads what it needs anyway
        log.debug("Lineage capture could not rehearse a record", exc_info=True)


def _load_signing_key() -> None:
    """Load the deployment's signing key once, here, for the task processes forked later.

    Finding it costs a task a connection look-up (a round trip to the api-server);
    loaded in the scheduler, it is inherited instead. Elsewhere each task loads it.
    """
    from airflow_lineage import config

    if not config.attest():
        return
    try:
        from airflow_lineage.provenance import keys

        keys.deployment_key()
    except Exception:  # the task tries again, and says why if it fails too
        log.warning("Lineage capture could not load the signing key", exc_info=True)


def _is_scheduler(component: Any) -> bool:
    """Return whether ``component`` is the scheduler (whose executor forks task processes).

    Airflow calls ``on_starting`` from ``Job.__init__``, before the job runner names the
    job's type, so the command the process runs tells.
    """
    if getattr(component, "job_type", None) == "SchedulerJob":
        return True
    return type(component).__name__ == "Job" and sys.argv[1:2] == ["scheduler"]


def _start_relay() -> None:
    """Start the lineage relay beside the scheduler, whose task processes will use it."""
    try:
        path = config.relay_socket()
        if path is None:
            return
        from airflow_lineage.capture import relay

        relay.start_beside(path)
    except Exception:  # tasks then open the store themselves
        log.warning("Lineage relay could not be started", exc_info=True)


def _in_task(task_instance: Any) -> bool:
    return config.enabled() and getattr(task_instance, "task", None) is not None


@hookimpl
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    """Record the start of a task run and arm the synchronous completion capture."""
    if not _in_task(task_instance):
        return
    try:
        from airflow_lineage.capture import runtime

        runtime.task_started(task_instance)
    except Exception:
        log.exception("Lineage capture failed at task start")


@hookimpl
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    """Record completion if the synchronous capture did not run (fallback)."""
    if not _in_task(task_instance):
        return
    try:
        from airflow_lineage.capture import runtime

        runtime.task_succeeded(task_instance)
    except Exception:
        log.exception("Lineage capture failed at task success")


@hookimpl
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any) -> None:
    """Record the run as Failed with its error."""
    if not _in_task(task_instance):
        return
    try:
        from airflow_lineage.capture import runtime

        runtime.task_failed(task_instance, error)
    except Exception:
        log.exception("Lineage capture failed at task failure")


@hookimpl
def on_task_instance_skipped(previous_state: Any, task_instance: Any) -> None:
    """Record the run as Stopped."""
    if not _in_task(task_instance):
        return
    try:
        from airflow_lineage.capture import runtime

        runtime.task_skipped(task_instance)
    except Exception:
        log.exception("Lineage capture failed at task skip")
