"""Capture cost in a fresh task process, part by part.

Every Airflow 3 task runs in a new process, so whatever capture costs once per process
(imports, the connection look-up, opening the store) is paid by every task. This
benchmark starts a new Python process per sample. Each one first imports what any task
process imports anyway (the Task SDK's task runner, the plugins manager, the hook-lineage
collector: Airflow's cost, not ours), builds a task with one inlet and one outlet Asset
(a file each), then times what capture adds, exactly as the task runner calls it:

- ``import package``: ``import airflow_lineage``, which Airflow does in every process
  through the provider info (not counted in ``total``, which is capture's own);
- ``import plugin``: importing the plugin module (the listener it registers);
- ``import capture``: importing the modules capture loads on its first call (runtime,
  the lineage hook, the SQL store, digests);
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

Run: ``python -m bench.bench_capture_process [--samples 30] [--store-url URL] [--json out]
[--against DIR]`` (``--against``: alternate with another version of the package, e.g.
``git archive <commit> airflow_lineage | tar -x -C DIR``)
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
    # Airflow imports our provider info, hence the package, in every process it starts
    # (with its config). Timed apart, after the libraries Airflow imports anyway.
    import pendulum  # noqa: F401
    import sqlalchemy  # noqa: F401

    t = time.perf_counter()
    import airflow_lineage

    package_ms = (time.perf_counter() - t) * 1000

    # What every task process has imported before any listener runs. On Linux the task
    # process is forked from its supervisor (supervisor.py, ``os.fork()``), so it starts
    # with the supervisor's modules loaded.
    import airflow.plugins_manager
    import airflow.sdk.execution_time.supervisor
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
    parts: dict[str, float] = {"import package (any Airflow process)": package_ms}

    t = time.perf_counter()
    import airflow_lineage.plugin  # noqa: F401
    from airflow_lineage.capture import listener

    parts["import plugin"] = (time.perf_counter() - t) * 1000
    # Airflow loads every plugin (ours is imported by now) to find listeners and hook
    # lineage readers in any task process: its cost, not capture's.
    from airflow.sdk.listener import get_listener_manager

    get_listener_manager()
    get_hook_lineage_collector()

    # The modules capture loads on its first call (timed here, not hidden, because the
    # sub-parts below are instrumented before the first call).
    t = time.perf_counter()
    import airflow_lineage.apispec as apispec
    import airflow_lineage.hooks.lineage as hooks
    import airflow_lineage.verify as verify
    from airflow_lineage.capture import runtime
    from airflow_lineage.store.sql import SqlStore

    parts["import capture"] = (time.perf_counter() - t) * 1000

    if hasattr(apispec, "service_model"):  # validation may parse botocore's model
        _timed(apispec, "service_model", "~botocore service model")
    _timed(hooks.LineageHook, "store_settings", "~connection look-up")
    _timed(hooks, "connect", "~open store")
    _timed(SqlStore, "write", "~store write")
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
    parts["total"] = sum(
        parts[k] for k in ("import plugin", "import capture", "start", "complete", "success")
    )
    parts.update(_SPANS)
    # Another change takes botocore's SageMaker model off the validation path; show what
    # capture costs without it too.
    botocore_ms = _SPANS.get("~botocore service model", 0.0)
    parts["start without botocore model"] = parts["start"] - botocore_ms
    parts["total without botocore model"] = parts["total"] - botocore_ms
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
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        help="a folder holding another version of the airflow_lineage package (e.g. from "
        "`git archive`); samples alternate between it and this checkout, so both see the "
        "same machine load",
    )
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

    from airflow_lineage.store import connect_admin, upgrade

    upgrade(url)  # create it now: task processes never migrate
    if not url.startswith("sqlite"):  # the account the tasks record as is a role
        with connect_admin(url) as admin:
            admin.provision_account_role("000000000000")  # type: ignore[attr-defined]
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__ML_LINEAGE__OUTBOX_DIR": str(home / "outbox"),
        "AIRFLOW_CONN_LINEAGE_DEFAULT": json.dumps({"conn_type": "lineage", "extra": {"url": url}}),
    }
    # A deployment runs from installed bytecode; without it every process would compile
    # our modules anew. One unmeasured sample per version writes the bytecode first.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    here = Path(__file__).resolve().parents[1]
    roots = {"this": here}
    if args.against is not None:
        other = args.against.resolve()
        (other / "bench").mkdir(exist_ok=True)
        for name in ("__init__.py", "bench_capture_process.py"):
            (other / "bench" / name).write_text((here / "bench" / name).read_text())
        roots["against"] = other
    samples: dict[str, list[dict[str, float]]] = {label: [] for label in roots}
    for i in range(-1, args.samples):
        for label, root in roots.items():
            # The package is found in the working directory first (before the editable
            # install's finder), so each root runs its own version of it.
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.bench_capture_process",
                    "--child",
                    str(data),
                    f"r{i}{label}",
                ],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=root,
            )
            if i >= 0:
                samples[label].append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{args.samples} fresh processes per version, store {url.split('://')[0]}")
    for label, runs in samples.items():
        print(f"\n{label}: {roots[label]}")
        print(f"{'part':40} {'median ms':>10} {'p95 ms':>10}")
        rows[label] = {}
        for name in dict.fromkeys(k for s in runs for k in s):
            values = [s.get(name, 0.0) for s in runs]
            rows[label][name] = {
                "median": statistics.median(values),
                "p95": _percentile(values, 0.95),
            }
            row = rows[label][name]
            print(f"{name:40} {row['median']:10.2f} {row['p95']:10.2f}")
    outbox = list((home / "outbox").glob("*.json")) if (home / "outbox").exists() else []
    print(f"outbox records left: {len(outbox)}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"samples": args.samples, "store": url.split("://")[0], "parts": rows}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
