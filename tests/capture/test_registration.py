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
    assert set(provider[0]["config"]["lineage"]["options"]) >= {"enabled", "strict", "conn_id"}
    hooks = _airflow("providers", "hooks", "--output", "json", home=tmp_path)
    assert "airflow_lineage.hooks.lineage.LineageHook" in hooks


def test_the_lineage_options_are_in_airflows_config(tmp_path: Path) -> None:
    listed = _airflow("config", "list", "--section", "lineage", "--defaults", home=tmp_path)
    for option in ("enabled", "conn_id", "strict", "capture_timeout", "outbox_dir", "push_xcom"):
        assert option in listed, option
