"""Capture in the task process: what runs at each point of a task's life.

- **start** (listener ``on_task_instance_running``, before ``execute``): record the action
  ``InProgress`` with its inputs and their digests, taken before the step can change
  them; install the synchronous completion hook on the task.
- **completion** (the task's post-execute hook, which Airflow runs after ``execute`` and
  *before* it reports success): record outputs and ``Completed`` in one transaction, and
  push the ARNs to XCom. Because this happens before success is reported, no downstream
  task can start before the step's lineage is committed. Airflow's success listener
  runs only after success is reported (a race), so it is a fallback here.
- **failure / skip** (listeners): record ``Failed`` with the error, or ``Stopped``.

A capture never breaks a task: errors are logged and the record goes to the outbox.
``[lineage] strict`` turns a capture failure into a task failure instead.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from airflow_lineage import config
from airflow_lineage.capture.extractors import extractor_for
from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.outbox import Outbox
from airflow_lineage.capture.record import LineageRecord, TaskRun, build_record
from airflow_lineage.exceptions import LineageError
from airflow_lineage.model import (
    DEFAULT_ACCOUNT,
    LOCAL_REGION,
    ActionStatus,
    Artifact,
    Association,
    AssociationType,
    utcnow,
)
from airflow_lineage.store import LineageStore
from airflow_lineage.verify import digest_local

__all__ = ["XCOM_KEY", "CaptureError", "deliver", "task_failed", "task_skipped", "task_started"]

log = logging.getLogger(__name__)

GATE_XCOM_KEY = "lineage_gate"
"""The XCom key of a lineage gate's verdict: ``{"approval": ARN, "verdict": ...}``."""

XCOM_KEY = "lineage"
"""The XCom key under which a task's lineage ARNs are pushed.

They are pushed when ``[lineage] push_xcom`` is ``always``, or (``auto``, the default)
when another task of the DAG reads them: an operator with ``consumes_lineage_xcom = True``
reads those of the task ids in its ``lineage_xcom_sources`` (default: its upstream).
"""


class CaptureError(LineageError):
    """Lineage could not be recorded and ``[lineage] strict`` is on."""


@dataclass
class _Run:
    run: TaskRun
    started: datetime
    start_lineage: StepLineage
    start_error: BaseException | None = None
    completed: bool = False
    record: LineageRecord | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_runs: dict[tuple[str, str, str, int], _Run] = {}
_stores: dict[str, LineageStore] = {}
_places: dict[str, tuple[str, str]] = {}
_lock = threading.Lock()


# -- the store and delivery --------------------------------------------------------------------


_conn: ContextVar[str | None] = ContextVar("lineage_conn_id", default=None)


def _conn_id() -> str:
    """Return the lineage connection of the task being captured.

    A DAG whose lineage belongs to another account names that account's connection in
    its params (``params={"lineage_conn_id": "lineage_team_b"}``); others use
    ``[lineage] conn_id``.
    """
    return _conn.get() or config.conn_id()


def _use_connection_of(ti: Any) -> None:
    params = getattr(getattr(ti.task, "dag", None), "params", None) or {}
    chosen = params.get("lineage_conn_id") if hasattr(params, "get") else None
    _conn.set(str(chosen) if chosen else None)


def _store() -> LineageStore:
    """Return this process's store for the task's lineage connection (opened once)."""
    from airflow_lineage.hooks.lineage import LineageHook

    conn_id = _conn_id()
    with _lock:
        store = _stores.get(conn_id)
    if store is None:
        store = LineageHook(conn_id).get_conn(timeout=config.capture_timeout())
        with _lock:
            _stores[conn_id] = store
    return store


def _outbox() -> Outbox:
    conn_id = _conn_id()
    base = config.outbox_dir()
    # Records of other connections wait apart, to be replayed into their own store.
    return Outbox(base if conn_id == config.conn_id() else base / conn_id)


def deliver(record: LineageRecord, *, strict: bool | None = None) -> bool:
    """Write a record to the store within the capture time budget, else to the outbox.

    The budget is enforced by the store's own timeouts (connecting, waiting for a lock,
    running a statement), so capture runs in the task's thread with no hand-off cost.
    Earlier records still in the outbox go first, so the store sees records in order.

    :returns: True when the record reached the store.
    :raises CaptureError: it did not, and strict mode is on.
    """
    strict = config.strict() if strict is None else strict
    outbox = _outbox()
    queued = False
    try:
        store = _store()
        if outbox.pending():
            outbox.put(record.entities, record.associations, record.upsert)
            queued = True
            outbox.replay(store)
        else:
            store.write(record.entities, record.associations, upsert=record.upsert)
        return True
    except Exception as error:  # whatever failed, the record must survive
        if not queued:
            outbox.put(record.entities, record.associations, record.upsert)
        log.warning(
            "Lineage of %s could not be written (%s: %s); kept in the outbox %s for replay",
            record.action_arn,
            type(error).__name__,
            error,
            outbox.directory,
        )
        if strict:
            raise CaptureError(
                f"lineage of {record.action_arn} was not recorded: {error}"
            ) from error
        return False


# -- reading a task --------------------------------------------------------------------------------


def _task_run(ti: Any) -> TaskRun:
    task = ti.task
    cls = type(task)
    return TaskRun(
        dag_id=ti.dag_id,
        task_id=ti.task_id,
        run_id=ti.run_id,
        map_index=_map_index(ti),
        try_number=int(getattr(ti, "try_number", 1) or 1),
        operator=f"{cls.__module__}.{cls.__qualname__}",
    )


def _map_index(ti: Any) -> int:
    value = getattr(ti, "map_index", -1)
    return -1 if value is None else int(value)


def _key(ti: Any) -> tuple[str, str, str, int]:
    return (ti.dag_id, ti.task_id, ti.run_id, _map_index(ti))


def _asset_refs(items: Iterable[Any]) -> list[DataRef]:
    """Turn inlets/outlets (Assets, or anything with a ``uri``) into data refs."""
    refs = []
    for item in items or ():
        uri = getattr(item, "uri", None)
        if not isinstance(uri, str) or not uri:
            continue
        extra = getattr(item, "extra", None) or {}
        kind = str(extra.get("artifact_type") or "DataSet")
        refs.append(DataRef(uri, kind, name=None))
    return refs


def _with_digests(refs: Iterable[DataRef]) -> tuple[DataRef, ...]:
    out = []
    for ref in refs:
        if not ref.digests:
            digests = digest_local(ref.uri)
            if digests:
                ref = DataRef(ref.uri, ref.artifact_type, digests, ref.properties, ref.name)
        out.append(ref)
    return tuple(out)


def _hook_lineage() -> tuple[list[DataRef], list[DataRef]]:
    """Return the inputs and outputs Airflow's hook-level lineage collector saw."""
    from airflow.sdk.lineage import get_hook_lineage_collector

    collected = get_hook_lineage_collector().collected_assets
    return (
        _asset_refs(info.asset for info in collected.inputs),
        _asset_refs(info.asset for info in collected.outputs),
    )


def _reset_hook_lineage() -> None:
    """Start the task with an empty collector (``dag.test()`` reuses one process)."""
    from airflow.sdk.lineage import get_hook_lineage_collector

    get_hook_lineage_collector.cache_clear()


def _context(ti: Any) -> Mapping[str, Any]:
    try:
        return ti.get_template_context()  # type: ignore[no-any-return]
    except Exception:  # a missing context only costs extractors their input
        return {}


# -- the capture points ------------------------------------------------------------


def task_started(ti: Any) -> None:
    """Record the run as InProgress with its inputs, and arm the completion hook."""
    task = ti.task
    _reset_hook_lineage()
    _use_connection_of(ti)
    run = _task_run(ti)
    state = _Run(run=run, started=utcnow(), start_lineage=StepLineage())
    with _lock:
        _runs[_key(ti)] = state
    _arm(ti, state)
    try:
        lineage = StepLineage(
            inputs=tuple(_asset_refs(task.inlets)), associated_from=_approvals(ti)
        )
        extractor = extractor_for(task)
        if extractor is not None:
            lineage = lineage.merge(extractor.on_start(task, _context(ti)))
        # At the start only inputs count; outputs and metrics come with completion.
        lineage = dataclasses.replace(
            lineage, inputs=_with_digests(lineage.inputs), outputs=(), metrics={}
        )
        state.start_lineage = lineage
        record = _build(run, lineage, ActionStatus.IN_PROGRESS, now=state.started)
        deliver(record)
    except BaseException as e:
        state.start_error = e
        log.warning("Lineage capture failed at the start of %s: %s", run.uri, e, exc_info=True)


def record_place() -> tuple[str, str]:
    """Return the (account, region) records are written in (read once per process)."""
    conn_id = _conn_id()
    with _lock:
        cached = _places.get(conn_id)
    if cached is None:
        from airflow_lineage.hooks.lineage import LineageHook

        settings = LineageHook(conn_id).store_settings()
        cached = (
            settings.get("account") or DEFAULT_ACCOUNT,
            settings.get("region") or LOCAL_REGION,
        )
        with _lock:
            _places[conn_id] = cached
    return cached


def _build(
    run: TaskRun, lineage: StepLineage, status: ActionStatus, **kwargs: Any
) -> LineageRecord:
    account, region = record_place()
    record = build_record(run, lineage, status, account=account, region=region, **kwargs)
    return _with_shared_copies(record)


_SHARED_TTL = 30.0
_shared: dict[int, tuple[float, bool]] = {}


def _has_shared_lineage(store: LineageStore) -> bool:
    """Return whether another account shares lineage with this one (re-read every 30 s)."""
    now = time.monotonic()
    known = _shared.get(id(store))
    if known is None or now - known[0] > _SHARED_TTL:
        shared = any(g.account != store.account for g in store.lineage_groups())
        known = _shared[id(store)] = (now, shared)
    return known[1]


def _with_shared_copies(record: LineageRecord) -> LineageRecord:
    """Link each input to the copies of the same data that other accounts share with
    this one (``SameAs``, as SageMaker does), so lineage continues across accounts."""
    if not record.inputs:
        return record
    try:
        store = _store()
        if not _has_shared_lineage(store):
            return record
        own = {e.arn: e for e in record.entities if isinstance(e, Artifact)}
        links = []
        for arn in record.inputs:
            mine = own.get(arn)
            if mine is None:
                continue
            for other in store.list_entities(
                "Artifact", source_uri=mine.source_uri, type=mine.type
            ).items:
                if other.account != store.account:
                    links.append(Association(other.arn, mine.arn, AssociationType.SAME_AS))
    except Exception:  # an unreachable store: the record still goes to the outbox
        return record
    if not links:
        return record
    return dataclasses.replace(record, associations=(*record.associations, *links))


def _arm(ti: Any, state: _Run) -> None:
    """Wrap the task's pre- and post-execute hooks with the synchronous capture points."""
    task = ti.task
    previous_pre = task._pre_execute_hook
    previous_post = task._post_execute_hook

    def lineage_pre_execute(context: Any) -> None:
        if previous_pre is not None:
            previous_pre(context)
        if state.start_error is not None and config.strict():
            raise CaptureError(f"lineage of {state.run.uri} was not recorded at start") from (
                state.start_error
            )

    def lineage_post_execute(context: Any, result: Any) -> None:
        if previous_post is not None:
            previous_post(context, result)
        task_completed(ti, state, context, result)

    task._pre_execute_hook = lineage_pre_execute
    task._post_execute_hook = lineage_post_execute


def task_completed(ti: Any, state: _Run, context: Mapping[str, Any], result: Any) -> None:
    """Record outputs and Completed, then push the ARNs to XCom (before success is reported).

    :raises CaptureError: only in strict mode.
    """
    try:
        task = ti.task
        hook_in, hook_out = _hook_lineage()
        lineage = state.start_lineage.merge(
            StepLineage(inputs=tuple(hook_in), outputs=(*_asset_refs(task.outlets), *hook_out))
        )
        extractor = extractor_for(task)
        if extractor is not None:
            lineage = extractor.on_complete(task, context, result).merge(lineage)
        lineage = _finish(lineage)
        record = _build(
            state.run,
            lineage,
            ActionStatus.COMPLETED,
            now=utcnow(),
            started=state.started,
        )
    except BaseException as e:
        log.warning("Lineage of %s could not be built: %s", state.run.uri, e, exc_info=True)
        if config.strict():
            raise CaptureError(f"lineage of {state.run.uri} could not be built: {e}") from e
        return
    state.completed = True
    state.record = record
    deliver(record)
    if not _wants_xcom(ti.task):
        return
    try:
        ti.xcom_push(key=XCOM_KEY, value=record.xcom())
    except Exception as e:  # XCom is a convenience; the store has the record
        log.warning("Could not push lineage ARNs of %s to XCom: %s", state.run.uri, e)


def _wants_xcom(task: Any) -> bool:
    """Return whether to push the ARNs: always, never, or when a downstream task reads them."""
    mode = config.push_xcom()
    if mode != "auto":
        return mode == "always"
    dag = getattr(task, "dag", None)
    for other in dag.tasks if dag is not None else task.downstream_list:
        if not getattr(other, "consumes_lineage_xcom", False):
            continue
        sources = getattr(other, "lineage_xcom_sources", None)
        if task.task_id in (other.upstream_task_ids if sources is None else sources):
            return True
    return False


def _finish(lineage: StepLineage) -> StepLineage:
    """Keep the start-time digests of inputs; digest outputs now, after the step ran."""
    return dataclasses.replace(
        lineage, inputs=_with_digests(lineage.inputs), outputs=_with_digests(lineage.outputs)
    )


def _approvals(ti: Any) -> tuple[str, ...]:
    """Return the approvals of passed lineage gates directly upstream of the task."""
    gates = [t.task_id for t in ti.task.upstream_list if getattr(t, "is_lineage_gate", False)]
    found = []
    for task_id in gates:
        pushed = ti.xcom_pull(task_ids=task_id, key=GATE_XCOM_KEY)
        if isinstance(pushed, dict) and pushed.get("verdict") == "passed":
            found.append(str(pushed["approval"]))
    return tuple(found)


def task_succeeded(ti: Any) -> None:
    """Record completion if the synchronous hook did not (the success listener's fallback)."""
    with _lock:
        state = _runs.pop(_key(ti), None)
    if state is None or state.completed:
        return
    task_completed(ti, state, _context(ti), None)


def _ended(ti: Any, status: ActionStatus, error: str | None, cause: Any = None) -> None:
    _use_connection_of(ti)
    with _lock:
        state = _runs.pop(_key(ti), None)
    run = state.run if state else _task_run(ti)
    lineage = state.start_lineage if state else StepLineage()
    extractor = extractor_for(ti.task)
    if status is ActionStatus.FAILED and extractor is not None:
        lineage = _finish(extractor.on_failure(ti.task, _context(ti), cause).merge(lineage))
    record = _build(
        run,
        lineage,
        status,
        now=utcnow(),
        started=state.started if state else None,
        error=error,
    )
    deliver(record, strict=False)  # the task has already ended; nothing left to fail


def task_failed(ti: Any, error: BaseException | str | None) -> None:
    """Record the run as Failed, with the error."""
    message = None if error is None else f"{type(error).__name__}: {error}"[:2500]
    _ended(ti, ActionStatus.FAILED, message, error)


def task_skipped(ti: Any) -> None:
    """Record the run as Stopped (the task skipped itself)."""
    _ended(ti, ActionStatus.STOPPED, None)


def reset() -> None:
    """Forget this process's open stores and cached settings (after a config change)."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
        _places.clear()
        _shared.clear()
        _runs.clear()
    for store in stores:
        store.close()
