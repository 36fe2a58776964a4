"""Airflow's own record of a DAG run, and starting a new one: what ``reproduce`` asks Airflow.

Lineage records which DAG run made a model; Airflow's metadata database keeps that
run's configuration, the DAG version it ran (Airflow 3's DAG versioning) and the bundle
version its code came from. Reading them needs Airflow and its database: the process
must be configured as an ``airflow`` command would be (``AIRFLOW_HOME``, the database
connection).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_lineage.exceptions import AirflowRunError

__all__ = ["AirflowRunError", "RunInfo", "run_info", "run_locally", "trigger", "wait"]

TERMINAL = ("success", "failed")


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What Airflow's metadata database says about one DAG run."""

    dag_id: str
    run_id: str
    state: str
    conf: dict[str, Any] = field(default_factory=dict)
    run_type: str | None = None
    logical_date: str | None = None
    bundle_name: str | None = None
    bundle_version: str | None = None
    dag_version: int | None = None
    dag_version_id: str | None = None
    fileloc: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the run as JSON-ready values."""
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "state": self.state,
            "conf": self.conf,
            "run_type": self.run_type,
            "logical_date": self.logical_date,
            "bundle_name": self.bundle_name,
            "bundle_version": self.bundle_version,
            "dag_version": self.dag_version,
            "dag_version_id": self.dag_version_id,
            "file": self.fileloc,
        }


def run_info(dag_id: str, run_id: str) -> RunInfo:
    """Return Airflow's record of a DAG run.

    :raises AirflowRunError: Airflow is not installed, its database cannot be read, or it
        has no such run.
    """
    try:
        from airflow.models.dag import DagModel
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from sqlalchemy import select
    except ImportError as e:
        raise AirflowRunError(f"Airflow is not installed here: {e}") from e
    try:
        with create_session() as session:
            dr = session.scalar(
                select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
            )
            if dr is None:
                raise AirflowRunError(f"Airflow has no run {run_id!r} of the DAG {dag_id!r}")
            version = dr.created_dag_version
            dag = session.get(DagModel, dag_id)
            return RunInfo(
                dag_id=dag_id,
                run_id=run_id,
                state=str(getattr(dr.state, "value", dr.state)),
                conf=dict(dr.conf or {}),
                run_type=str(getattr(dr.run_type, "value", dr.run_type)),
                logical_date=dr.logical_date.isoformat() if dr.logical_date else None,
                bundle_name=(version.bundle_name if version else None)
                or (dag.bundle_name if dag else None),
                bundle_version=dr.bundle_version or (version.bundle_version if version else None),
                dag_version=version.version_number if version else None,
                dag_version_id=str(version.id) if version else None,
                fileloc=dag.fileloc if dag else None,
            )
    except AirflowRunError:
        raise
    except Exception as e:  # the metadata database is foreign: translate once, here
        raise AirflowRunError(f"Airflow's database could not be read: {e}") from e


def trigger(dag_id: str, conf: dict[str, Any]) -> str:
    """Queue a new run of the DAG with ``conf`` for the scheduler; return its run id.

    :raises AirflowRunError: Airflow refused (no such DAG, a paused or broken one).
    """
    try:
        from airflow.api.common.trigger_dag import trigger_dag
        from airflow.utils.types import DagRunTriggeredByType

        dr = trigger_dag(dag_id, triggered_by=DagRunTriggeredByType.CLI, conf=conf)
    except Exception as e:  # Airflow's own errors: translate once, here
        raise AirflowRunError(f"Airflow did not start a run of {dag_id!r}: {e}") from e
    if dr is None:
        raise AirflowRunError(f"Airflow did not start a run of {dag_id!r}")
    return str(dr.run_id)


def wait(dag_id: str, run_id: str, timeout: float, poll: float = 2.0) -> str:
    """Wait until the run ends; return its state (``success`` or ``failed``).

    :raises AirflowRunError: it has not ended after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        state = run_info(dag_id, run_id).state
        if state in TERMINAL:
            return state
        if time.monotonic() >= deadline:
            raise AirflowRunError(
                f"run {run_id!r} of {dag_id!r} is still {state} after {timeout:g} s"
            )
        time.sleep(poll)


def run_locally(
    dag_id: str, conf: dict[str, Any], dag_file: str | None, bundle_name: str | None = None
) -> tuple[str, str]:
    """Run the DAG here, in this process, as ``airflow dags test`` does; return
    (run id, state).

    :param dag_file: the DAG's file (Airflow's ``fileloc``), parsed and serialised under
        ``bundle_name`` as the DAG processor would; None: found in the DAG bundles.
    :raises AirflowRunError: the DAG cannot be found or parsed.
    """
    with _stdout_to_stderr():
        try:
            if dag_file is None:
                from airflow.utils.cli import get_bagged_dag

                dag = get_bagged_dag(None, dag_id)
            else:
                dag = _parsed(dag_id, dag_file, bundle_name or "dags-folder")
        except AirflowRunError:
            raise
        except Exception as e:  # Airflow's own errors: translate once, here
            raise AirflowRunError(f"the DAG {dag_id!r} could not be loaded: {e}") from e
        dr = dag.test(run_conf=conf or None)
    if dr is None:
        raise AirflowRunError(f"the run of {dag_id!r} did not start")
    return str(dr.run_id), str(getattr(dr.state, "value", dr.state))


@contextlib.contextmanager
def _stdout_to_stderr() -> Iterator[None]:
    """Send what Airflow prints while it parses and runs a DAG to stderr, at the file
    descriptor (its loggers hold the stdout stream they started with): stdout carries
    the command's own output, JSON included."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _parsed(dag_id: str, dag_file: str, bundle_name: str) -> Any:
    """Parse a DAG file and serialise its DAG to the database, as the DAG processor does."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()  # type: ignore[no-untyped-call]
    bag = DagBag(dag_folder=dag_file, safe_mode=False)
    if dag_id not in bag.dags:
        errors = "; ".join(f"{k}: {v}" for k, v in bag.import_errors.items())
        raise AirflowRunError(
            f"{dag_file} holds no DAG {dag_id!r}{': ' + errors if errors else ''}"
        )
    sync_bag_to_db(bag, bundle_name, None)
    return bag.dags[dag_id]
