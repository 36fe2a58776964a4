"""Fixtures for the UI tests: Airflow's API app with a real auth manager and real JWTs."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, PG_URL, require_postgres
from tests.ui.auth import DENIED_ENV

USERS = {
    "admin": "ADMIN",
    "viewer": "VIEWER",
    "outsider": "VIEWER",  # denied the DAG "producer"
    "stranger": "VIEWER",  # denied every DAG
}
DENIED = "outsider:producer,stranger:*"


def password(user: str) -> str:
    """Return the test password of a user."""
    return f"{user}-pw-0123456789"


def auth_environment(home: Path) -> dict[str, str]:
    """Return the Airflow settings of the test auth manager (users, passwords, rules)."""
    passwords = home / "passwords.json"
    passwords.write_text(json.dumps({u: password(u) for u in USERS}))
    return {
        "AIRFLOW__CORE__AUTH_MANAGER": "tests.ui.auth.DagScopedAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        DENIED_ENV: DENIED,
    }


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Create Airflow's metadata database once per test session."""
    pytest.importorskip("airflow", reason="Airflow is not installed")
    from airflow.utils import db

    db.resetdb()


def register_dags(*dag_ids: str) -> None:
    """Put DAGs with these ids in Airflow's metadata database, as the DAG processor would,
    so the auth manager lists them among the DAGs a user may read."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"], collect_dags=False)
    for dag_id in dag_ids:
        with DAG(dag_id, schedule=None) as dag:
            EmptyOperator(task_id="step")
        bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def reset_lineage() -> None:
    """Forget cached lineage settings and the UI's open stores."""
    from airflow_lineage import config
    from airflow_lineage.ui.app import reset_store

    for fn in vars(config).values():
        if hasattr(fn, "cache_clear"):
            fn.cache_clear()
    reset_store()


@pytest.fixture(scope="module", params=BACKENDS)
def lineage_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Yield the URL of a new, empty lineage store on each backend (one per test module)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('ui-store') / 'lineage.db'}"
        return
    require_postgres()
    import sqlalchemy as sa

    schema = f"lineage_ui_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        reset_lineage()  # the UI's open store holds connections into the schema
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture(scope="module")
def api_client(
    airflow_db: None, lineage_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, str]]:
    """Yield a TestClient of Airflow's whole API app (plugins mounted as Airflow mounts
    them) and the URL of the lineage store the lineage page reads."""
    from fastapi.testclient import TestClient

    home = tmp_path_factory.mktemp("ui-api")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in auth_environment(home).items():
            mp.setenv(key, value)
        mp.setenv("AIRFLOW__ML_LINEAGE__STORE_URL", lineage_url)
        reset_lineage()
        from airflow.api_fastapi.app import create_app, purge_cached_app

        purge_cached_app()
        app = create_app()
        with TestClient(app) as client:
            yield client, lineage_url
        purge_cached_app()
    reset_lineage()


@pytest.fixture(scope="module")
def token(api_client: tuple[Any, str]) -> Callable[[str], str]:
    """Return a function that logs a user in through ``POST /auth/token``."""
    client, _ = api_client
    cache: dict[str, str] = {}

    def _token(user: str) -> str:
        if user not in cache:
            r = client.post("/auth/token", json={"username": user, "password": password(user)})
            assert r.status_code == 201, r.text
            cache[user] = r.json()["access_token"]
        return cache[user]

    return _token
