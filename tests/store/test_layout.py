"""The store's shape: small protocols, one query, no import cycle with the facade."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_lineage.store import LineageStore
from airflow_lineage.store.interface import Sharing

PACKAGE = Path(__file__).resolve().parents[2] / "airflow_lineage"


def _imports(path: Path) -> set[str]:
    """Return every module a file imports, also under TYPE_CHECKING and in functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_the_facade_does_not_import_the_store_class() -> None:
    assert "airflow_lineage.store.base" not in _imports(PACKAGE / "facade.py")
    for name in ("interface.py", "editing.py", "querying.py"):
        assert "airflow_lineage.facade" not in _imports(PACKAGE / "store" / name), name


def test_opening_a_store_does_not_load_the_facade() -> None:
    code = (
        "import sys, airflow_lineage.store.sql, airflow_lineage.store.sagemaker\n"
        "print('airflow_lineage.facade' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_store_class_fits_on_one_screen() -> None:
    assert len((PACKAGE / "store" / "base.py").read_text().splitlines()) <= 80


@pytest.mark.parametrize("name", ["SqlStore", "SageMakerStore"])
def test_every_backend_is_a_store_that_shares(name: str) -> None:
    from airflow_lineage.store.sagemaker import SageMakerStore
    from airflow_lineage.store.sql import SqlStore

    cls = {"SqlStore": SqlStore, "SageMakerStore": SageMakerStore}[name]
    assert issubclass(cls, LineageStore) and issubclass(cls, Sharing)
    assert cls.query is LineageStore.query  # one query, over the backend's graph reading


def test_no_store_module_is_over_600_lines() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in (PACKAGE / "store").glob("*.py")}
    assert max(sizes.values()) <= 600, sizes
