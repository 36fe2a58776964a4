"""A small real lineage store to fuzz against, and the check that fuzzing left it as it was."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from airflow_lineage import connect
from airflow_lineage.records import dumps

from ..conftest import create_store


@dataclass
class Seeded:
    """The store's URL, its file, and the ARNs of what it holds."""

    url: str
    path: Path
    arns: dict[str, str] = field(repr=False)
    before: list[str] = field(repr=False)
    """The store's export when seeded, one JSON line per record."""

    def data_version(self, conn: sqlite3.Connection) -> int:
        """Return SQLite's data version: it moves whenever another connection commits."""
        return int(conn.execute("PRAGMA data_version").fetchone()[0])

    def export(self) -> list[str]:
        """Return the store's records, sorted, one JSON line each."""
        with connect(self.url) as store:
            return sorted(dumps(e) for e in store.export())


def seed(url: str) -> dict[str, str]:
    """Write a small ML lineage graph: data → train → model → deploy → endpoint."""
    with connect(url) as store:
        data = store.create_artifact(
            "s3://bucket/raw/data.csv", "DataSet", properties={"pii": "no"}
        )
        model = store.create_artifact("s3://bucket/models/model.tar.gz", "Model")
        train = store.create_action("train-1", "Training", "airflow://dags/d/tasks/train")
        deploy = store.create_action("deploy-1", "ModelDeployment", "airflow://dags/d/tasks/deploy")
        endpoint = store.create_context("endpoint-1", "Endpoint", "arn:aws:sagemaker:endpoint/e")
        store.add_association(data.arn, train.arn, "ContributedTo")
        store.add_association(train.arn, model.arn, "Produced")
        store.add_association(model.arn, deploy.arn, "ContributedTo")
        store.add_association(deploy.arn, endpoint.arn, "AssociatedWith")
    return {
        "data": data.arn,
        "model": model.arn,
        "train": train.arn,
        "deploy": deploy.arn,
        "endpoint": endpoint.arn,
    }


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """Yield a seeded SQLite store; after the module, check that it never changed."""
    path = tmp_path_factory.mktemp("fuzz") / "lineage.db"
    url = create_store(f"sqlite:///{path}")
    arns = seed(url)
    s = Seeded(url, path, arns, [])
    s.before = s.export()
    yield s
    assert s.export() == s.before, "fuzzing changed the store"


@pytest.fixture(scope="module")
def watch(seeded: Seeded) -> Iterator[sqlite3.Connection]:
    """Yield a connection whose ``PRAGMA data_version`` tells whether anyone committed."""
    conn = sqlite3.connect(seeded.path)
    yield conn
    conn.close()
