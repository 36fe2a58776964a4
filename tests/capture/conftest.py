"""Fixtures for tests that run Airflow for real (``dag.test()`` against a fresh DB)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create Airflow's metadata database once per test session."""
    pytest.importorskip("airflow", reason="Airflow is not installed")
    from airflow.utils import db

    db.resetdb()


def reset_lineage_settings() -> None:
    """Make the next capture read the configuration again (it is cached per process)."""
    from airflow_lineage import config
    from airflow_lineage.capture import runtime
    from airflow_lineage.provenance import keys

    for fn in (*vars(config).values(), keys.deployment_key, keys.trusted_keys):
        if hasattr(fn, "cache_clear"):
            fn.cache_clear()
    runtime.reset()


@pytest.fixture
def lineage_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the embedded store and the outbox at a fresh folder for one test."""
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__STORE_URL", f"sqlite:///{tmp_path / 'lineage.db'}")
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("ML_PIPELINE_DIR", str(tmp_path / "ml"))
    reset_lineage_settings()
    yield tmp_path
    monkeypatch.undo()
    reset_lineage_settings()


@pytest.fixture
def run_dag(airflow_db: None) -> Callable[..., Any]:
    """Return a function that runs a DAG object for real with ``dag.test()``.

    The DAG is parsed into a DagBag and serialised first, as the scheduler would.
    """

    def _run(dag: Any, **kwargs: Any) -> Any:
        from airflow.dag_processing.bundles.manager import DagBundlesManager
        from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

        DagBundlesManager().sync_bundles_to_db()
        bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"], collect_dags=False)
        bag.bag_dag(dag)
        sync_bag_to_db(bag, "dags-folder", None)
        return dag.test(**kwargs)

    return _run


@pytest.fixture
def load_dag() -> Callable[[Path, str], Any]:
    """Return a function that imports a DAG file and returns the named DAG."""

    def _load(path: Path, dag_id: str) -> Any:
        from airflow.dag_processing.dagbag import DagBag

        bag = DagBag(dag_folder=str(path), safe_mode=False)
        assert not bag.import_errors, bag.import_errors
        return bag.dags[dag_id]

    return _load
