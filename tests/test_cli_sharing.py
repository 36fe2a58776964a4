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


def test_import_rehome_keeps_who_added_each_edge_and_links_the_copies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from airflow_lineage import AccessDeniedError, connect
    from airflow_lineage.store import connect_admin

    url = f"sqlite:///{tmp_path / 'l.db'}"
    with connect(url, account=A, create=True) as a:
        raw = a.create_artifact("s3://a/raw.csv", "DataSet")
        prep = a.create_action("prep", "DataPreparation", "u")
        a.add_association(raw.arn, prep.arn, "ContributedTo")
    dump = tmp_path / "a.jsonl"
    assert main(["--store", url, "--account", A, "export", "-o", str(dump)]) == 0

    # As B without admin rights: the copied edge would claim to be B's; nothing is written.
    capsys.readouterr()
    assert main(["--store", url, "--as-account", B, "import", "--rehome", str(dump)]) == 1
    err = capsys.readouterr().err
    assert f"as added by account {A}: this store acts as {B}" in err
    with connect(url, account=B) as b:
        assert b.list_entities("Artifact").items == ()
    with pytest.raises(AccessDeniedError), connect(url, account=B) as b:
        b.write(associations=[Association(raw.arn, prep.arn, "ContributedTo", account=A)])

    # Through the admin entry point the copies keep A as the edge's author, and each copy
    # is linked to its original (which stays as it was) with SameAs.
    argv = ["--store", url, "--admin", "--as-account", B, "import", "--rehome", str(dump)]
    assert main(argv) == 0
    assert capsys.readouterr().err.endswith("; linked 2 copies to their originals (SameAs)\n")
    with connect_admin(url) as admin:
        edges = {
            (e.source_arn, e.destination_arn): (e.association_type.value, e.account)
            for e in admin.list_associations().items
            if e.association_type is not None
        }
    copy = {x: x.replace(f":{A}:", f":{B}:") for x in (raw.arn, prep.arn)}
    assert edges == {
        (raw.arn, prep.arn): ("ContributedTo", A),  # the original, untouched
        (copy[raw.arn], copy[prep.arn]): ("ContributedTo", A),  # its copy: still A's edge
        (raw.arn, copy[raw.arn]): ("SameAs", B),  # the links, added by the importer
        (prep.arn, copy[prep.arn]): ("SameAs", B),
    }
