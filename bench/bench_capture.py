"""Capture overhead per task: the same 50-task DAG with lineage capture on and off.

Each mode runs in a fresh process with its own AIRFLOW_HOME (Airflow caches plugins and
configuration per process). Every task reads one small file (an inlet) and writes one (an
outlet), so capture does its real work: two records per task, digests of both files. A
task's time is its duration as Airflow records it (start to end, which includes both
capture points). "Off" keeps the plugin installed with ``[lineage] enabled = False``.

Run: ``python -m bench.bench_capture [--tasks 50] [--rounds 2] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

DAG_TEMPLATE = """
from pathlib import Path
import pendulum
from airflow.sdk import DAG, Asset, task

DATA = Path({data!r})
with DAG("capture_overhead", start_date=pendulum.datetime(2026, 1, 1), schedule=None) as dag:
    previous = None
    for i in range({tasks}):
        @task(task_id=f"step_{{i:03d}}", inlets=[Asset((DATA / f"{{i}}.csv").as_uri())],
              outlets=[Asset((DATA / f"{{i + 1}}.csv").as_uri())])
        def step(i=i):
            (DATA / f"{{i + 1}}.csv").write_text((DATA / f"{{i}}.csv").read_text() + f"{{i}}\\n")
        t = step()
        if previous is not None:
            previous >> t
        previous = t
"""

RUNNER = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.utils import db
db.resetdb()
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags["capture_overhead"]
out = []
for _ in range(int(sys.argv[2])):
    dr = dag.test()
    assert dr.state == "success", dr.state
    for ti in dr.get_task_instances():
        out.append((ti.end_date - ti.start_date).total_seconds())
print(json.dumps(out))
"""


def run_mode(enabled: bool, tasks: int, rounds: int) -> list[float]:
    """Run the DAG ``rounds`` times in a fresh process; return every task's duration (s)."""
    home = Path(tempfile.mkdtemp(prefix="bench-capture-"))
    data = home / "data"
    data.mkdir()
    (data / "0.csv").write_text("seed\n")
    dags = home / "dags"
    dags.mkdir()
    (dags / "capture_overhead.py").write_text(
        textwrap.dedent(DAG_TEMPLATE.format(data=str(data), tasks=tasks))
    )
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__ML_LINEAGE__ENABLED": str(enabled),
    }
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(dags), str(rounds)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"benchmark run failed:\n{proc.stderr[-3000:]}")
    durations: list[float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return durations


def percentile(values: list[float], q: float) -> float:
    """Return the q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def main() -> None:
    """Run both modes and print median and p95 per task, and the difference."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2, help="DAG runs per process")
    parser.add_argument("--repeats", type=int, default=3, help="processes per mode")
    args = parser.parse_args()
    # Alternate the modes, a fresh process each time, so drift in the machine's load
    # falls on both alike.
    off: list[float] = []
    on: list[float] = []
    for _ in range(args.repeats):
        off += run_mode(False, args.tasks, args.rounds)
        on += run_mode(True, args.tasks, args.rounds)
    rows = []
    for label, values in (("capture off", off), ("capture on", on)):
        rows.append(
            (label, statistics.median(values) * 1e3, percentile(values, 95) * 1e3, len(values))
        )
    added_median = rows[1][1] - rows[0][1]
    added_p95 = rows[1][2] - rows[0][2]
    print(f"{'mode':<12} {'median ms':>10} {'p95 ms':>8} {'tasks':>6}")
    for label, med, p95, n in rows:
        print(f"{label:<12} {med:>10.2f} {p95:>8.2f} {n:>6}")
    print(f"added by capture: median {added_median:.2f} ms, p95 {added_p95:.2f} ms per task")
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "capture.json").write_text(
        json.dumps(
            {
                "tasks": args.tasks,
                "rounds": args.rounds,
                "repeats": args.repeats,
                "off": {"median_ms": rows[0][1], "p95_ms": rows[0][2]},
                "on": {"median_ms": rows[1][1], "p95_ms": rows[1][2]},
                "added_median_ms": added_median,
                "added_p95_ms": added_p95,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
