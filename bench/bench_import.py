"""What our package costs a fresh Airflow task process: imports and the first record.

Every Airflow 3 task runs in a new process, so everything paid once per process is paid
once per task. Each run here is a new Python process that first imports what Airflow's
task runner imports anyway (``airflow.sdk.execution_time.task_runner``, which also loads
every provider's info, ours included), then times, in this order, what capture adds:

- ``plugin``: ``import airflow_lineage.plugin`` (Airflow loads it to find our listener);
- ``capture_import``: ``import airflow_lineage.capture.runtime`` (the listener's first
  call imports it);
- ``first_record``: ``build_record`` of one task run with one input and one output
  artifact (the entities and associations of one record), the first in the process;
- ``next_record``: the same again (what every later record costs);
- ``store_open`` and ``first_write`` (unless ``--no-store``): ``connect()`` to an
  existing SQLite store and writing that record, the store's own per-process costs.

A separate fresh process times ``provider``: importing ``airflow_lineage.provider`` and
calling ``get_provider_info()`` with nothing else imported, which Airflow's configuration
module does in every Airflow process.

Each case also lists the top-level packages it imported first (``botocore``,
``sqlalchemy``...). Figures are wall-clock milliseconds, median and p95 over ``--runs``
processes (after one untimed warm-up process that writes ``airflow.cfg`` and bytecode).

Run: ``python -m bench.bench_import [--runs 30] [--no-store | --store URL] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench._common import loadavg, percentile

CASES = ("plugin", "capture_import", "first_record", "next_record", "store_open", "first_write")


def _child(mode: str, index: int, store_url: str | None) -> None:
    """Time the cases in this (fresh) process and print them as JSON on stdout."""
    import importlib
    import time

    timings: dict[str, float] = {}
    new_modules: dict[str, list[str]] = {}

    def timed(name: str, step: Any) -> Any:
        before = set(sys.modules)
        t0 = time.perf_counter()
        result = step()
        timings[name] = (time.perf_counter() - t0) * 1000
        roots = {m.split(".", 1)[0] for m in set(sys.modules) - before}
        known = {m.split(".", 1)[0] for m in before}
        new_modules[name] = sorted(roots - known)
        return result

    if mode == "provider":
        provider = timed("provider", lambda: importlib.import_module("airflow_lineage.provider"))
        timed("provider_info", provider.get_provider_info)
        print(json.dumps({"timings": timings, "new_modules": new_modules}))
        return

    t0 = time.perf_counter()
    importlib.import_module("airflow.sdk.execution_time.task_runner")
    airflow_ms = (time.perf_counter() - t0) * 1000

    timed("plugin", lambda: importlib.import_module("airflow_lineage.plugin"))
    timed("capture_import", lambda: importlib.import_module("airflow_lineage.capture.runtime"))

    from datetime import UTC, datetime

    from airflow_lineage.capture.lineage import DataRef, StepLineage
    from airflow_lineage.capture.record import TaskRun, build_record
    from airflow_lineage.model import ActionStatus

    def one_record(status: ActionStatus) -> Any:
        # Everything a capture point builds: the run, the data references (a digest
        # each) and the record's entities and associations.
        run_id = f"manual__2026-11-30T00:00:00+00:00-{index}"
        run = TaskRun("bench_dag", "step", run_id, operator="airflow.sdk.PythonOperator")
        digest = ("Custom", "sha256:" + "ab" * 32)
        lineage = StepLineage(
            inputs=(DataRef("file:///data/in.csv", digests=(digest,)),),
            outputs=(DataRef("file:///data/out.csv", digests=(digest,)),),
        )
        return build_record(run, lineage, status, now=datetime.now(UTC))

    record = timed("first_record", lambda: one_record(ActionStatus.IN_PROGRESS))
    timed("next_record", lambda: one_record(ActionStatus.COMPLETED))
    if store_url:
        from airflow_lineage.store import connect

        store = timed("store_open", lambda: connect(store_url))
        timed(
            "first_write",
            lambda: store.write(record.entities, record.associations, upsert=record.upsert),
        )
        store.close()
    print(json.dumps({"timings": timings, "new_modules": new_modules, "airflow_ms": airflow_ms}))


def _spawn(mode: str, index: int, env: dict[str, str], store_url: str | None) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.bench_import", "--child", mode, "--index", str(index)]
    if store_url:
        args += ["--store-url", store_url]
    proc = subprocess.run(
        args, env=env, capture_output=True, text=True, check=False, cwd=Path(__file__).parent.parent
    )
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark process failed:\n{proc.stderr[-4000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print and return the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="fresh processes per mode (>= 20)")
    parser.add_argument("--no-store", action="store_true", help="leave out the store cases")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--store", help="store URL for the store cases (default: a new SQLite file)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--store-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.index, args.store_url)
        return {}

    home = tempfile.mkdtemp(prefix="bench-import-")
    env = {
        **os.environ,
        "AIRFLOW_HOME": home,
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # real task processes use cached bytecode
    store_url = None if args.no_store else args.store or f"sqlite:///{home}/lineage.db"
    _spawn("task", -1, env, store_url)  # warm-up: airflow.cfg, bytecode, store migrated
    _spawn("provider", -1, env, None)
    load = [loadavg()]
    runs: list[dict[str, Any]] = []
    providers: list[dict[str, Any]] = []
    for i in range(args.runs):
        runs.append(_spawn("task", i, env, store_url))
        providers.append(_spawn("provider", i, env, None))
    load.append(loadavg())

    summary: dict[str, Any] = {"runs": args.runs, "loadavg": load, "cases": {}}

    def add(name: str, values: list[float], modules: list[str]) -> None:
        summary["cases"][name] = {
            "p50_ms": round(percentile(values, 50), 2),
            "p95_ms": round(percentile(values, 95), 2),
            "min_ms": round(min(values), 2),
            "imports": modules,
        }

    add("airflow task runner (not ours)", [r["airflow_ms"] for r in runs], [])
    for case in ("provider", "provider_info"):
        add(case, [p["timings"][case] for p in providers], providers[-1]["new_modules"][case])
    for case in CASES:
        if case in runs[0]["timings"]:
            add(case, [r["timings"][case] for r in runs], runs[-1]["new_modules"][case])
    ours = [
        r["timings"]["plugin"] + r["timings"]["capture_import"] + r["timings"]["first_record"]
        for r in runs
    ]
    add("plugin + capture_import + first_record", ours, [])

    print(f"{args.runs} fresh processes a mode; load average {load[0]:.2f} -> {load[1]:.2f}")
    print(f"{'case':<40} {'p50 ms':>9} {'p95 ms':>9} {'min ms':>9}  first imported")
    for name, res in summary["cases"].items():
        mods = ", ".join(res["imports"]) or "-"
        print(
            f"{name:<40} {res['p50_ms']:>9.2f} {res['p95_ms']:>9.2f} {res['min_ms']:>9.2f}  {mods}"
        )
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
