"""Two teams, two accounts, one store: A's data-prep DAG feeds B's training DAG.

Each DAG records into its own account through its own lineage connection (DAG param
``lineage_conn_id``). Once A shares its lineage group and B accepts, B's one query from
its model reaches A's raw data, and B's deployment gate (trusting A) passes; after A
revokes, B's query stops at B's border.

On PostgreSQL each connection logs in as its account's role (host, port, schema, login,
password; ``AIRFLOW_CONN_*`` JSON), so the database itself keeps the accounts apart. On
SQLite, one trust domain, the connection's extra names the account.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from airflow_lineage import LineageQuery, connect
from airflow_lineage.store import connect_admin

from ..conftest import create_store
from .conftest import reset_lineage_settings

pytestmark = pytest.mark.slow

A, B = "111111111111", "222222222222"
PASSWORDS = {A: "team-a-pw", B: "team-b-pw"}


def _stores(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Create the shared store; define each team's connection; return each team's URL."""
    if backend == "sqlite":
        url = create_store(f"sqlite:///{tmp_path / 'shared.db'}")
        for name, account in (("LINEAGE_TEAM_A", A), ("LINEAGE_TEAM_B", B)):
            conn = {"conn_type": "lineage", "extra": {"url": url, "account": account}}
            monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(conn))
        return {A: url, B: url}
    admin_url = create_store(str(request.getfixturevalue("pg_schema_url")), accounts=())
    with connect_admin(admin_url) as admin:
        for account in (A, B):
            admin.provision_account_role(account, password=PASSWORDS[account])  # type: ignore[attr-defined]
    u = make_url(admin_url)
    search_path = str(u.query["options"]).split("search_path=")[1]
    urls = {}
    for name, account in (("LINEAGE_TEAM_A", A), ("LINEAGE_TEAM_B", B)):
        login = f"lineage_acct_{account}"
        conn = {
            "conn_type": "lineage",
            "host": u.host,
            "port": u.port,
            "schema": u.database,
            "login": login,
            "password": PASSWORDS[account],
            "extra": {"search_path": search_path},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{name}", json.dumps(conn))
        urls[account] = u.set(username=login, password=PASSWORDS[account]).render_as_string(
            hide_password=False
        )
    return urls


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_training_dag_in_b_uses_features_shared_by_a(
    backend: str,
    lineage_home: Path,
    run_dag: Callable[..., Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
) -> None:
    import pendulum
    from airflow.sdk import DAG

    from airflow_lineage.operators.gate import LineageGateOperator
    from airflow_lineage.operators.steps import Data, ml_step

    urls = _stores(backend, tmp_path, request, monkeypatch)
    reset_lineage_settings()
    raw = tmp_path / "raw.csv"
    raw.write_text("x,y\n1,0\n2,1\n")
    features = Data((tmp_path / "features.csv").as_uri())
    model = Data((tmp_path / "model.pkl").as_uri(), "Model")

    start = pendulum.datetime(2026, 1, 1)
    with DAG(
        "team_a_prep", start_date=start, schedule=None, params={"lineage_conn_id": "lineage_team_a"}
    ) as prep_dag:

        @ml_step(
            step_type="DataPreparation",
            inputs={"raw": Data(raw.as_uri())},
            outputs={"features": features},
        )
        def prepare(step: Any) -> None:
            step.outputs["features"].path.write_text(raw.read_text().upper())

        prepare()

    with DAG(
        "team_b_train",
        start_date=start,
        schedule=None,
        params={"lineage_conn_id": "lineage_team_b"},
    ) as train_dag:

        @ml_step(step_type="Training", inputs={"features": features}, outputs={"model": model})
        def train(step: Any) -> None:
            step.outputs["model"].path.write_text("weights")

        gate = LineageGateOperator(
            task_id="gate",
            model_task_id="train",
            lineage_conn_id="lineage_team_b",
            report_dir=str(tmp_path / "reports"),
            policy={
                "required": [
                    {"lineage_type": "Action", "type": "DataPreparation", "status": "Completed"}
                ],
                "trusted_accounts": [A, B],
            },
        )
        train() >> gate

    assert run_dag(prep_dag).state == "success"
    with connect(urls[A], account=A) as a, connect(urls[B], account=B) as b:
        a.share(B)
        b.accept(A)
    run = run_dag(train_dag)
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {
        "train": "success",
        "gate": "success",
    }

    with connect(urls[B], account=B) as b:
        (mine,) = b.list_entities("Artifact", source_uri=model.uri).items
        assert mine.account == B
        query = LineageQuery(start_arns=(mine.arn,), direction="Ascendants", include_edges=True)
        chain = {v.arn.split(":")[4] + ":" + v.type for v in b.query(query).vertices}
        # A's raw data and preparation, B's copy of the features (SameAs A's) and training.
        assert chain == {
            f"{B}:Model",
            f"{B}:Training",
            f"{B}:DataSet",
            f"{A}:DataSet",
            f"{A}:DataPreparation",
        }
        edges = {e.association_type.value for e in b.query(query).edges}
        assert "SameAs" in edges
    with connect(urls[A], account=A) as a:
        a.revoke(B)
        assert len(a.list_entities("Artifact").items) == 2  # A's raw data and features
    with connect(urls[B], account=B) as b:
        after = {v.arn.split(":")[4] for v in b.query(query).vertices}
        assert after == {B}
