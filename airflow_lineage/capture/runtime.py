"""Capture in the task process: what runs at each point of a task try's life.

Every try of a task run is its own action (see :mod:`.record`), so each point below
records one try, and nothing of an earlier try is carried into a later one.

- **start** (listener ``on_task_instance_running``, before ``execute``): read the inputs
  and take their digests (files: sha256; S3: ETag and VersionId) *before* the step can
  change them, and keep them in memory; watch Airflow's hook-lineage collector so that
  inputs a hook reports while the step runs are digested when reported; install the
  synchronous completion hook on the task. No store round trip: the try is written once,
  when it ends (``strict`` mode writes an ``InProgress`` record here as well, so that an
  unreachable store fails the task before the step runs).
- **completion** (the task's post-execute hook, which Airflow runs after ``execute`` and
  *before* it reports success): record inputs, outputs and ``Completed`` in one
  transaction, and push the ARNs to XCom. Because this happens before success is
  reported, no downstream task can start before the step's lineage is committed.
  Airflow's success listener runs only after success is reported (a race), so it is a
  fallback here.
- **failure / skip** (listeners): record ``Failed`` with the error, or ``Stopped``, with
  the inputs read (and digested) before the step failed. A timeout or SIGTERM runs these
  listeners too; only a process killed outright (SIGKILL, out of memory) leaves no
  record of that try.

A capture never breaks a task: an ``Exception`` is logged and the record goes to the
outbox. One deadline, ``[ml_lineage] capture_timeout``, bounds a whole capture (finding
the store, opening it, writing, replaying), on the relay's path and the direct one.
A ``BaseException`` is not caught: ``AirflowTaskTerminated`` (SIGTERM) or
``AirflowTaskTimeout`` arriving while capture runs ends the task as Airflow intends,
after the record is put in the outbox.
``[lineage] strict`` turns a capture failure into a task failure instead.
"""

from __future__ import annotations

import contextvars
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from airflow_lineage import config
from airflow_lineage.capture.extractors import extractor_for
from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.record import LineageRecord, TaskRun, build_record
from airflow_lineage.capture.triggers import producing_actions
from airflow_lineage.exceptions import LineageError
from airflow_lineage.model import (
    DEFAULT_ACCOUNT,
    LOCAL_REGION,
    ActionStatus,
    Arn,
    SourceType,
    utcnow,
)
from airflow_lineage.provenance import attestation
from airflow_lineage.store.base import LineageStore
from airflow_lineage.verify import digest

if TYPE_CHECKING:
    from airflow_lineage.capture.outbox import Outbox
    from airflow_lineage.capture.relay import RelayClient, StoreSpec

__all__ = [
    "XCOM_KEY",
    "CaptureError",
    "action_arn",
    "deliver",
    "record_place",
    "task_failed",
    "task_skipped",
    "task_started",
]

log = logging.getLogger(__name__)

GATE_XCOM_KEY = "lineage_gate"
"""The XCom key of a lineage gate's verdict: ``{"approval": ARN, "verdict": ...}``."""

XCOM_KEY = "lineage"
"""The XCom key under which a task's lineage ARNs are pushed.

They are pushed when ``[lineage] push_xcom`` is ``always``, or (``auto``, the default)
when another task of the DAG reads them: an operator with ``consumes_lineage_xcom = True``
reads those of the task ids in its ``lineage_xcom_sources`` (default: its upstream).
"""

DEFAULT_AWS_CONN_ID = "aws_default"


class CaptureError(LineageError):
    """Lineage could not be recorded and ``[lineage] strict`` is on."""


@dataclass
class _Run:
    run: TaskRun
    started: datetime
    aws_conn_id: str | None
    start_lineage: StepLineage = field(default_factory=StepLineage)
    start_error: Exception | None = None
    completed: bool = False
    record: LineageRecord | None = None
    spent: float = 0.0
    """Seconds capture has spent in this try so far (reported when the try ends)."""
    signing_before: float = 0.0
    """This process's signing time when the try started."""
    digested: dict[str, tuple[SourceType, ...]] = field(default_factory=dict)
    """The digests this try took of its inputs, by URI: at the start, or when a hook
    reported them; () where none could be taken (never retried after the step ran)."""


_RunKey = tuple[str, str, str, int, int]
_runs: dict[_RunKey, _Run] = {}
_stores: dict[str, LineageStore] = {}
_settings: dict[str, dict[str, str | None]] = {}
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
    """Return this process's store for the task's lineage connection (opened once).

    Opening it is the one look-up of the lineage connection a task process makes when
    the store answers (the store knows its account and region).
    """
    from airflow_lineage.hooks.lineage import LineageHook

    conn_id = _conn_id()
    with _lock:
        store = _stores.get(conn_id)
    if store is None:
        store = LineageHook(conn_id).get_conn(timeout=config.capture_timeout())
        with _lock:
            _stores[conn_id] = store
    return store


def _outbox_dir() -> Path:
    conn_id = _conn_id()
    base = config.outbox_dir()
    # Records of other connections wait apart, to be replayed into their own store.
    return base if conn_id == config.conn_id() else base / conn_id


def _outbox() -> Outbox:
    from airflow_lineage.capture.outbox import Outbox  # lazy: only a queued record needs it

    return Outbox(_outbox_dir())


def _waiting(directory: Path) -> bool:
    """Return whether records wait in the outbox (without loading the outbox code)."""
    try:
        with os.scandir(directory) as entries:
            return any(e.name.endswith(".json") and not e.name.startswith(".") for e in entries)
    except FileNotFoundError:
        return False


def deliver(record: LineageRecord, *, strict: bool | None = None) -> bool:
    """Write a record to the store within the capture time budget, else to the outbox.

    Earlier records still in the outbox go first, so the store sees records in order.

    :returns: True when the record reached the store.
    :raises CaptureError: it did not, and strict mode is on.
    """
    deadline = time.monotonic() + config.capture_timeout()
    try:
        target: _Target | None = _target(deadline)
        unavailable = None
    except Exception as e:
        target, unavailable = None, e
    return _deliver(record, target, deadline, strict, unavailable)


class _Target:
    """Where this task's records go: the store opened here, or the relay's."""

    account: str
    region: str

    def commit(self, record: LineageRecord, deadline: float) -> None:
        raise NotImplementedError


class _Direct(_Target):
    """The store, opened by this task process."""

    def __init__(self, store: LineageStore) -> None:
        self.store = store
        self.account, self.region = store.account, store.region

    def commit(self, record: LineageRecord, deadline: float) -> None:
        from airflow_lineage.capture.shared import commit

        _within(deadline, "writing the record", lambda: commit(record, self.store))


_T = TypeVar("_T")


def _within(deadline: float, doing: str, work: Callable[[], _T]) -> _T:
    """Return ``work()``, or raise :class:`TimeoutError` when the deadline comes first.

    The store's own timeouts bound each statement; this bounds a whole capture, however
    many statements, lock waits and reconnects it takes. Work that misses the deadline
    finishes (or fails) in the background; its record goes to the outbox meanwhile, and
    writing a record twice changes nothing.
    """
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as e:  # handed to the waiting thread, which decides
            outcome["error"] = e
        finally:
            done.set()

    # In the task's context: the lineage connection a DAG chose is a context variable.
    context = contextvars.copy_context()
    threading.Thread(target=context.run, args=(run,), name="lineage-capture", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise TimeoutError(
            f"{doing} took longer than the capture deadline "
            f"([ml_lineage] capture_timeout = {config.capture_timeout():g} s)"
        )
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


class _Relayed(_Target):
    """The store, kept open by the lineage relay (see :mod:`.relay`)."""

    def __init__(self, client: RelayClient, spec: StoreSpec, deadline: float) -> None:
        self.client, self.spec = client, spec
        self.account, self.region = client.place(spec, deadline)

    def commit(self, record: LineageRecord, deadline: float) -> None:
        relay_signed = not record.attestations
        spent = self.client.write(self.spec, record, deadline, sign=relay_signed)
        # Reported with the try's capture: the task waited for it.
        attestation.signing_seconds += spent


_relays: dict[Path, RelayClient] = {}

REPLAY_IN_TASK = 20
"""At most this many waiting records are replayed by one task's capture."""


def _target(deadline: float) -> _Target:
    """Return where the records of the task being captured go.

    Through the relay when one serves this machine and the store is a SQL store (the
    relay finds the lineage connection and keeps the store open); else the store, found
    and opened in this process.
    Records waiting in the outbox are replayed by the task itself, first.

    :raises Exception: the store (or the relay's) cannot be opened.
    """
    path = config.relay_socket()
    if path is not None and not _waiting(_outbox_dir()):
        from airflow_lineage.capture.relay import RelayClient, RelayUnreachable, StoreSpec

        with _lock:
            client = _relays.setdefault(path, RelayClient(path))
        try:
            return _Relayed(client, StoreSpec(_conn_id(), config.capture_timeout()), deadline)
        except RelayUnreachable:
            pass  # no relay here, or not for this store: open the store ourselves
    return _Direct(_within(deadline, "opening the store", _store))


def _deliver(
    record: LineageRecord,
    target: _Target | None,
    deadline: float,
    strict: bool | None,
    unavailable: Exception | None,
) -> bool:
    """Deliver as :func:`deliver` to ``target``; ``unavailable``: finding the target just
    failed with this error, so the record goes straight to the outbox."""
    strict = config.strict() if strict is None else strict
    queued = False
    try:
        if target is None:
            raise unavailable or LineageError("no lineage store to write to")
        if isinstance(target, _Direct) and _waiting(_outbox_dir()):
            # Earlier records first, so the store sees them in order; a few only, within
            # this capture's deadline: `airflow-lineage outbox replay` drains the rest.
            outbox = _outbox()
            queued_at = outbox.put(
                record.entities, record.associations, record.upsert, record.attestations
            )
            queued = True
            store = target.store
            result = _within(
                deadline,
                "replaying the outbox",
                lambda: outbox.replay(
                    store,
                    max_records=REPLAY_IN_TASK,
                    time_budget=max(0.001, deadline - time.monotonic()),
                ),
            )
            if queued_at.exists() or queued_at.name in {p.name for p in outbox.dead()}:
                log.warning(
                    "Lineage of %s waits in the outbox %s behind earlier records (%d "
                    "waiting): run `airflow-lineage outbox replay`",
                    record.action_arn,
                    _outbox_dir(),
                    result.pending,
                )
                return False
        else:
            target.commit(record, deadline)
        return True
    except Exception as error:  # whatever failed, the record must survive
        kept = queued or _keep(record)
        log.warning(
            "Lineage of %s could not be written (%s: %s); %s",
            record.action_arn,
            type(error).__name__,
            error,
            f"kept in the outbox {_outbox_dir()} for replay" if kept else "NOT kept",
        )
        if strict:
            raise CaptureError(
                f"lineage of {record.action_arn} was not recorded: {error}"
            ) from error
        return False
    except BaseException:  # SIGTERM or a task timeout: the task ends as Airflow intends
        if not queued:
            _keep(record)
        raise


def _keep(record: LineageRecord) -> bool:
    """Put a record in the outbox; return False (and say so loudly) when even that fails.

    A record meant for the relay, which signs, is signed here first.
    """
    if not record.attestations:
        from airflow_lineage.capture.record import signed

        try:
            record = signed(record)
        except Exception as e:  # kept unsigned: a gate requiring signatures rejects it
            log.warning("Lineage of %s is kept unsigned: %s", record.action_arn, e)
    try:
        _outbox().put(record.entities, record.associations, record.upsert, record.attestations)
    except Exception as e:
        log.error(
            "Lineage of %s is LOST: it could not be written to the store, nor kept in the "
            "outbox %s (%s: %s)",
            record.action_arn,
            _outbox_dir(),
            type(e).__name__,
            e,
        )
        return False
    return True


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


def _key(ti: Any) -> _RunKey:
    return (
        ti.dag_id,
        ti.task_id,
        ti.run_id,
        _map_index(ti),
        int(getattr(ti, "try_number", 1) or 1),
    )


def _aws_conn_id(task: Any) -> str | None:
    """Return the AWS connection S3 data of the task is read through (the operator's own)."""
    value = getattr(task, "aws_conn_id", DEFAULT_AWS_CONN_ID)
    return value if isinstance(value, str) or value is None else DEFAULT_AWS_CONN_ID


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


def _digests_of(uri: str, aws_conn_id: str | None) -> tuple[SourceType, ...]:
    return digest(uri, aws_conn_id=aws_conn_id, max_bytes=config.max_digest_bytes())


def _with_digests(
    refs: Iterable[DataRef],
    aws_conn_id: str | None,
    known: Mapping[str, tuple[SourceType, ...]] | None = None,
) -> tuple[DataRef, ...]:
    """Give every ref without digests those taken earlier (``known``), or take them now
    (and add them to ``known`` when it is a dict)."""
    out = []
    for ref in refs:
        if not ref.digests:
            digests = (known or {}).get(ref.uri)
            if digests is None:
                digests = _digests_of(ref.uri, aws_conn_id)
                if isinstance(known, dict):
                    known[ref.uri] = digests
            if digests:
                ref = DataRef(ref.uri, ref.artifact_type, digests, ref.properties, ref.name)
        out.append(ref)
    return tuple(out)


def _hook_lineage() -> tuple[list[DataRef], list[DataRef]]:
    """Return the inputs and outputs Airflow's hook-level lineage collector saw.

    A collector that was never created saw nothing: creating one loads every provider's
    asset factories (the amazon provider's S3 hook and boto3 among them, about 80 ms in a
    fresh task process), so a task whose hooks reported nothing never pays for it.
    """
    from airflow.sdk.lineage import get_hook_lineage_collector

    if get_hook_lineage_collector.cache_info().currsize == 0:
        return [], []
    collected = get_hook_lineage_collector().collected_assets
    return (
        _asset_refs(info.asset for info in collected.inputs),
        _asset_refs(info.asset for info in collected.outputs),
    )


_watching: _Run | None = None
"""The try whose hook-lineage inputs are digested as hooks report them."""


def _watch_hook_lineage(state: _Run) -> None:
    """Digest each input a hook reports for this try, when it reports it (the data as the
    step read it, not as it is at the end).

    The collector's class is wrapped once per process, so no collector is created here
    (see :func:`_hook_lineage`). ``dag.test()`` runs every task in one process with one
    collector: one that holds an earlier task's lineage is dropped.
    """
    global _watching
    from airflow.sdk.lineage import HookLineageCollector, get_hook_lineage_collector

    if get_hook_lineage_collector.cache_info().currsize > 0 and getattr(
        get_hook_lineage_collector(), "has_collected", True
    ):
        get_hook_lineage_collector.cache_clear()
    _watching = state
    original = HookLineageCollector.add_input_asset
    if getattr(original, "_lineage_watch", False):
        return

    def add_input_asset(self: Any, context: Any, *args: Any, **kwargs: Any) -> None:
        watched = _watching
        inputs = getattr(self, "_inputs", None)
        before = set(inputs) if watched is not None and isinstance(inputs, dict) else None
        original(self, context, *args, **kwargs)
        if before is None or not isinstance(inputs, dict) or watched is None:
            return
        try:
            for entry in inputs.keys() - before:
                uri = getattr(inputs[entry][0], "uri", None)
                if isinstance(uri, str) and uri and uri not in watched.digested:
                    conn = getattr(context, "aws_conn_id", watched.aws_conn_id)
                    watched.digested[uri] = _digests_of(
                        uri, conn if isinstance(conn, str) else None
                    )
        except Exception as e:  # a digest never breaks the hook that reported the data
            log.warning("Could not digest hook-lineage input: %s: %s", type(e).__name__, e)

    add_input_asset._lineage_watch = True  # type: ignore[attr-defined]
    HookLineageCollector.add_input_asset = add_input_asset  # type: ignore[method-assign]


def _context(ti: Any) -> Mapping[str, Any]:
    try:
        return ti.get_template_context()  # type: ignore[no-any-return]
    except Exception:  # a missing context only costs extractors their input
        return {}


# -- the capture points ------------------------------------------------------------


def task_started(ti: Any) -> None:
    """Read and digest the try's inputs, and arm the completion hook (no store access,
    unless strict mode asks for an InProgress record before the step runs)."""
    began = time.perf_counter()
    task = ti.task
    _use_connection_of(ti)
    run = _task_run(ti)
    state = _Run(run=run, started=utcnow(), aws_conn_id=_aws_conn_id(task))
    state.signing_before = attestation.signing_seconds
    with _lock:
        _runs[_key(ti)] = state
    _arm(ti, state)
    try:
        _watch_hook_lineage(state)
        lineage = StepLineage(
            inputs=tuple(_asset_refs(task.inlets)),
            associated_from=(*_approvals(ti), *producing_actions(_context(ti), _store)),
        )
        extractor = extractor_for(task)
        if extractor is not None:
            lineage = lineage.merge(extractor.on_start(task, _context(ti)))
        # At the start only inputs count; outputs and metrics come with completion.
        lineage = dataclasses.replace(
            lineage,
            inputs=_with_digests(lineage.inputs, state.aws_conn_id, state.digested),
            outputs=(),
            metrics={},
        )
        state.start_lineage = lineage
        if config.strict():
            _record(run, lineage, ActionStatus.IN_PROGRESS, now=state.started, strict=True)
    except Exception as e:
        state.start_error = e
        log.warning("Lineage capture failed at the start of %s: %s", run.uri, e, exc_info=True)
    finally:
        state.spent += time.perf_counter() - began


def _settings_of(conn_id: str) -> dict[str, str | None]:
    """Return the lineage connection's store settings (looked up once per process)."""
    with _lock:
        settings = _settings.get(conn_id)
    if settings is None:
        from airflow_lineage.hooks.lineage import LineageHook

        settings = LineageHook(conn_id).store_settings()
        with _lock:
            _settings[conn_id] = settings
    return settings


def _place_from_settings() -> tuple[str, str]:
    """Return (account, region) from the lineage connection."""
    settings = _settings_of(_conn_id())
    return (settings.get("account") or DEFAULT_ACCOUNT, settings.get("region") or LOCAL_REGION)


def record_place() -> tuple[str, str]:
    """Return the (account, region) records are written in: the store's own, or, when the
    store cannot be opened, the lineage connection's."""
    try:
        target = _target(time.monotonic() + config.capture_timeout())
    except Exception:  # records still get built, for the outbox
        return _place_from_settings()
    return target.account, target.region


def action_arn(ti: Any) -> str:
    """Return the ARN of the action that records this try of the task instance."""
    account, region = record_place()
    return str(Arn(region, account, "action", _task_run(ti).action_name))


def _record(
    run: TaskRun,
    lineage: StepLineage,
    status: ActionStatus,
    *,
    strict: bool | None = None,
    **kwargs: Any,
) -> tuple[LineageRecord, str]:
    """Build the record of a try and deliver it, all within one capture deadline; return
    it and where it went (the relay, the store or the outbox)."""
    deadline = time.monotonic() + config.capture_timeout()
    unavailable: Exception | None = None
    try:
        target: _Target | None = _target(deadline)
    except Exception as e:  # the record is built anyway, for the outbox
        target, unavailable = None, e
    try:
        account, region = (target.account, target.region) if target else _place_from_settings()
    except Exception:  # not even the connection could be read: the outbox still takes it
        account, region = DEFAULT_ACCOUNT, LOCAL_REGION
    # The relay signs what it is handed (a warm process signs ten times faster).
    record = build_record(
        run,
        lineage,
        status,
        account=account,
        region=region,
        sign=not isinstance(target, _Relayed),
        **kwargs,
    )
    written = _deliver(record, target, deadline, strict, unavailable)
    where = (
        "the outbox"
        if not written
        else "the relay"
        if isinstance(target, _Relayed)
        else "the store"
    )
    return record, where


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


def _hook_inputs_so_far(state: _Run) -> tuple[list[DataRef], list[DataRef]]:
    """Return the hook-lineage inputs and outputs, inputs with their report-time digests."""
    hook_in, hook_out = _hook_lineage()
    return list(_with_digests(hook_in, state.aws_conn_id, state.digested)), hook_out


def task_completed(ti: Any, state: _Run, context: Mapping[str, Any], result: Any) -> None:
    """Record the try Completed with its inputs and outputs, then push the ARNs to XCom
    (before success is reported).

    :raises CaptureError: only in strict mode.
    """
    began = time.perf_counter()
    try:
        task = ti.task
        hook_in, hook_out = _hook_inputs_so_far(state)
        lineage = state.start_lineage.merge(
            StepLineage(inputs=tuple(hook_in), outputs=(*_asset_refs(task.outlets), *hook_out))
        )
        extractor = extractor_for(task)
        if extractor is not None:
            lineage = extractor.on_complete(task, context, result).merge(lineage)
        lineage = _finish(lineage, state)
    except Exception as e:
        log.warning("Lineage of %s could not be built: %s", state.run.uri, e, exc_info=True)
        if config.strict():
            raise CaptureError(f"lineage of {state.run.uri} could not be built: {e}") from e
        # The try still gets its record: what was known at start, and why the rest is not.
        lineage = dataclasses.replace(
            state.start_lineage,
            properties={
                **state.start_lineage.properties,
                "capture_error": f"{type(e).__name__}: {e}"[:2500],
            },
        )
    try:
        record, where = _record(
            state.run, lineage, ActionStatus.COMPLETED, now=utcnow(), started=state.started
        )
    except CaptureError:
        raise
    except Exception as e:  # building failed on a bad value: strict decides
        log.warning("Lineage of %s could not be built: %s", state.run.uri, e, exc_info=True)
        if config.strict():
            raise CaptureError(f"lineage of {state.run.uri} could not be built: {e}") from e
        return  # not completed: the success listener tries once more
    state.completed = True
    state.record = record
    try:
        if _wants_xcom(ti.task):
            ti.xcom_push(key=XCOM_KEY, value=record.xcom())
    except Exception as e:  # XCom is a convenience; the store has the record
        log.warning("Could not push lineage ARNs of %s to XCom: %s", state.run.uri, e)
    state.spent += time.perf_counter() - began
    log.info(
        "Lineage of this try went to %s: %s (%d inputs, %d outputs); capture took %.1f ms "
        "(signing %.2f ms)",
        where,
        record.action_arn,
        len(record.inputs),
        len(record.outputs),
        state.spent * 1000,
        (attestation.signing_seconds - state.signing_before) * 1000,
    )


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


def _finish(lineage: StepLineage, state: _Run | None) -> StepLineage:
    """Keep the digests inputs got when read; digest the rest, and outputs, now."""
    conn = state.aws_conn_id if state else DEFAULT_AWS_CONN_ID
    known = state.digested if state else None
    return dataclasses.replace(
        lineage,
        inputs=_with_digests(lineage.inputs, conn, known),
        outputs=_with_digests(lineage.outputs, conn),
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
    try:
        if state is not None:
            # What hooks read before the step ended was read by this try.
            hook_in, _ = _hook_inputs_so_far(state)
            lineage = lineage.merge(StepLineage(inputs=tuple(hook_in)))
        extractor = extractor_for(ti.task)
        if status is ActionStatus.FAILED and extractor is not None:
            failed = extractor.on_failure(ti.task, _context(ti), cause)
            lineage = _finish(failed.merge(lineage), state)
    except Exception as e:  # the try is recorded all the same, with what is known
        log.warning("Lineage of %s is incomplete: %s", run.uri, e, exc_info=True)
        lineage = dataclasses.replace(
            lineage,
            properties={**lineage.properties, "capture_error": f"{type(e).__name__}: {e}"[:2500]},
        )
    _record(
        run,
        lineage,
        status,
        now=utcnow(),
        started=state.started if state else None,
        error=error,
        strict=False,  # the task has already ended; nothing left to fail
    )


def task_failed(ti: Any, error: BaseException | str | None) -> None:
    """Record the try as Failed, with the error."""
    message = None if error is None else f"{type(error).__name__}: {error}"[:2500]
    _ended(ti, ActionStatus.FAILED, message, error)


def task_skipped(ti: Any) -> None:
    """Record the try as Stopped (the task skipped itself)."""
    _ended(ti, ActionStatus.STOPPED, None)


def reset() -> None:
    """Forget this process's open stores and cached settings (after a config change)."""
    with _lock:
        stores = list(_stores.values())
        _stores.clear()
        _settings.clear()
        _runs.clear()
        relays = list(_relays.values())
        _relays.clear()
    for client in relays:
        client.close()
    for store in stores:
        store.close()
    from airflow_lineage import verify

    verify._s3_clients.clear()
