"""Fixtures for signed provenance: a fresh deployment key per test, honest lineage."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airflow_lineage import config
from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.record import TaskRun, build_record
from airflow_lineage.model import ActionStatus, SourceType
from airflow_lineage.provenance import keys
from airflow_lineage.store.base import LineageStore


def _clear() -> None:
    for fn in (config.attest, config.signing_key_file, config.trusted_keys, config.builder_id,
               config.signing_conn_id, keys.deployment_key, keys.trusted_keys):  # fmt: skip
        fn.cache_clear()


@pytest.fixture(autouse=True)
def signing_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Give each test its own deployment key file (created on first use)."""
    path = tmp_path / "keys" / "lineage-signing-key.pem"
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__SIGNING_KEY_FILE", str(path))
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__SIGNING_CONN_ID", "lineage_signing_absent")
    _clear()
    yield path
    _clear()


def sha(text: str) -> SourceType:
    """Return a Custom sha256 digest of ``text``."""
    return SourceType("Custom", f"sha256:{hashlib.sha256(text.encode()).hexdigest()}")


T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RAW = DataRef("file:///data/raw.csv", "DataSet", (sha("raw"),))
FEATURES = DataRef("file:///data/features.csv", "DataSet", (sha("features"),))
MODEL = DataRef("file:///models/model.pkl", "Model", (sha("model"),))


def run_step(
    store: LineageStore, task: str, inputs: tuple[DataRef, ...], outputs: tuple[DataRef, ...],
    *, minute: int, step_type: str = "Processing", **params: str,
) -> str:  # fmt: skip
    """Record one step as capture does (start, then completion); return its action ARN."""
    run = TaskRun("pipe", task, "run1", try_number=1, operator="x.PythonOperator")
    lineage = StepLineage(step_type=step_type, inputs=inputs, outputs=outputs, parameters=params)
    start = T0 + timedelta(minutes=minute)
    record = None
    for status, now in ((ActionStatus.IN_PROGRESS, start),
                        (ActionStatus.COMPLETED, start + timedelta(seconds=30))):  # fmt: skip
        record = build_record(
            run, lineage, status, now=now, started=start,
            account=store.account, region=store.region,
        )  # fmt: skip
        store.write(record.entities, record.associations, upsert=record.upsert,
                    attestations=record.attestations)  # fmt: skip
    assert record is not None and record.attestations, "capture signed the step"
    return record.action_arn


def honest_pipeline(store: LineageStore) -> dict[str, str]:
    """Record raw -> prepare -> features -> train -> model; return the ARNs by name."""
    prepare = run_step(store, "prepare", (RAW,), (FEATURES,), minute=0)
    train = run_step(store, "train", (FEATURES,), (MODEL,), minute=5, step_type="Training",
                     max_depth="3")  # fmt: skip
    (model,) = store.list_entities("Artifact", source_uri=MODEL.uri).items
    (features,) = store.list_entities("Artifact", source_uri=FEATURES.uri).items
    (raw,) = store.list_entities("Artifact", source_uri=RAW.uri).items
    return {"prepare": prepare, "train": train, "model": model.arn,
            "features": features.arn, "raw": raw.arn}  # fmt: skip
