"""Cost of signed provenance: signing per captured step, and the gate's added cost.

Signing: ``build_record`` of a typical step (one input and one output with digests,
three parameters) with ``[ml_lineage] attest`` on and off, in one process, the key
loaded once (as in a task process after its first record). A step writes two records
(start and completion), so the cost per step is twice the cost per record.

Gate: ``gate.evaluate`` on model packages of the generated 100k-entity store
(``bench.bench_gate``'s), with ``require_signed`` off and on, every action of the store
signed first (a copy of the store; the statements are built from its edges as capture
builds them). Digests are not recomputed (``verify_digests: false``), as in bench_gate.

Run: ``python -m bench.bench_attest [--records 2000] [--size 100000] [--models 100]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench._common import DATA_DIR, RESULTS_DIR, percentile


def _clear() -> None:
    from airflow_lineage import config
    from airflow_lineage.provenance import keys

    for fn in (config.attest, keys.deployment_key, keys.trusted_keys, config.signing_key_file):
        fn.cache_clear()


def signing_cost(records: int) -> dict[str, float]:
    """Time build_record with signing on and off; return µs per record and ms per step."""
    from airflow_lineage.capture.lineage import DataRef, StepLineage
    from airflow_lineage.capture.record import TaskRun, build_record
    from airflow_lineage.model import ActionStatus, SourceType

    digest = SourceType("Custom", "sha256:" + "ab" * 32)
    lineage = StepLineage(
        step_type="Training",
        inputs=(DataRef("file:///data/features.csv", "DataSet", (digest,)),),
        outputs=(DataRef("file:///models/model.pkl", "Model", (digest,)),),
        parameters={"max_depth": "3", "n_estimators": "100", "seed": "42"},
    )
    now = datetime(2026, 12, 1, tzinfo=UTC)

    def one_round(n: int) -> list[float]:
        times = []
        for i in range(n):
            run = TaskRun("bench", f"task_{i}", "run1", operator="x.PythonOperator")
            start = time.perf_counter()
            build_record(run, lineage, ActionStatus.COMPLETED, now=now + timedelta(seconds=i))
            times.append((time.perf_counter() - start) * 1e6)
        return times

    out: dict[str, float] = {}
    for mode in ("False", "True"):
        os.environ["AIRFLOW__ML_LINEAGE__ATTEST"] = mode
        _clear()
        first = time.perf_counter()
        one_round(1)  # loads (or generates) the key once, as a task's first record does
        out[f"first_record_ms_attest_{mode.lower()}"] = (time.perf_counter() - first) * 1e3
        times = one_round(records)
        out[f"record_us_p50_attest_{mode.lower()}"] = statistics.median(times)
        out[f"record_us_p95_attest_{mode.lower()}"] = percentile(times, 95)
    added = out["record_us_p50_attest_true"] - out["record_us_p50_attest_false"]
    out["signing_us_per_record_p50"] = added
    out["signing_ms_per_step_p50"] = 2 * added / 1e3
    out["records"] = records
    return out


def _signed_copy(size: int) -> str:
    """Return the URL of a copy of the benchmark store with every action signed."""
    from airflow_lineage import connect
    from airflow_lineage.model import Action, Artifact, Association
    from airflow_lineage.provenance import dsse, keys
    from airflow_lineage.provenance.attestation import Attestation, builder_id
    from airflow_lineage.provenance.statement import build_statement, canonical
    from bench.bench_gate import store_url

    source = Path(store_url(size).removeprefix("sqlite:///"))
    copy = DATA_DIR / f"signed-{source.name}"
    url = f"sqlite:///{copy}"
    if copy.exists():
        return url
    shutil.copy(source, copy)
    key = keys.deployment_key()
    with connect(url) as store:
        entities, into, out_of = {}, defaultdict(list), defaultdict(list)
        for item in store.export():
            if isinstance(item, Association):
                into[item.destination_arn].append(item.source_arn)
                out_of[item.source_arn].append(item.destination_arn)
            else:
                entities[item.arn] = item
        batch = []
        for arn, action in entities.items():
            if not isinstance(action, Action):
                continue
            outs = [entities[d] for d in out_of[arn]]
            statement = build_statement(
                action,
                [entities[s] for s in into[arn]],
                [o for o in outs if isinstance(o, Artifact)],
                [o for o in outs if not isinstance(o, Artifact)],
                builder_id=builder_id(key.keyid),
            )
            envelope = dsse.sign(canonical(statement), key).to_json()
            batch.append(Attestation(arn, envelope, action.modified or action.created))
        for i in range(0, len(batch), 5000):
            store.write(attestations=batch[i : i + 5000])
    return url


def gate_cost(size: int, models: int) -> dict[str, Any]:
    """Time the gate with require_signed off and on, alternating per model so that the
    load of a shared machine falls on both alike; also time the signature check alone
    (reading the envelopes of the walked actions and checking them)."""
    from airflow_lineage import connect
    from airflow_lineage.gate import _signed, evaluate
    from airflow_lineage.model import Direction
    from airflow_lineage.policy import Policy
    from airflow_lineage.query import LineageQuery
    from bench.bench_gate import POLICY

    url = _signed_copy(size)
    policies = {
        name: Policy.from_dict({**POLICY, "require_signed": name == "signed"})
        for name in ("unsigned", "signed")
    }
    times: dict[str, list[float]] = {"unsigned": [], "signed": [], "check_only": []}
    with connect(url) as store:
        packages = store.list_entities("Artifact", type="ModelPackage", max_results=models).items
        for package in packages:
            for name, policy in policies.items():
                evaluate(store, package.arn, policy)  # warm the page cache for this one
                start = time.perf_counter()
                evaluate(store, package.arn, policy)
                times[name].append((time.perf_counter() - start) * 1e3)
            walk = store.query(
                LineageQuery(
                    start_arns=(package.arn,),
                    direction=Direction.ASCENDANTS,
                    include_edges=True,
                    max_depth=POLICY["max_depth"],
                )
            )
            walked = store.get_many([package.arn, *(v.arn for v in walk.vertices)])
            edges = store.associations_among(list(walked))
            start = time.perf_counter()
            _signed(store, walked, edges, None)
            times["check_only"].append((time.perf_counter() - start) * 1e3)
    out: dict[str, Any] = {"size": size, "models": len(packages)}
    for name, values in times.items():
        out[name] = {"p50_ms": statistics.median(values), "p95_ms": percentile(values, 95)}
    out["added_p50_ms"] = out["signed"]["p50_ms"] - out["unsigned"]["p50_ms"]
    return out


def main() -> None:
    """Run both measurements and write bench/results/attest.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=2000)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--models", type=int, default=100)
    args = parser.parse_args()
    # The signed copy of the store is kept: so is the key that signed it.
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    os.environ["AIRFLOW__ML_LINEAGE__SIGNING_KEY_FILE"] = str(DATA_DIR / "bench-signing-key.pem")
    os.environ["AIRFLOW__ML_LINEAGE__SIGNING_CONN_ID"] = "bench_no_such_connection"
    result = {"signing": signing_cost(args.records), "gate": gate_cost(args.size, args.models)}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (RESULTS_DIR / "attest.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
