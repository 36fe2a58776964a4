"""The README and the public API agree: options, commands, exported names."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import airflow_lineage
from airflow_lineage import config, exceptions
from airflow_lineage.cli import build_parser

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_every_config_option_is_documented_in_the_readme() -> None:
    table = re.findall(r"^\| `([a-z_]+)` \|", README, flags=re.MULTILINE)
    assert sorted(table) == sorted(config.OPTIONS)


def test_every_cli_command_appears_in_the_readme() -> None:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for command in sub.choices:  # type: ignore[union-attr]
        assert re.search(rf"airflow-lineage[^\n]* {command}\b", README), command


def test_public_names_are_exported_and_importable() -> None:
    assert len(set(airflow_lineage.__all__)) == len(airflow_lineage.__all__)
    for name in airflow_lineage.__all__:
        assert hasattr(airflow_lineage, name), name
    public = {
        n
        for n, v in vars(airflow_lineage).items()
        if not n.startswith("_") and not inspect.ismodule(v) and n != "annotations"
    }
    assert public == set(airflow_lineage.__all__) - {"__version__"}


def test_the_error_tree_is_documented() -> None:
    doc = exceptions.__doc__ or ""
    for name in exceptions.__all__:
        error = getattr(exceptions, name)
        assert issubclass(error, exceptions.LineageError)
        assert name in doc
        assert name in README
