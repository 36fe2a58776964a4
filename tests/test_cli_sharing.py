"""The CLI's sharing commands and ``--as-account``: what another account can see."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_lineage import Association
from airflow_lineage.cli import main

A, B = "111111111111", "222222222222"


def test_share_accept_query_revoke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from airflow_lineage import connect

    url = f"sqlite:///{tmp_path / 'l.db'}"
    with connect(url, account=A, create=True) as a:
        raw = a.create_artifact("s3://a/raw.csv", "DataSet")
        features = a.create_artifact("s3://a/features.csv", "DataSet")
        prep = a.create_action("prep", "DataPreparation", "u")
        a.write(
            associations=[
                Association(raw.arn, prep.arn, "ContributedTo"),
                Association(prep.arn, features.arn, "Produced"),
            ]
        )

    def query() -> str:
        capsys.readouterr()
        code = main(
            [
                "--store",
                url,
                "--as-account",
                B,
                "query",
                features.arn,
                "--direction",
                "ascendants",
                "--format",
                "json",
            ]
        )
        captured = capsys.readouterr()
        return f"{code}|{captured.out}|{captured.err}"

    assert query().startswith("1|")  # not shared: B cannot even see the start
    assert main(["--store", url, "--account", A, "share", B]) == 0
    assert query().startswith("1|")  # invited, not yet accepted
    assert main(["--store", url, "--as-account", B, "accept", A]) == 0
    shared = query()
    assert shared.startswith("0|") and raw.arn in shared and prep.arn in shared
    assert main(["--store", url, "--as-account", B, "groups"]) == 0
    assert "Accepted" in capsys.readouterr().out
    assert main(["--store", url, "--account", A, "revoke", B]) == 0
    assert query().startswith("1|")
