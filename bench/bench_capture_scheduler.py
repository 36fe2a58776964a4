"""Capture overhead per task under Airflow's real scheduler: a fresh process per task.

One real deployment (tests/deployment/cluster.py: api-server, dag-processor, scheduler
with LocalExecutor, PostgreSQL metadata and a PostgreSQL lineage store through the
``lineage`` connection) runs two DAGs, each a chain of tasks:

- ``bench_plain``: plain ``@task``s with one inlet and one outlet Asset (local files);
- ``bench_steps``: ``@ml_step`` tasks with one input and one output.

Capture is turned off and on with our ``enabled`` option in the scheduler's environment
(the scheduler restarts between modes, so every task process inherits it). Modes
alternate, their order flipping every round, so drift in the machine's load falls on
both alike; runs go one at a time, so tasks do not compete with each other. A task's
time is its ``duration`` as Airflow records it (start to end, both capture points in it).
Capture also logs the time it took in each task ("capture took N ms"): those figures,
read from the task logs, do not depend on the two modes seeing the same machine load.

Run: ``python -m bench.bench_capture_scheduler [--tasks 5] [--runs 2] [--rounds 3]``.
Writes ``bench/results/capture-scheduler.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from bench._common import REPO_DIR, RESULTS_DIR, loadavg, percentile
from tests.deployment.cluster import Deployment, lineage_option

WARMUP = """
    import pendulum
    from airflow.sdk import DAG, task

    with DAG("bench_warmup", start_date=pendulum.datetime(2026, 1, 1), schedule=None,
             catchup=False) as dag:
        @task
        def warm():
            pass
        for i in range(6):
            warm.override(task_id=f"warm_{i}")()
"""
"""Run once after every scheduler start and not measured: the first task after a start
pays for the executor's workers starting (seconds, not milliseconds), and the first
records the lineage relay writes pay for its new database connection (the server's
catalog and plan caches, the driver's prepared statements). A deployment's scheduler
runs for days; the benchmark restarts it at every mode switch."""

DAGS = {
    "bench_plain": """
        from pathlib import Path
        import pendulum
        from airflow.sdk import DAG, Asset, chain, task

        DATA = Path({data!r}) / "plain"
        with DAG("bench_plain", start_date=pendulum.datetime(2026, 1, 1), schedule=None,
                 catchup=False) as dag:
            steps = []
            for i in range({tasks}):
                @task(task_id=f"step_{{i:02d}}", inlets=[Asset((DATA / f"{{i}}.csv").as_uri())],
                      outlets=[Asset((DATA / f"{{i + 1}}.csv").as_uri())])
                def step(i=i):
                    text = (DATA / f"{{i}}.csv").read_text()
                    (DATA / f"{{i + 1}}.csv").write_text(text + f"{{i}}\\n")
                steps.append(step())
            chain(*steps)
    """,
    "bench_steps": """
        from pathlib import Path
        import pendulum
        from airflow.sdk import DAG, chain
        from airflow_lineage.operators.steps import Data, ml_step

        DATA = Path({data!r}) / "steps"
        with DAG("bench_steps", start_date=pendulum.datetime(2026, 1, 1), schedule=None,
                 catchup=False) as dag:
            steps = []
            for i in range({tasks}):
                @ml_step(task_id=f"step_{{i:02d}}", step_type="DataPreparation",
                         inputs={{"data": Data((DATA / f"{{i}}.csv").as_uri())}},
                         outputs={{"data": Data((DATA / f"{{i + 1}}.csv").as_uri())}},
                         parameters={{"index": i}})
                def step(step):
                    text = step.inputs["data"].path.read_text()
                    step.outputs["data"].path.write_text(text + "row\\n")
                    step.log_metric("rows", text.count("\\n") + 1)
                steps.append(step())
            chain(*steps)
    """,
}


def _git(*args: str) -> str:
    out = subprocess.run(["git", *args], cwd=REPO_DIR, capture_output=True, text=True, check=False)
    return out.stdout.strip()


_TOOK = re.compile(r"capture took ([0-9.]+) ms")
_SIGNING = re.compile(r"\(signing ([0-9.]+) ms\)")


def _capture_times(
    home: Path, dag_id: str, run_id: str, pattern: re.Pattern[str] = _TOOK
) -> list[float]:
    """Return, in seconds, the time capture says it took in each task of a run (its log),
    or (``pattern=_SIGNING``) the part of it spent signing."""
    logs = home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}"
    found = [
        float(m.group(1)) / 1000
        for path in sorted(logs.glob("*/*.log"))
        for m in pattern.finditer(path.read_text(errors="replace"))
    ]
    if not found:
        raise SystemExit(f"no capture timing in the task logs under {logs}")
    return found


def _summary(values: list[float]) -> dict[str, float | int]:
    return {
        "median_ms": round(statistics.median(values) * 1e3, 1),
        "p95_ms": round(percentile(values, 95) * 1e3, 1),
        "n": len(values),
    }


def main() -> None:
    """Run both DAGs with capture off and on, alternating; print and save the figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=5, help="tasks in each DAG's chain")
    parser.add_argument("--runs", type=int, default=2, help="runs of each DAG per mode and round")
    parser.add_argument("--rounds", type=int, default=3, help="off/on alternations")
    parser.add_argument(
        "--store",
        choices=("postgres", "sqlite"),
        default="postgres",
        help="the lineage store: PostgreSQL through the lineage connection, or the "
        "embedded SQLite default under $AIRFLOW_HOME (no lineage connection)",
    )
    parser.add_argument(
        "--unsigned",
        action="store_true",
        help="capture without signing ([ml_lineage] attest = False), to measure what "
        "signing costs (compare the in-task times with a signed run's)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    suffix = ("" if args.store == "postgres" else f"-{args.store}") + (
        "-unsigned" if args.unsigned else ""
    )
    out = args.out or RESULTS_DIR / f"capture-scheduler{suffix}.json"

    work = Path(tempfile.mkdtemp(prefix="bench-capture-scheduler-"))
    data = work / "data"
    for sub in ("plain", "steps"):
        (data / sub).mkdir(parents=True)
        (data / sub / "0.csv").write_text("seed\n")
    files = []
    for dag_id, source in DAGS.items():
        path = work / f"{dag_id}.py"
        path.write_text(textwrap.dedent(source.format(data=str(data), tasks=args.tasks)))
        files.append(path)
    (work / "bench_warmup.py").write_text(textwrap.dedent(WARMUP))
    files.append(work / "bench_warmup.py")

    durations: dict[str, dict[str, list[float]]] = {d: {"off": [], "on": []} for d in DAGS}
    inside: dict[str, list[float]] = {d: [] for d in DAGS}
    signing: dict[str, list[float]] = {d: [] for d in DAGS}
    loads: list[float] = []
    t0 = time.monotonic()
    with Deployment(files, parallelism=4, lineage_store=args.store == "postgres") as deployment:
        print(f"deployment up in {deployment.timings['start_s']:.1f} s", flush=True)
        deployment.wait_for_dags([*DAGS, "bench_warmup"])
        for dag_id in [*DAGS, "bench_warmup"]:
            deployment.unpause(dag_id)
        for rnd in range(args.rounds):
            modes = ("off", "on") if rnd % 2 == 0 else ("on", "off")
            for mode in modes:
                enabled = "True" if mode == "on" else "False"
                deployment.restart_scheduler(
                    {
                        lineage_option("enabled"): enabled,
                        lineage_option("attest"): "False" if args.unsigned else "",
                    }
                )
                warmup = f"warmup-{mode}-{rnd}"
                deployment.trigger("bench_warmup", warmup)
                deployment.wait_for_runs("bench_warmup", [warmup], timeout=600)
                for i in range(args.runs):
                    for dag_id in DAGS:
                        run_id = f"{mode}-{rnd}-{i}"
                        deployment.trigger(dag_id, run_id)
                        states = deployment.wait_for_runs(dag_id, [run_id], timeout=600)
                        if states[run_id] != "success":
                            raise SystemExit(f"{dag_id} {run_id}: {states[run_id]}")
                        tis = deployment.task_instances(dag_id, run_id)
                        durations[dag_id][mode] += [float(t["duration"]) for t in tis]
                        if mode == "on":
                            inside[dag_id] += _capture_times(deployment.home, dag_id, run_id)
                            signing[dag_id] += _capture_times(
                                deployment.home, dag_id, run_id, _SIGNING
                            )
                        loads.append(loadavg())
                print(f"round {rnd + 1}/{args.rounds} capture {mode}: done", flush=True)
        # Capture really was off and on: no action from an "off" run, one per "on" task.
        from airflow_lineage import Action, connect

        url = (
            deployment.lineage_url
            if args.store == "postgres"
            else f"sqlite:///{deployment.home / 'lineage.db'}"
        )
        with connect(url) as store:
            runs = [
                e.properties.get("airflow:run_id", "")
                for e in store.export()
                if isinstance(e, Action)
            ]
    expected_on = len(DAGS) * args.tasks * args.runs * args.rounds
    recorded = {m: sum(r.startswith(f"{m}-") for r in runs) for m in ("off", "on")}
    if recorded != {"off": 0, "on": expected_on}:
        raise SystemExit(f"actions recorded {recorded}, expected off 0 and on {expected_on}")
    elapsed = time.monotonic() - t0
    shutil.rmtree(work, ignore_errors=True)

    results: dict[str, Any] = {
        "benchmark": "capture overhead per task under the real scheduler (LocalExecutor)",
        "commit": _git("rev-parse", "--short", "HEAD"),
        # Results files of other benchmarks do not make the code under test dirty.
        "clean": not _git("status", "--porcelain", "--", ".", ":!bench/results"),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_1m_median": round(statistics.median(loads), 2),
        },
        "config": {
            "tasks_per_dag": args.tasks,
            "runs_per_mode_and_round": args.runs,
            "rounds": args.rounds,
            "lineage_store": "PostgreSQL through the lineage connection"
            if args.store == "postgres"
            else "the embedded SQLite store under $AIRFLOW_HOME",
            "actions_recorded": recorded,
            "signed": not args.unsigned,
        },
        "elapsed_s": round(elapsed, 1),
    }
    print(f"\n{'dag':<12} {'mode':<5} {'median ms':>10} {'p95 ms':>8} {'tasks':>6}")
    for dag_id, modes_ in durations.items():
        off, on = _summary(modes_["off"]), _summary(modes_["on"])
        results[dag_id] = {
            "off": off,
            "on": on,
            "capture_in_task": _summary(inside[dag_id]),
            "signing_in_task": _summary(signing[dag_id]),
            "added_median_ms": round(float(on["median_ms"]) - float(off["median_ms"]), 1),
            "added_p95_ms": round(float(on["p95_ms"]) - float(off["p95_ms"]), 1),
        }
        for mode, s in (("off", off), ("on", on)):
            print(f"{dag_id:<12} {mode:<5} {s['median_ms']:>10} {s['p95_ms']:>8} {s['n']:>6}")
        print(
            f"{dag_id:<12} added: median {results[dag_id]['added_median_ms']} ms, "
            f"p95 {results[dag_id]['added_p95_ms']} ms; capture's own time in the task "
            f"(its log): median {results[dag_id]['capture_in_task']['median_ms']} ms, "
            f"p95 {results[dag_id]['capture_in_task']['p95_ms']} ms; of it signing: median "
            f"{results[dag_id]['signing_in_task']['median_ms']} ms"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {out} ({elapsed:.0f} s)")


if __name__ == "__main__":
    main()
