"""Deployment-gate latency on a large store, and digest recomputation memory.

Gate latency: the policy evaluation of ``airflow_lineage.gate.evaluate`` (one upstream
query with edges, the ancestors' attributes, the edges' accounts, every rule) for many
model packages of the generated 100k-entity store, digest recomputation excluded
(``verify_digests: false``, as the target asks). Digest memory: ``sha256_digest`` of
files of growing size, peak Python allocation (tracemalloc) — flat when streamed.

Run: ``python -m bench.bench_gate [--size 100000] [--models 200]``. The store is the one
``bench.bench_query`` builds (``bench/.data/sqlite-<size>-s42.db``); it is built here
when missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from bench._common import DATA_DIR, RESULTS_DIR, percentile

POLICY = {
    "required": [
        {"lineage_type": "Action", "type": "TrainingJob", "status": "Completed"},
        {"type": "DataSet"},
    ],
    "forbidden": [{"type": "DataSet", "properties": {"pii": "true"}}],
    "verify_digests": False,
    "max_depth": 50,
}


def store_url(size: int, seed: int = 42) -> str:
    """Return the benchmark store's URL, building the store when it is missing."""
    from airflow_lineage import connect
    from bench.generate import generate

    path = DATA_DIR / f"sqlite-{size}-s{seed}.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        graph = generate(size, seed)
        with connect(url, create=True) as store:
            for entities, associations in graph.batches():
                store.write(entities, associations)
    return url


def gate_latency(
    size: int, models: int, *, url: str | None = None, policy_fields: dict[str, Any] | None = None
) -> dict[str, float]:
    """Time the gate's evaluation on ``models`` model packages; return p50/p95 in ms.

    :param url: another store than the generated one of ``size`` (e.g. a signed copy).
    :param policy_fields: fields that replace :data:`POLICY`'s.
    """
    from airflow_lineage import connect
    from airflow_lineage.gate import evaluate
    from airflow_lineage.policy import Policy

    policy = Policy.from_dict({**POLICY, **(policy_fields or {})})
    with connect(url or store_url(size)) as store:
        packages = store.list_entities("Artifact", type="ModelPackage", max_results=models).items
        times, passed = [], 0
        for package in packages:
            evaluate(store, package.arn, policy)  # warm the page cache for this one
            start = time.perf_counter()
            verdict = evaluate(store, package.arn, policy)
            times.append((time.perf_counter() - start) * 1e3)
            passed += verdict.passed
            ancestors = verdict.ancestors
    return {
        "models": len(times),
        "passed": passed,
        "p50_ms": statistics.median(times),
        "p95_ms": percentile(times, 95),
        "ancestors_last": ancestors,
    }


def digest_memory() -> list[dict[str, float]]:
    """Return the peak Python allocation of digesting files of 1, 64 and 512 MiB."""
    from airflow_lineage.verify import sha256_digest

    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for mib in (1, 64, 512):
            path = Path(tmp) / f"{mib}.bin"
            with open(path, "wb") as fh:
                block = b"x" * (1 << 20)
                for _ in range(mib):
                    fh.write(block)
            tracemalloc.start()
            start = time.perf_counter()
            sha256_digest(path)
            seconds = time.perf_counter() - start
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            out.append({"file_mib": mib, "peak_alloc_mib": peak / 2**20, "seconds": seconds})
            path.unlink()
    return out


def main() -> None:
    """Run both measurements, print them and write bench/results/gate.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=200)
    args = parser.parse_args()
    latency = gate_latency(args.size, args.models)
    memory = digest_memory()
    print(
        f"gate on a {args.size:,}-entity store, {latency['models']} model packages "
        f"({latency['passed']} passed): p50 {latency['p50_ms']:.2f} ms, "
        f"p95 {latency['p95_ms']:.2f} ms (target p50 <= 50 ms)"
    )
    for row in memory:
        print(
            f"sha256 of {row['file_mib']:>4} MiB: peak allocation "
            f"{row['peak_alloc_mib']:.2f} MiB, {row['seconds']:.2f} s"
        )
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "gate.json").write_text(
        json.dumps({"size": args.size, "latency": latency, "digest_memory": memory}, indent=2)
        + "\n"
    )


if __name__ == "__main__":
    main()
