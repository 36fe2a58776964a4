"""The CLI, given no ``--store``, reads the store the deployment's tasks write to.

Same ``AIRFLOW_HOME`` and environment as the scheduler's task processes: the lineage
store is the PostgreSQL database the ``lineage`` connection names, logging in as the
account's role. The services are not needed for this, only the deployment's migrated
databases and environment. That role, which every task process logs in as, cannot run
DDL: capture could not migrate the store even if it tried.
"""

from __future__ import annotations

import json
import subprocess

import psycopg
import pytest

from airflow_lineage import Action, Artifact, Association, connect
from airflow_lineage.model import AssociationType
from airflow_lineage.store.schema import SCHEMA_REVISION
from tests.conftest import require_postgres

from .cluster import BIN, Deployment

pytestmark = [pytest.mark.slow, pytest.mark.deployment]


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "airflow-lineage"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_without_store_reads_the_connections_store() -> None:
    require_postgres()
    deployment = Deployment([])
    try:
        deployment.prepare()
        account = deployment.account
        data = Artifact.new("file:///data/cli-check.csv", "DataSet", account=account)
        step = Action.new(
            "cli-check-step",
            "Training",
            "airflow://dags/cli/runs/r/tasks/t",
            status="Completed",
            account=account,
        )
        with connect(deployment.lineage_url) as store:
            store.write(
                [data, step], [Association(data.arn, step.arn, AssociationType.CONTRIBUTED_TO)]
            )
        out = _cli(
            "query",
            "--uri",
            data.source_uri,
            "--direction",
            "descendants",
            "--format",
            "json",
            env=deployment.env,
        )
        revision = _cli("db", "current", env=deployment.env)
        ddl = _ddl_errors(deployment.lineage_url)
        created_sqlite = (deployment.home / "lineage.db").exists()
    finally:
        deployment.stop()
    assert out.returncode == 0, out.stdout + out.stderr
    reached = [v["Arn"] for v in json.loads(out.stdout)["Vertices"]]
    assert reached == [step.arn]
    assert not created_sqlite, "the CLI created an empty embedded store"
    # It names the store it found, and why: the account's login through the connection.
    assert revision.returncode == 0, revision.stdout + revision.stderr
    assert revision.stdout.strip() == SCHEMA_REVISION
    assert f"lineage_acct_{deployment.account}:***@" in revision.stderr
    assert f"/{deployment.lineage_db} (the connection 'lineage_default')" in revision.stderr
    # Every task process logs in as this role: it cannot change the schema.
    assert len(ddl) == 3 and not any(d.endswith("succeeded") for d in ddl), ddl


def _ddl_errors(url: str) -> list[str]:
    """Try DDL as ``url``'s login in the lineage store; return what PostgreSQL said to each."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    said = []
    with psycopg.connect(
        host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database
    ) as conn:
        for sql in (
            "CREATE TABLE lineage_probe (x int)",
            "ALTER TABLE lineage_entities ADD COLUMN probe int",
            "DROP TABLE lineage_alembic_version",
        ):
            try:
                conn.execute(sql)  # type: ignore[arg-type]
            except psycopg.errors.InsufficientPrivilege as e:
                said.append(f"{sql}: {e}")
            else:
                said.append(f"{sql}: succeeded")
            conn.rollback()
    return said
