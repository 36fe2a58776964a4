"""What our package costs a fresh Airflow task process: imports and the first record.

Every Airflow 3 task runs in a new process, so everything paid once per process is paid
once per task. Each run here is a new Python process that first imports what Airflow's
task runner imports anyway (``airflow.sdk.execution_time.task_runner``, which also loads
every provider's info, ours included), then times, in this order, what capture adds:

- ``in_airflow_import``: the modules of ours that Airflow imports while the task runner
  loads (its providers manager reads our provider info), timed where that happens;
- ``plugin``: ``import airflow_lineage.plugin`` (Airflow loads it to find our listener);
- ``capture_import``: ``import airflow_lineage.capture.runtime`` (the listener's first
  call imports it);
- ``first_record``: ``build_record`` of one task run with one input and one output
  artifact (the entities and associations of one record), the first in the process;
- ``next_record``: the same again (what every later record costs);
- ``store_open``, ``shared_check``, ``first_write`` and ``next_write`` (unless
  ``--no-store``): ``connect()`` to an existing store (a new SQLite file unless
  ``--store URL``), the one ``lineage_groups()`` query capture makes a process, writing
  the start record and then the completion record: the store's own costs.

Each case also lists the top-level packages it imported first (``botocore``,
``sqlalchemy``...). Figures are milliseconds, median and p95 over ``--runs`` processes
(after one untimed warm-up process that writes ``airflow.cfg`` and bytecode): wall clock,
and the process's CPU time, which other work on a shared machine inflates less.

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

OURS = ("in_airflow_import", "plugin", "capture_import", "first_record")
CASES = (
    "in_airflow_import",
    "plugin",
    "capture_import",
    "first_record",
    "next_record",
    "store_open",
    "shared_check",
    "first_write",
    "next_write",
)


class _OursTimer:
    """A meta path finder that times the outermost imports of our modules."""

    def __init__(self) -> None:
        self.ms = 0.0
        self.cpu_ms = 0.0
        self.modules: list[str] = []
        self._depth = 0

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name.split(".", 1)[0] != "airflow_lineage":
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = None if finder is self or find is None else find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        run = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            import time

            self._depth += 1
            t0, c0 = time.perf_counter(), time.process_time()
            try:
                run(module)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self.ms += (time.perf_counter() - t0) * 1000
                    self.cpu_ms += (time.process_time() - c0) * 1000
                    self.modules.append(name)

        spec.loader.exec_module = exec_module
        return spec


def _child(index: int, store_url: str | None) -> None:
    """Time the cases in this (fresh) process and print them as JSON on stdout."""
    import importlib
    import time

    timings: dict[str, tuple[float, float]] = {}  # wall ms, CPU ms
    new_modules: dict[str, list[str]] = {}

    def timed(name: str, step: Any) -> Any:
        before = set(sys.modules)
        t0, c0 = time.perf_counter(), time.process_time()
        result = step()
        timings[name] = ((time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000)
        roots = {m.split(".", 1)[0] for m in set(sys.modules) - before}
        known = {m.split(".", 1)[0] for m in before}
        new_modules[name] = sorted(roots - known)
        return result

    # Airflow itself imports part of our package while the task runner loads (its
    # providers manager reads our provider info): time those imports where they happen.
    ours = _OursTimer()
    sys.meta_path.insert(0, ours)
    t0, c0 = time.perf_counter(), time.process_time()
    importlib.import_module("airflow.sdk.execution_time.task_runner")
    timings["airflow"] = (
        (time.perf_counter() - t0) * 1000 - ours.ms,
        (time.process_time() - c0) * 1000 - ours.cpu_ms,
    )
    sys.meta_path.remove(ours)
    timings["in_airflow_import"] = (ours.ms, ours.cpu_ms)
    new_modules["in_airflow_import"] = ours.modules

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
        # capture.runtime asks once a process whether other accounts share lineage.
        timed("shared_check", store.lineage_groups)
        timed(
            "first_write",
            lambda: store.write(record.entities, record.associations, upsert=record.upsert),
        )
        done = one_record(ActionStatus.COMPLETED)
        timed(
            "next_write",
            lambda: store.write(done.entities, done.associations, upsert=done.upsert),
        )
        store.close()
    print(json.dumps({"timings": timings, "new_modules": new_modules}))


def _spawn(index: int, env: dict[str, str], store_url: str | None) -> dict[str, Any]:
    args = [sys.executable, "-m", "bench.bench_import", "--child", "--index", str(index)]
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
    parser.add_argument("--runs", type=int, default=30, help="fresh processes (>= 20)")
    parser.add_argument("--no-store", action="store_true", help="leave out the store cases")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument(
        "--store", help="store URL for the store cases (default: a new SQLite file)"
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--store-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.index, args.store_url)
        return {}

    with tempfile.TemporaryDirectory(prefix="bench-import-") as home:
        env = {
            **os.environ,
            "AIRFLOW_HOME": home,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        }
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # real task processes use cached bytecode
        store_url = None if args.no_store else args.store or f"sqlite:///{home}/lineage.db"
        if store_url:
            from airflow_lineage.store import upgrade

            upgrade(store_url)  # task processes never migrate: the store exists first
        _spawn(-1, env, store_url)  # warm-up: airflow.cfg, bytecode
        load = [loadavg()]
        runs = [_spawn(i, env, store_url) for i in range(args.runs)]
        load.append(loadavg())

    summary: dict[str, Any] = {"runs": args.runs, "loadavg": load, "cases": {}}

    def add(name: str, pairs: list[tuple[float, float]], modules: list[str]) -> None:
        wall, cpu = [p[0] for p in pairs], [p[1] for p in pairs]
        summary["cases"][name] = {
            "p50_ms": round(percentile(wall, 50), 2),
            "p95_ms": round(percentile(wall, 95), 2),
            "min_ms": round(min(wall), 2),
            "cpu_p50_ms": round(percentile(cpu, 50), 2),
            "cpu_p95_ms": round(percentile(cpu, 95), 2),
            "imports": modules,
        }

    add("airflow (not ours)", [r["timings"]["airflow"] for r in runs], [])
    for case in CASES:
        if case in runs[0]["timings"]:
            add(case, [r["timings"][case] for r in runs], runs[-1]["new_modules"][case])
    add(
        "ours: " + " + ".join(OURS),
        [
            (
                sum(r["timings"][c][0] for c in OURS),
                sum(r["timings"][c][1] for c in OURS),
            )
            for r in runs
        ],
        [],
    )

    print(f"{args.runs} fresh processes; load average {load[0]:.2f} -> {load[1]:.2f}")
    print(f"{'case':<20} {'p50':>8} {'p95':>8} {'min':>8} {'cpu p50':>8} {'cpu p95':>8}  (ms)")
    for name, res in summary["cases"].items():
        print(
            f"{name.split(':')[0]:<20} {res['p50_ms']:>8.2f} {res['p95_ms']:>8.2f} "
            f"{res['min_ms']:>8.2f} {res['cpu_p50_ms']:>8.2f} {res['cpu_p95_ms']:>8.2f}"
            + (f"  imports {', '.join(res['imports'])}" if res["imports"] else "")
        )
    print("ours = " + " + ".join(OURS))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
