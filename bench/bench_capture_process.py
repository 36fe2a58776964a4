"""Capture cost in a fresh task process, part by part.

Every Airflow 3 task runs in a new process, so whatever capture costs once per process
(imports, the connection look-up, opening the store) is paid by every task. This
benchmark starts a new Python process per sample. Each one first imports what any task
process imports anyway (the Task SDK's task runner, the plugins manager, the hook-lineage
collector: Airflow's cost, not ours), builds a task with one inlet and one outlet Asset
(a file each), then times what capture adds, exactly as the task runner calls it:

- ``import``: importing the plugin module (the listener it registers);
- ``start``: ``on_task_instance_running`` (before ``execute``);
- ``complete``: the post-execute hook capture installs (runs before success is reported);
- ``success``: ``on_task_instance_success`` (the listener's fallback; should do nothing);
- ``total``: the sum, i.e. what capture adds to the task process.

Inside those, the calls to the lineage connection look-up, opening the store, store
writes, digests and the shared-lineage check are timed separately (``~``-prefixed parts;
they overlap the parts above). The store is reached through a ``lineage_default``
connection given as ``AIRFLOW_CONN_LINEAGE_DEFAULT`` (a real worker asks the API server
for it instead, which costs one more round trip), and is created (migrated) before the
samples run.

Run: ``python -m bench.bench_capture_process [--samples 30] [--store-url URL] [--json out]``
(default store: a new SQLite file; for PostgreSQL pass e.g.
``--store-url postgresql+psycopg://postgres@127.0.0.1:5432/test``).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_SPANS: dict[str, float] = {}


def _timed(owner: Any, name: str, label: str) -> None:
    """Wrap ``owner.name`` so its calls add their duration to ``_SPANS[label]``."""
    original: Callable[..., Any] = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            _SPANS[label] = _SPANS.get(label, 0.0) + (time.perf_counter() - t) * 1000

    setattr(owner, name, wrapper)


class _TaskInstance:
    """The attributes of the Task SDK's ``RuntimeTaskInstance`` that capture reads."""

    def __init__(self, task: Any, run_id: str) -> None:
        self.task = task
        self.dag_id = task.dag_id
        self.task_id = task.task_id
        self.run_id = run_id
        self.try_number = 1
        self.map_index = -1
        self.xcoms: dict[str, Any] = {}

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value") -> Any:
        return None

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value

    def get_template_context(self) -> dict[str, Any]:
        return {"ti": self, "task": self.task, "run_id": self.run_id}


def child(data: Path, run_id: str) -> dict[str, float]:
    """Run one task's capture in this (fresh) process and return each part's milliseconds."""
    # What every task process imports anyway, before any listener runs.
    import airflow.plugins_manager
    import airflow.sdk.execution_time.task_runner  # noqa: F401
    from airflow.providers.standard.operators.python import PythonOperator
    from airflow.sdk import DAG, Asset
    from airflow.sdk.lineage import get_hook_lineage_collector

    source, target = data / "in.csv", data / "out.csv"

    def step() -> None:
        target.write_text(source.read_text() + "1\n")

    with DAG("capture_process", schedule=None):
        task = PythonOperator(
            task_id="step",
            python_callable=step,
            inlets=[Asset(source.as_uri())],
            outlets=[Asset(target.as_uri())],
        )
    ti = _TaskInstance(task, run_id)
    parts: dict[str, float] = {}

    t = time.perf_counter()
    import airflow_lineage.plugin  # noqa: F401
    from airflow_lineage.capture import listener

    parts["import"] = (time.perf_counter() - t) * 1000
    # Airflow loads every plugin (ours is imported by now) to find listeners and hook
    # lineage readers in any task process: its cost, not capture's.
    from airflow.sdk.listener import get_listener_manager

    get_listener_manager()
    get_hook_lineage_collector()

    # Instrument the sub-parts (only those that exist in this version of the code).
    import airflow_lineage.apispec as apispec
    import airflow_lineage.hooks.lineage as hooks
    import airflow_lineage.verify as verify

    if hasattr(apispec, "service_model"):  # validation may parse botocore's model
        _timed(apispec, "service_model", "~botocore service model")
    _timed(hooks.LineageHook, "store_settings", "~connection look-up")
    _timed(hooks, "connect", "~open store")
    from airflow_lineage.store.sql import SqlStore

    _timed(SqlStore, "write", "~store write")
    from airflow_lineage.capture import runtime

    for name, label in (
        ("digest_local", "~digests"),
        ("_with_shared_copies", "~shared-lineage check"),
    ):
        if hasattr(runtime, name):
            _timed(runtime, name, label)
    if hasattr(verify, "digest_local") and not hasattr(runtime, "digest_local"):
        _timed(verify, "digest_local", "~digests")

    t = time.perf_counter()
    listener.on_task_instance_running(None, ti)
    parts["start"] = (time.perf_counter() - t) * 1000

    context = ti.get_template_context()
    if task._pre_execute_hook is not None:
        task._pre_execute_hook(context)
    result = task.execute(context)
    t = time.perf_counter()
    if task._post_execute_hook is not None:
        task._post_execute_hook(context, result)
    parts["complete"] = (time.perf_counter() - t) * 1000

    t = time.perf_counter()
    listener.on_task_instance_success(None, ti)
    parts["success"] = (time.perf_counter() - t) * 1000
    parts["total"] = parts["import"] + parts["start"] + parts["complete"] + parts["success"]
    parts.update(_SPANS)
    parts["modules: boto3/botocore/amazon"] = float(
        sum(m in sys.modules for m in ("boto3", "botocore", "airflow.providers.amazon"))
    )
    return parts


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def main(argv: list[str] | None = None) -> int:
    """Run the samples and print the median and p95 of every part."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--store-url", default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--child", nargs=2, metavar=("DATA", "RUN_ID"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(Path(args.child[0]), args.child[1])))
        return 0

    home = Path(tempfile.mkdtemp(prefix="bench-capture-process-"))
    data = home / "data"
    data.mkdir()
    (data / "in.csv").write_text("a\n0\n")
    url = args.store_url or f"sqlite:///{home / 'lineage.db'}"
    from airflow_lineage import connect

    connect(url).close()  # create the schema now: task processes do not migrate
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__LINEAGE__OUTBOX_DIR": str(home / "outbox"),
        "AIRFLOW_CONN_LINEAGE_DEFAULT": json.dumps({"conn_type": "lineage", "extra": {"url": url}}),
    }
    samples: list[dict[str, float]] = []
    for i in range(args.samples):
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_capture_process", "--child", str(data), f"r{i}"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        samples.append(json.loads(out.stdout.strip().splitlines()[-1]))
    names = list(dict.fromkeys(k for s in samples for k in s))
    rows = {}
    print(f"{args.samples} fresh processes, store {url.split('://')[0]}")
    print(f"{'part':34} {'median ms':>10} {'p95 ms':>10}")
    for name in names:
        values = [s.get(name, 0.0) for s in samples]
        rows[name] = {
            "median": statistics.median(values),
            "p95": _percentile(values, 0.95),
        }
        print(f"{name:34} {rows[name]['median']:10.2f} {rows[name]['p95']:10.2f}")
    outbox = list((home / "outbox").glob("*.json")) if (home / "outbox").exists() else []
    print(f"outbox records left: {len(outbox)}")
    if args.json:
        args.json.write_text(json.dumps({"samples": args.samples, "parts": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
