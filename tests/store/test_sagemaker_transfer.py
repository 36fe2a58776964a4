"""Lineage moves between backends: SQLite → SageMaker → SQLite preserves the graph."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from airflow_lineage import Association, connect, records
from airflow_lineage.cli import main

from .test_contract import ml_graph
from .test_sagemaker_contract import make_fake, make_store

ACCOUNT, REGION = "123456789012", "us-east-1"


def shape(items: list[object]) -> tuple[set[tuple[str, ...]], set[tuple[str, str, str]]]:
    """Return the graph without account and region: (kind, type, uri/name), typed edges."""
    by_arn = {e.arn: e for e in items if not isinstance(e, Association)}  # type: ignore[attr-defined]

    def key(arn: str) -> str:
        e = by_arn[arn]
        return f"{e.lineage_type.value}:{e.type}:{e.name or e.source_uri}"  # type: ignore[attr-defined]

    vertices = {tuple(key(a).split(":", 2)) for a in by_arn}
    edges = {
        (key(a.source_arn), key(a.destination_arn), str(a.association_type))
        for a in items
        if isinstance(a, Association)
    }
    return vertices, edges


def test_export_to_sagemaker_and_back_preserves_the_graph(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = f"sqlite:///{tmp_path / 'local.db'}"
    with connect(source, create=True) as local:
        ml_graph(local)
        original = list(local.export())
    assert main(["--store", source, "export", "-o", str(tmp_path / "lineage.jsonl")]) == 0

    # Into SageMaker: the local records move to the SageMaker account and region.
    sagemaker = make_store(make_fake(account=ACCOUNT, region=REGION))
    with open(tmp_path / "lineage.jsonl") as fh:
        ents, assocs, _ = records.load_all(fh)
    moved = list(records.rehome([*ents, *assocs], ACCOUNT, REGION))
    sagemaker.write(
        [e for e in moved if not isinstance(e, Association)],
        [a for a in moved if isinstance(a, Association)],
    )
    in_sagemaker = list(sagemaker.export())
    assert shape(in_sagemaker) == shape(original)

    # And back, through the CLI's import with --rehome.
    buffer = io.StringIO()
    records.dump(in_sagemaker, buffer)
    (tmp_path / "back.jsonl").write_text(buffer.getvalue())
    target = f"sqlite:///{tmp_path / 'back.db'}"
    assert main(["--store", target, "db", "upgrade"]) == 0
    # The SageMaker account added those edges: keeping who added them takes --admin.
    assert (
        main(["--admin", "--store", target, "import", "--rehome", str(tmp_path / "back.jsonl")])
        == 0
    )
    with connect(target) as back:
        assert shape(list(back.export())) == shape(original)
