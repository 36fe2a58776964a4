"""Compare a small upstream query of this package with another version's, on one machine.

Two runs of ``bench_query`` on different machines differ by the machines as much as by
the code. This benchmark alternates worker processes of two versions of the package on
the same 1M-entity SQLite store and the same start entities: each pass runs one worker of
each version (which goes first alternates), and each worker times the upstream-from-model
query (depth 10, with edges) through the store and through the boto3 client.

The other version reads a copy of the store at its own schema revision (migrated down
with this package's migrations). It needs the store and plan that ``bench_query`` cached
in ``bench/.data``::

    python -m bench.bench_query --sizes 1000000 --backends sqlite --cases up_model_d10
    mkdir /tmp/base && git archive <commit> airflow_lineage | tar -x -C /tmp/base
    python -m bench.bench_query_ab --against /tmp/base --against-commit <commit> \\
        --json bench/results/<date>-query-ab.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._common import DATA_DIR, REPO_DIR, dump_json, percentile
from bench.bench_query import _package_version, _read_through

CASE = "up_model_d10"
WARMUP = 5


def _worker(db: str, starts: list[str]) -> dict[str, Any]:
    """Time the case through the store and through the client (runs in a child)."""
    from airflow_lineage import LineageQuery, connect

    _read_through(Path(db))
    store = connect(f"sqlite:///{db}")
    client = store.as_boto3_client()

    def by_store(start: str) -> None:
        store.query(
            LineageQuery(
                start_arns=(start,), direction="Ascendants", max_depth=10, include_edges=True
            )
        )

    def by_client(start: str) -> None:
        client.query_lineage(
            StartArns=[start], Direction="Ascendants", MaxDepth=10, IncludeEdges=True
        )

    out: dict[str, Any] = {}
    for name, run in (("store", by_store), ("client", by_client)):
        for start in starts[:WARMUP]:
            run(start)
        times = []
        for start in starts:
            t0 = time.perf_counter()
            run(start)
            times.append((time.perf_counter() - t0) * 1000)
        out[name] = {"p50_ms": percentile(times, 50), "p95_ms": percentile(times, 95)}
    store.close()
    return out


def _revision(package_root: Path) -> str:
    """Return the schema revision the package under ``package_root`` needs."""
    code = "from airflow_lineage.store.schema import SCHEMA_REVISION; print(SCHEMA_REVISION)"
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    found = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=tempfile.gettempdir(),  # as in _run_worker
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()


def _downgrade(db: Path, revision: str) -> None:
    """Bring a copy of the store down to ``revision`` with this package's migrations."""
    import sqlalchemy as sa
    from alembic.command import downgrade

    from airflow_lineage.store.migrate import alembic_config

    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.begin() as conn:
        downgrade(alembic_config(conn), revision)
    engine.dispose()


def _run_worker(package_root: Path, db: Path, starts: list[str]) -> dict[str, Any]:
    """Run :func:`_worker` in a new process that imports the package at ``package_root``."""
    env = {**os.environ, "PYTHONPATH": f"{package_root}{os.pathsep}{REPO_DIR}"}
    code = (
        "import json, sys; from bench.bench_query_ab import _worker; "
        "print(json.dumps(_worker(sys.argv[1], json.load(sys.stdin))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(db)],
        input=json.dumps(starts),
        env=env,
        cwd=tempfile.gettempdir(),  # not the repository: its own package must not shadow
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"the worker of {package_root} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, required=True, help="the other package's root")
    parser.add_argument("--against-commit", required=True, help="the commit it was taken from")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--passes", type=int, default=6)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()

    db = DATA_DIR / f"sqlite-{args.size}-s42.db"
    plans = sorted(DATA_DIR.glob(f"plan-{args.size}-s42-*.json"))
    if not db.exists() or not plans:
        sys.exit(f"no cached {args.size} store and plan in {DATA_DIR}: run bench_query first")
    plan = json.loads(plans[-1].read_text())
    starts = next(c["starts"] for c in plan["cases"] if c["name"] == CASE)
    if not (args.against / "airflow_lineage").is_dir():
        sys.exit(f"{args.against} holds no airflow_lineage package")

    revision = _revision(args.against)
    with tempfile.TemporaryDirectory(dir=DATA_DIR) as tmp:
        other_db = Path(tmp) / "other.db"
        shutil.copyfile(db, other_db)
        _downgrade(other_db, revision)
        versions = {"this": (REPO_DIR, db), "other": (args.against, other_db)}
        passes: list[dict[str, Any]] = []
        for i in range(args.passes):
            order = ("this", "other") if i % 2 == 0 else ("other", "this")
            row = {name: _run_worker(*versions[name], starts) for name in order}
            passes.append(row)
            print(f"pass {i + 1}: " + json.dumps(row), file=sys.stderr)

    def median(version: str, via: str) -> float:
        return statistics.median(p[version][via]["p50_ms"] for p in passes)

    results = {
        "meta": {
            **_package_version(),
            "against_commit": args.against_commit,
            "against_revision": revision,
            "size": args.size,
            "case": CASE,
            "starts": len(starts),
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
        "passes": passes,
        "median_p50_ms": {
            version: {via: median(version, via) for via in ("store", "client")}
            for version in ("this", "other")
        },
    }
    dump_json(args.json, results)
    print(json.dumps(results["median_p50_ms"]))


if __name__ == "__main__":
    main()
