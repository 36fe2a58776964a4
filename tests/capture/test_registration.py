"""Airflow finds the plugin and the provider through their entry points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _airflow(*args: str, home: Path) -> str:
    exe = shutil.which("airflow", path=str(Path(sys.executable).parent)) or "airflow"
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)  # it logs to stdout
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    for key in [k for k in env if k.startswith(("AIRFLOW__LINEAGE__", "AIRFLOW__ML_LINEAGE__"))]:
        del env[key]
    out = subprocess.run(
        [exe, *args], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return out.stdout


def test_airflow_lists_the_plugin_and_the_provider(tmp_path: Path) -> None:
    plugins = json.loads(_airflow("plugins", "--output", "json", home=tmp_path))
    ours = [p for p in plugins if p["name"] == "airflow_lineage"]
    assert len(ours) == 1
    assert "airflow_lineage.capture.listener" in str(ours[0]["listeners"])
    assert "airflow-lineage" in ours[0]["source"]

    provider = json.loads(
        _airflow("providers", "get", "airflow-lineage", "--full", "--output", "json", home=tmp_path)
    )
    assert provider[0]["package-name"] == "airflow-lineage"
    assert set(provider[0]["config"]["ml_lineage"]["options"]) >= {"enabled", "strict", "conn_id"}
    assert "lineage" not in provider[0]["config"]  # core's section since Airflow 3.2
    hooks = _airflow("providers", "hooks", "--output", "json", home=tmp_path)
    assert "airflow_lineage.hooks.lineage.LineageHook" in hooks


def test_the_lineage_options_are_in_airflows_config(tmp_path: Path) -> None:
    from airflow_lineage.config import OPTIONS

    listed = _airflow("config", "list", "--section", "ml_lineage", "--defaults", home=tmp_path)
    assert "[ml_lineage]" in listed
    for option in OPTIONS:
        assert f"{option} = " in listed, option
    core = _airflow("config", "list", "--section", "lineage", "--defaults", home=tmp_path)
    assert "store_url" not in core and "conn_id" not in core


def test_airflow_db_migrate_creates_and_checks_the_lineage_store(tmp_path: Path) -> None:
    from airflow_lineage.store import connect, current

    home = tmp_path / "home"
    embedded = home / "lineage.db"
    _airflow("db", "migrate", home=home)
    assert current(f"sqlite:///{embedded}") == "0007"  # created by our external DB manager
    _airflow("db", "check-migrations", "--migration-wait-timeout", "1", home=home)
    # The lineage connection, kept in Airflow's database, names another store: the next
    # `airflow db migrate` creates that one, and the CLI (no --store) reads it.
    team = tmp_path / "team.db"
    conn = json.dumps({"url": f"sqlite:///{team}"})
    _airflow("connections", "add", "lineage_default", "--conn-type", "lineage",
             "--conn-extra", conn, home=home)  # fmt: skip
    env = {**os.environ, "AIRFLOW_HOME": str(home)}
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
    env.pop("AIRFLOW__CORE__DAGS_FOLDER", None)
    cli = [sys.executable, "-m", "airflow_lineage.cli", "db", "check"]
    before = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert before.returncode == 1
    assert "the connection 'lineage_default'" in before.stderr
    assert not team.exists()
    _airflow("db", "migrate", home=home)
    after = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert (after.returncode, after.stderr) == (
        0,
        f"airflow-lineage: sqlite:///{team} (the connection 'lineage_default') is current "
        "(revision 0007)\n",
    )
    with connect(f"sqlite:///{embedded}") as store:  # `airflow db reset` keeps lineage
        store.create_artifact("s3://kept", "DataSet")
    _airflow("connections", "delete", "lineage_default", home=home)
    _airflow("db", "reset", "--yes", home=home)
    with connect(f"sqlite:///{embedded}") as store:
        assert [a.source_uri for a in store.list_entities("Artifact").items] == ["s3://kept"]
