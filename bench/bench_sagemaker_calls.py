"""Count the SageMaker API calls of lineage queries on the SageMaker store.

The store runs against the test suite's fake SageMaker (a real botocore client behind a
Stubber, every request validated against SageMaker's API model) with SageMaker's own
page sizes: 50 vertices a QueryLineage page, repeated vertices across pages, no
throttling. Each query runs on a new store instance, as a new process would (no ARN
mapping cached). Cases: a chain of 26 entities queried at depth 25, and one action that
produced 500 artifacts queried downstream.

Usage: ``python -m bench.bench_sagemaker_calls --label after`` (writes or updates
``bench/results/sagemaker-calls.json`` under that label, with the commit and whether
the tree was clean).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from itertools import pairwise
from typing import Any

from bench._common import REPO_DIR, RESULTS_DIR

OUT = RESULTS_DIR / "sagemaker-calls.json"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_DIR, capture_output=True, text=True, check=True
    ).stdout.strip()


def _provenance() -> dict[str, Any]:
    """Return the commit measured and whether the tree was clean.

    ``BENCH_COMMIT`` names the commit of a tree exported with ``git archive`` (clean by
    construction, no ``.git``): how the "before" figures of older commits are taken.
    """
    import os

    exported = os.environ.get("BENCH_COMMIT")
    if exported:
        return {"commit": exported, "clean": True, "tree": "git archive of the commit"}
    return {"commit": _git("rev-parse", "HEAD"), "clean": _git("status", "--porcelain") == ""}


def _fake() -> Any:
    import boto3

    from tests.store.sagemaker_fake import FakeSageMaker

    client = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return FakeSageMaker(client, account="000000000000", region="local", page_size=50)


def _store(fake: Any) -> Any:
    from airflow_lineage.store.sagemaker import SageMakerStore

    return SageMakerStore(client=fake.client, account=fake.account, region=fake.region)


def _count(fake: Any, start: str, depth: int) -> tuple[dict[str, int], int]:
    """Run one whole query on a new store; return the calls by operation, and vertices."""
    from airflow_lineage import LineageQuery

    store = _store(fake)
    fake.calls.clear()
    result = store.query(LineageQuery(start_arns=[start], direction="Descendants", max_depth=depth))
    return dict(sorted(Counter(fake.calls).items())), len(result.vertices)


def chain(length: int = 26) -> tuple[Any, str]:
    """Write a chain artifact -> action -> artifact ... of ``length`` entities."""
    from airflow_lineage import Action, Artifact, Association

    fake = _fake()
    ents = [
        Artifact.new(f"s3://chain/{i}", "DataSet")
        if i % 2 == 0
        else Action.new(f"step-{i}", "Processing", "airflow://chain")
        for i in range(length)
    ]
    _store(fake).write(
        ents, [Association(a.arn, b.arn, "ContributedTo") for a, b in pairwise(ents)]
    )
    return fake, ents[0].arn


def fan_out(width: int = 500) -> tuple[Any, str]:
    """Write one action that produced ``width`` artifacts."""
    from airflow_lineage import Action, Artifact, Association

    fake = _fake()
    step = Action.new("train", "Training", "airflow://fan")
    outs = [Artifact.new(f"s3://fan/{i}", "Model") for i in range(width)]
    _store(fake).write([step, *outs], [Association(step.arn, o.arn, "Produced") for o in outs])
    return fake, step.arn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="e.g. before or after")
    args = parser.parse_args()
    cases = {}
    for name, build, depth in (("chain-depth-25", chain, 25), ("fan-out-500", fan_out, 10)):
        fake, start = build()
        calls, vertices = _count(fake, start, depth)
        cases[name] = {"vertices": vertices, "calls": sum(calls.values()), "by_operation": calls}
        total = sum(calls.values())
        print(f"{args.label:8} {name:16} {vertices:4} vertices {total:5} calls  {calls}")
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    results[args.label] = {**_provenance(), "cases": cases}
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
