"""The ``airflow-lineage`` command, run in-process and once as a real process."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from airflow_lineage import Action, Artifact, Association, AssociationType, Context, connect
from airflow_lineage.cli import main, parse_when
from airflow_lineage.model import Entity

T0 = datetime(2026, 1, 1, tzinfo=UTC)
ACCOUNT = "arn:aws:sagemaker:local:000000000000"


@dataclass
class Lineage:
    url: str
    arn: dict[str, str]

    def run(
        self, capsys: pytest.CaptureFixture[str], *args: str, store: bool = True
    ) -> tuple[int, str, str]:
        """Run the command in-process; return (exit status, stdout, stderr)."""
        capsys.readouterr()
        code = main([*(["--store", self.url] if store else []), *args])
        out, err = capsys.readouterr()
        return code, out, err


def build(url: str) -> dict[str, str]:
    """Record a churn model's lineage from raw data to endpoint; return the ARNs by name.

    raw -> prep -> feat -> train -> model -> deploy -> endpoint, and code -> train.
    Entity i is created at T0 + i hours; every association at T0 + 8 hours.
    """

    def t(i: int) -> datetime:
        return T0 + timedelta(hours=i)

    ents: dict[str, Entity] = {
        "raw": Artifact.new(
            "s3://ml/raw/churn.csv",
            "DataSet",
            name="raw-churn",
            source_types=[("Custom", "sha256:" + "a" * 64)],
            properties={"approved": "true"},
            created=t(0),
        ),
        "code": Artifact.new("git://ml/train.py@abc123", "Code", created=t(1)),
        "prep": Action.new(
            "prep-run-1",
            "DataPreparation",
            "airflow://churn/prep",
            status="Completed",
            created=t(2),
        ),
        "feat": Artifact.new("s3://ml/features/churn", "Features", created=t(3)),
        "train": Action.new(
            "train-run-1",
            "ModelTraining",
            "airflow://churn/train",
            status="Completed",
            description="Train the churn model",
            properties={"framework": "xgboost"},
            metadata_properties={"CommitId": "abc123"},
            tags={"team": "churn"},
            created=t(4),
        ),
        "model": Artifact.new(
            "s3://ml/models/churn.tar.gz", "Model", properties={"accuracy": "0.93"}, created=t(5)
        ),
        "deploy": Action.new(
            "deploy-run-1",
            "ModelDeployment",
            "airflow://churn/deploy",
            status="Completed",
            created=t(6),
        ),
        "endpoint": Context.new(
            "churn-endpoint",
            "Endpoint",
            "arn:aws:sagemaker:us-east-1:000000000000:endpoint/churn",
            created=t(7),
        ),
    }
    arn = {k: e.arn for k, e in ents.items()}
    edges = [
        ("raw", "prep", "ContributedTo"),
        ("prep", "feat", "Produced"),
        ("feat", "train", "ContributedTo"),
        ("code", "train", "ContributedTo"),
        ("train", "model", "Produced"),
        ("model", "deploy", "ContributedTo"),
        ("deploy", "endpoint", "AssociatedWith"),
    ]
    with connect(url, create=True) as store:
        store.write(
            ents.values(),
            [Association(arn[s], arn[d], AssociationType(kind), t(8)) for s, d, kind in edges],
        )
    return arn


@pytest.fixture
def lineage(tmp_path: Path) -> Lineage:
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    return Lineage(url, build(url))


# -- query: the three formats --------------------------------------------------------


def test_table_of_a_models_ascendants_by_name(
    lineage: Lineage, capsys: pytest.CaptureFixture[str]
) -> None:
    a = lineage.arn
    code, out, err = lineage.run(
        capsys, "query", "--name", "churn-endpoint", "--direction", "ascendants"
    )
    assert (code, err) == (0, "")
    assert out == (
        "LINEAGE TYPE  TYPE             NAME/URI                     ARN\n"
        f"Action        ModelDeployment  deploy-run-1                 {a['deploy']}\n"
        f"Artifact      Model            s3://ml/models/churn.tar.gz  {a['model']}\n"
        f"Action        ModelTraining    train-run-1                  {a['train']}\n"
        f"Artifact      Code             git://ml/train.py@abc123     {a['code']}\n"
        f"Artifact      Features         s3://ml/features/churn       {a['feat']}\n"
        f"Action        DataPreparation  prep-run-1                   {a['prep']}\n"
        f"Artifact      DataSet          raw-churn                    {a['raw']}\n"
    )


def test_tree_of_ascendants(lineage: Lineage, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = lineage.run(
        capsys, "query", lineage.arn["endpoint"], "--direction", "Ascendants", "--format", "tree"
    )
    assert (code, err) == (0, "")
    assert out == (
        "churn-endpoint (Context Endpoint)\n"
        "└── <-[AssociatedWith]- deploy-run-1 (Action ModelDeployment)\n"
        "    └── <-[ContributedTo]- s3://ml/models/churn.tar.gz (Artifact Model)\n"
        "        └── <-[Produced]- train-run-1 (Action ModelTraining)\n"
        "            ├── <-[ContributedTo]- git://ml/train.py@abc123 (Artifact Code)\n"
        "            └── <-[ContributedTo]- s3://ml/features/churn (Artifact Features)\n"
        "                └── <-[Produced]- prep-run-1 (Action DataPreparation)\n"
        "                    └── <-[ContributedTo]- raw-churn (Artifact DataSet)\n"
    )


def test_tree_both_ways_from_a_source_uri(
    lineage: Lineage, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = lineage.run(
        capsys, "query", "--uri", "s3://ml/features/churn", "--format", "tree"
    )
    assert code == 0
    assert out == (
        "s3://ml/features/churn (Artifact Features)\n"
        "├── <-[Produced]- prep-run-1 (Action DataPreparation)\n"
        "│   └── <-[ContributedTo]- raw-churn (Artifact DataSet)\n"
        "└── -[ContributedTo]-> train-run-1 (Action ModelTraining)\n"
        "    ├── -[Produced]-> s3://ml/models/churn.tar.gz (Artifact Model)\n"
        "    │   └── -[ContributedTo]-> deploy-run-1 (Action ModelDeployment)\n"
        "    │       └── -[AssociatedWith]-> churn-endpoint (Context Endpoint)\n"
        "    └── <-[ContributedTo]- git://ml/train.py@abc123 (Artifact Code)\n"
    )


def test_tree_from_two_starts_prints_shared_entities_once(
    lineage: Lineage, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = lineage.run(
        capsys,
        "query",
        "--uri", "s3://ml/raw/churn.csv",
        "--uri", "git://ml/train.py@abc123",
        "--direction", "descendants",
        "--depth", "2",
        "--format", "tree",
    )  # fmt: skip
    assert code == 0
    assert out == (
        "raw-churn (Artifact DataSet)\n"
        "└── -[ContributedTo]-> prep-run-1 (Action DataPreparation)\n"
        "    └── -[Produced]-> s3://ml/features/churn (Artifact Features)\n"
        "git://ml/train.py@abc123 (Artifact Code)\n"
        "└── -[ContributedTo]-> train-run-1 (Action ModelTraining)\n"
        "    └── -[Produced]-> s3://ml/models/churn.tar.gz (Artifact Model)\n"
    )
    # the model is a start and an ascendant of the endpoint: its tree is printed once
    code, out, _ = lineage.run(
        capsys, "query", "--name", "churn-endpoint", "--uri", "s3://ml/models/churn.tar.gz",
        "--direction", "ascendants", "--depth", "3", "--format", "tree",
    )  # fmt: skip
    assert code == 0
    assert out == (
        "churn-endpoint (Context Endpoint)\n"
        "└── <-[AssociatedWith]- deploy-run-1 (Action ModelDeployment)\n"
        "    └── <-[ContributedTo]- s3://ml/models/churn.tar.gz (Artifact Model)\n"
        "        └── <-[Produced]- train-run-1 (Action ModelTraining)\n"
        "            ├── <-[ContributedTo]- git://ml/train.py@abc123 (Artifact Code)\n"
        "            └── <-[ContributedTo]- s3://ml/features/churn (Artifact Features)\n"
        "                └── <-[Produced]- prep-run-1 (Action DataPreparation)\n"
        "s3://ml/models/churn.tar.gz (Artifact Model) (see above)\n"
    )


def test_json_is_the_query_lineage_response(
    lineage: Lineage, capsys: pytest.CaptureFixture[str]
) -> None:
    a = lineage.arn
    code, out, _ = lineage.run(
        capsys, "query", a["raw"], "--direction", "descendants", "--type", "Model",
        "--include-edges", "--format", "json",
    )  # fmt: skip
    assert code == 0

    def vertex(key: str, type_: str, lineage_type: str) -> dict[str, str]:
        return {"Arn": a[key], "Type": type_, "LineageType": lineage_type}

    def edge(src: str, dst: str, kind: str) -> dict[str, str]:
        return {"SourceArn": a[src], "DestinationArn": a[dst], "AssociationType": kind}

    expected = {
        "Vertices": [
            vertex("raw", "DataSet", "Artifact"),
            vertex("prep", "DataPreparation", "Action"),
            vertex("feat", "Features", "Artifact"),
            vertex("train", "ModelTraining", "Action"),
            vertex("model", "Model", "Artifact"),
        ],
        "Edges": [
            edge("raw", "prep", "ContributedTo"),
            edge("prep", "feat", "Produced"),
            edge("feat", "train", "ContributedTo"),
            edge("train", "model", "Produced"),
        ],
    }
    assert out == json.dumps(expected, indent=2) + "\n"
    code, out, _ = lineage.run(
        capsys,
        "query",
        a["raw"],
        "--direction",
        "DESCENDANTS",
        "--type",
        "Model",
        "--format",
        "json",
    )
    assert json.loads(out) == {"Vertices": [vertex("model", "Model", "Artifact")], "Edges": []}


# -- query: start forms, filters, pages ------------------------------------------------


def _arns(out: str) -> list[str]:
    return [line.split()[-1] for line in out.splitlines()[1:]]


def test_every_start_form_reaches_the_same_lineage(
    lineage: Lineage, capsys: pytest.CaptureFixture[str]
) -> None:
    a = lineage.arn
    outputs = {
        lineage.run(capsys, "query", *start, "--direction", "descendants")[1]
        for start in (
            [a["train"]],
            ["--name", "train-run-1"],
            ["--uri", "airflow://churn/train"],
        )
    }
    assert len(outputs) == 1
    assert _arns(outputs.pop()) == [a["model"], a["deploy"], a["endpoint"]]
    # an artifact's name works too, and starts of several forms combine
    _, out, _ = lineage.run(capsys, "query", a["endpoint"], "--name", "raw-churn", "--depth", "1")
    assert sorted(_arns(out)) == sorted([a["deploy"], a["prep"]])


ALL = ["prep", "code", "feat", "train", "model", "deploy", "endpoint"]
FILTERS = [
    (["--type", "Model", "--type", "Endpoint"], ["model", "endpoint"]),
    (["--lineage-type", "action"], ["prep", "train", "deploy"]),
    (
        ["--lineage-type", "Context", "--lineage-type", "ARTIFACT"],
        ["feat", "code", "model", "endpoint"],
    ),
    (["--property", "accuracy=0.93", "--property", "framework=xgboost"], ["train", "model"]),
    (
        ["--created-after", "2026-01-01T04:00:00Z", "--created-before", "2026-01-01T06:00"],
        ["train", "model", "deploy"],
    ),
    (
        ["--created-after", "2026-01-01T03:00:00+02:00", "--lineage-type", "Artifact"],
        ["code", "feat", "model"],
    ),
    (["--created-before", "2026-01-01"], []),
    (["--modified-after", "2026-01-01T07:00:00Z"], ["endpoint"]),
    (["--modified-before", "2026-01-01T02:00:00Z"], ["code", "prep"]),
    (["--created-after", "P36500D"], ALL),
    (["--created-before", "P36500D"], []),
    (["--depth", "2"], ["prep", "feat"]),
    (["--depth", "0"], []),
]


@pytest.mark.parametrize(("options", "expected"), FILTERS)
def test_filters_select_what_is_printed(
    lineage: Lineage, capsys: pytest.CaptureFixture[str], options: list[str], expected: list[str]
) -> None:
    code, out, err = lineage.run(capsys, "query", "--name", "raw-churn", *options)
    assert (code, err) == (0, "")
    assert sorted(_arns(out)) == sorted(lineage.arn[k] for k in expected)


def test_durations_count_back_from_now() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_when("P7D", now=now) == datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
    assert parse_when("PT90M", now=now) == datetime(2026, 3, 10, 10, 30, tzinfo=UTC)
    assert parse_when("2026-02-01") == datetime(2026, 2, 1, tzinfo=UTC)
    assert parse_when("2026-02-01T10:00:00.25+01:00") == datetime(
        2026, 2, 1, 9, 0, 0, 250000, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="not an ISO-8601"):
        parse_when("last tuesday")


def test_max_results_prints_one_page_and_a_token(
    lineage: Lineage, capsys: pytest.CaptureFixture[str]
) -> None:
    a = lineage.arn
    base = ["query", "--name", "prep-run-1", "--direction", "descendants", "--max-results", "2"]
    code, out, err = lineage.run(capsys, *base)
    assert code == 0
    assert _arns(out) == [a["feat"], a["train"]]
    assert err.startswith("airflow-lineage: more results: run again with the same options and ")
    token = err.split()[-1]
    code, out, err = lineage.run(capsys, *base, "--next-token", token)
    assert _arns(out) == [a["model"], a["deploy"]]
    token = err.split()[-1]
    code, out, err = lineage.run(capsys, *base, "--next-token", token, "--format", "json")
    response = json.loads(out)
    assert [v["Arn"] for v in response["Vertices"]] == [a["endpoint"]]
    assert "NextToken" not in response and err == ""
    code, out, err = lineage.run(capsys, *base, "--format", "json")
    response = json.loads(out)
    assert len(response["Vertices"]) == 2 and response["NextToken"]


# -- query: errors ---------------------------------------------------------------------


QUERY_ERRORS = [
    (
        ["query", f"{ACCOUNT}:action/nope"],
        1,
        f"no lineage entity has the ARN {ACCOUNT}:action/nope",
    ),
    (["query", "--name", "nope"], 1, "no lineage entity is named 'nope'"),
    (["query", "--uri", "s3://nope"], 1, "no lineage entity has the source URI 's3://nope'"),
    (
        ["query", "train-run-1"],
        2,
        "START 'train-run-1' is not a SageMaker lineage ARN; "
        "give a source URI with --uri or a name with --name",
    ),
    (["query"], 2, "query needs a start entity: an ARN, --uri SOURCE_URI or --name NAME"),
    (
        ["query", "--name", "raw-churn", "--property", "a=1", "--property", "a=2"],
        2,
        "--property a is given twice; a filter holds one value a key",
    ),
    (
        ["query", "--name", "raw-churn", "--next-token", "abc"],
        2,
        "--next-token continues a query run with --max-results; give both",
    ),
    (
        ["query", "--name", "raw-churn", "--max-results", "2", "--next-token", "abc"],
        2,
        "NextToken is not a token this store handed out",
    ),
]


@pytest.mark.parametrize(("args", "status", "message"), QUERY_ERRORS)
def test_query_errors(
    lineage: Lineage,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    status: int,
    message: str,
) -> None:
    assert lineage.run(capsys, *args) == (status, "", f"airflow-lineage: error: {message}\n")


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--depth", "1001"], "argument --depth: must be an integer from 0 to 1000, got '1001'"),
        (["--depth", "-1"], "argument --depth: must be an integer from 0 to 1000, got '-1'"),
        (["--depth", "deep"], "argument --depth: must be an integer from 0 to 1000, got 'deep'"),
        (["--max-results", "0"], "argument --max-results: must be an integer of at least 1"),
        (["--direction", "up"], "argument --direction: invalid choice: 'up' (choose from"),
        (["--lineage-type", "Model"], "argument --lineage-type: invalid choice: 'Model'"),
        (["--property", "accuracy"], "argument --property: must be KEY=VALUE, got 'accuracy'"),
        (["--created-after", "soon"], "argument --created-after: 'soon' is not an ISO-8601"),
        (["--format", "yaml"], "argument --format: invalid choice: 'yaml'"),
    ],
)
def test_bad_options_are_usage_errors(
    lineage: Lineage, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    code, out, err = lineage.run(capsys, "query", "--name", "raw-churn", *option)
    assert (code, out) == (2, "")
    assert err.startswith("usage: airflow-lineage query")
    assert f"\nairflow-lineage query: error: {message}" in err
    assert "Traceback" not in err


def test_store_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--store", "lineage.db", "query", "--name", "x"]) == 2
    assert capsys.readouterr().err == (
        "airflow-lineage: error: store URL 'lineage.db' is not a URL (e.g. sqlite:///lineage.db)\n"
    )
    url = f"sqlite:///{tmp_path / 'x.db'}"
    assert main(["--store", url, "--account", "42", "show", "x"]) == 2
    assert (
        capsys.readouterr().err == "airflow-lineage: error: account must be 12 digits, got '42'\n"
    )
    # a file that is not a database is a store failure
    (tmp_path / "junk.db").write_text("not a database" * 100)
    assert main(["--store", f"sqlite:///{tmp_path / 'junk.db'}", "export"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("airflow-lineage: error: lineage store failed to ") and err[-1] == "\n"


def test_store_options_may_follow_the_command(
    lineage: Lineage, capsys: pytest.CaptureFixture[str]
) -> None:
    before = lineage.run(capsys, "query", "--name", "raw-churn")
    after = lineage.run(capsys, "query", "--name", "raw-churn", "--store", lineage.url, store=False)
    assert before == after and before[0] == 0


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: airflow-lineage [-h]")
    assert all(cmd in out for cmd in ("query", "show", "export", "import"))
    assert main(["query", "--help"]) == 0
    assert "--direction {ascendants,descendants,both}" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == "airflow-lineage 0.1.0\n"
    assert main([]) == 2
    assert "the following arguments are required: COMMAND" in capsys.readouterr().err


# -- show ------------------------------------------------------------------------------


def test_show_an_action_by_name(lineage: Lineage, capsys: pytest.CaptureFixture[str]) -> None:
    a = lineage.arn
    code, out, err = lineage.run(capsys, "show", "train-run-1")
    assert (code, err) == (0, "")
    assert out == (
        f"Arn                 {a['train']}\n"
        "LineageType         Action\n"
        "Type                ModelTraining\n"
        "Name                train-run-1\n"
        "SourceUri           airflow://churn/train\n"
        "Status              Completed\n"
        "Description         Train the churn model\n"
        "SourceType          -\n"
        "SourceId            -\n"
        "Properties          framework=xgboost\n"
        "MetadataProperties  CommitId=abc123\n"
        "Tags                team=churn\n"
        "Created             2026-01-01T04:00:00.000000Z\n"
        "Modified            2026-01-01T04:00:00.000000Z\n"
        f"LineageGroup        {ACCOUNT}:lineage-group/sagemaker-default-lineage-group\n"
        "\n"
        "Incoming associations (2)\n"
        f"  <-[ContributedTo]-  git://ml/train.py@abc123 (Artifact Code)    {a['code']}\n"
        f"  <-[ContributedTo]-  s3://ml/features/churn (Artifact Features)  {a['feat']}\n"
        "\n"
        "Outgoing associations (1)\n"
        f"  -[Produced]->  s3://ml/models/churn.tar.gz (Artifact Model)  {a['model']}\n"
    )


def test_show_an_artifact_by_arn_and_by_source_uri(
    lineage: Lineage, capsys: pytest.CaptureFixture[str]
) -> None:
    a = lineage.arn
    by_arn = lineage.run(capsys, "show", a["raw"])
    assert by_arn == lineage.run(capsys, "show", "s3://ml/raw/churn.csv")
    assert by_arn == lineage.run(capsys, "show", "raw-churn")
    lines = by_arn[1].splitlines()
    assert lines[5] == "SourceTypes         Custom sha256:" + "a" * 64
    assert lines[-4:] == [
        "Incoming associations (0)",
        "",
        "Outgoing associations (1)",
        f"  -[ContributedTo]->  prep-run-1 (Action DataPreparation)  {a['prep']}",
    ]


def test_show_json(lineage: Lineage, capsys: pytest.CaptureFixture[str]) -> None:
    a = lineage.arn
    code, out, _ = lineage.run(capsys, "show", "churn-endpoint", "--format", "json")
    assert code == 0
    doc = json.loads(out)
    assert doc["Entity"]["arn"] == a["endpoint"] and doc["Entity"]["kind"] == "Context"
    assert doc["Outgoing"] == []
    assert doc["Incoming"] == [
        {
            "account": "000000000000",
            "association_type": "AssociatedWith",
            "created": "2026-01-01T08:00:00.000000Z",
            "destination_arn": a["endpoint"],
            "kind": "Association",
            "source_arn": a["deploy"],
        }
    ]


def test_show_errors(lineage: Lineage, capsys: pytest.CaptureFixture[str]) -> None:
    assert lineage.run(capsys, "show", "nope") == (
        1,
        "",
        "airflow-lineage: error: no lineage entity has the ARN, name or source URI 'nope'\n",
    )
    assert lineage.run(capsys, "show", f"{ACCOUNT}:context/nope") == (
        1,
        "",
        f"airflow-lineage: error: no lineage entity has the ARN {ACCOUNT}:context/nope\n",
    )
    with connect(lineage.url) as store:
        other = store.create_artifact("s3://ml/raw/churn.csv", "Snapshot")
    code, out, err = lineage.run(capsys, "show", "s3://ml/raw/churn.csv")
    assert (code, out) == (2, "")
    assert err == (
        "airflow-lineage: error: 's3://ml/raw/churn.csv' names 2 entities; give one ARN:\n"
        f"  {lineage.arn['raw']}\n  {other.arn}\n"
    )


# -- export / import --------------------------------------------------------------------


def test_export_import_round_trip_is_byte_exact(
    lineage: Lineage, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with connect(lineage.url) as store:
        store.update(lineage.arn["deploy"], status="Failed")  # modified != created
    out_file = tmp_path / "out.jsonl"
    code, out, err = lineage.run(capsys, "export", "-o", str(out_file))
    assert (code, out) == (0, "")
    assert err == f"airflow-lineage: exported 8 entities and 7 associations to {out_file}\n"
    exported = out_file.read_bytes()
    assert lineage.run(capsys, "export")[1].encode() == exported
    assert exported.count(b"\n") == 15

    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    assert main(["--store", copy, "db", "upgrade"]) == 0  # a new store is an explicit step
    code, out, err = _run_with_stdin(capsys, exported.decode(), "--store", copy, "import")
    assert (code, out) == (0, "")
    assert err == "airflow-lineage: imported 8 entities and 7 associations from standard input\n"
    again = tmp_path / "again.jsonl"
    assert main(["--store", copy, "export", "--output", str(again)]) == 0
    assert again.read_bytes() == exported
    capsys.readouterr()

    # importing again keeps what is there
    assert main(["--store", copy, "import", str(out_file)]) == 0
    assert capsys.readouterr().err == (
        f"airflow-lineage: imported 8 entities and 7 associations from {out_file} "
        "(8 entities were in the store already; the newer version of each won)\n"
    )
    assert main(["--store", copy, "export"]) == 0
    assert capsys.readouterr().out.encode() == exported


def _run_with_stdin(
    capsys: pytest.CaptureFixture[str], text: str, *args: str
) -> tuple[int, str, str]:
    capsys.readouterr()
    saved = sys.stdin
    sys.stdin = io.StringIO(text)
    try:
        code = main(list(args))
    finally:
        sys.stdin = saved
    out, err = capsys.readouterr()
    return code, out, err


def _export_text(url: str) -> str:
    out = io.StringIO()
    from airflow_lineage import records

    with connect(url) as store:
        records.dump(store.export(), out)
    return out.getvalue()


def test_a_bad_file_imports_nothing(
    lineage: Lineage, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    lines = _export_text(lineage.url).splitlines()
    target = f"sqlite:///{tmp_path / 'target.db'}"
    assert main(["--store", target, "db", "upgrade"]) == 0

    at = next(i for i, line in enumerate(lines) if '"Produced"' in line)
    broken = [*lines[:at], lines[at].replace('"Produced"', '"Made"'), *lines[at + 1 :]]
    code, out, err = _run_with_stdin(capsys, "\n".join(broken), "--store", target, "import")
    assert (code, out) == (2, "")
    assert err == (
        f"airflow-lineage: error: line {at + 1}: invalid Association record: "
        "AssociationType must be one of ContributedTo, AssociatedWith, DerivedFrom, "
        "Produced, SameAs; got 'Made'\n"
    )
    assert _export_text(target) == ""

    # an association to an entity in neither the file nor the store: found before writing
    code_arn = lineage.arn["code"]
    missing = [line for line in lines if json.loads(line).get("arn") != code_arn]
    at = next(i for i, line in enumerate(missing) if f'"source_arn":"{code_arn}"' in line)
    code, out, err = _run_with_stdin(capsys, "\n".join(missing), "--store", target, "import")
    assert (code, out) == (1, "")
    assert err == (
        f"airflow-lineage: error: line {at + 1}: field 'source_arn': "
        f"no lineage entity has the ARN {code_arn}, in the file or in the store; "
        "nothing was imported\n"
    )
    assert _export_text(target) == ""

    (tmp_path / "dup.jsonl").write_text("\n".join([*lines, lines[0]]) + "\n")
    assert main(["--store", target, "import", str(tmp_path / "dup.jsonl")]) == 2
    assert capsys.readouterr().err.startswith(
        f"airflow-lineage: error: line 16: duplicate Artifact {lineage.arn['raw']} "
        "(first on line 1)"
    )
    assert main(["--store", target, "import", str(tmp_path / "none.jsonl")]) == 1
    assert capsys.readouterr().err == (
        f"airflow-lineage: error: No such file or directory: {tmp_path / 'none.jsonl'}\n"
    )
    assert main(["--store", target, "export", "-o", str(tmp_path / "no" / "dir.jsonl")]) == 1
    assert capsys.readouterr().err == (
        f"airflow-lineage: error: No such file or directory: {tmp_path / 'no' / 'dir.jsonl'}\n"
    )
    assert _export_text(target) == ""


# -- a real process ---------------------------------------------------------------------


def test_the_console_script(
    lineage: Lineage, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    script = Path(sys.executable).with_name("airflow-lineage")
    if not script.exists():
        pytest.skip(f"the console script is not installed next to {sys.executable}")
    args = ["query", "--name", "churn-endpoint", "--direction", "ascendants", "--format", "tree"]
    expected = lineage.run(capsys, *args)
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "home")}
    env.pop("AIRFLOW__ML_LINEAGE__STORE_URL", None)
    env.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)  # it logs to stdout once Airflow loads
    done = subprocess.run(
        [str(script), "--store", lineage.url, *args], capture_output=True, text=True, env=env
    )
    assert (done.returncode, done.stdout, done.stderr) == expected

    # without --store: the embedded SQLite file in $AIRFLOW_HOME, once it is created
    exported = _export_text(lineage.url)
    done = subprocess.run([str(script), "db", "upgrade"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    home_db = tmp_path / "home" / "lineage.db"
    assert done.stderr == (
        f"airflow-lineage: upgraded sqlite:///{home_db} (the embedded default "
        "$AIRFLOW_HOME/lineage.db; no connection 'lineage_default', no [ml_lineage] "
        "store_url) from revision none to 0007\n"
    )
    done = subprocess.run(
        [str(script), "import"], input=exported, text=True, env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "home" / "lineage.db").exists()
    done = subprocess.run([str(script), *args], capture_output=True, text=True, env=env)
    assert (done.returncode, done.stdout, done.stderr) == expected

    done = subprocess.run(
        [sys.executable, "-m", "airflow_lineage.cli", "query", f"{ACCOUNT}:action/nope"],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    assert done.returncode == 1
    assert (
        done.stderr
        == f"airflow-lineage: error: no lineage entity has the ARN {ACCOUNT}:action/nope\n"
    )


def test_import_into_a_store_that_has_the_entities_keeps_the_newer_version(
    lineage: Lineage, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
    assert main(["--store", lineage.url, "export", "-o", str(old)]) == 0
    with connect(lineage.url) as store:
        store.update(lineage.arn["deploy"], status="Failed", properties={"reason": "quota"})
    assert main(["--store", lineage.url, "export", "-o", str(new)]) == 0

    def status(url: str) -> str:
        with connect(url) as store:
            deploy = store.get(lineage.arn["deploy"])
        assert isinstance(deploy, Action)
        return deploy.status.value

    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    assert main(["--store", copy, "db", "upgrade"]) == 0
    assert main(["--store", copy, "import", str(old)]) == 0
    assert main(["--store", copy, "import", "--keep-existing", str(new)]) == 0
    assert capsys.readouterr().err.endswith(
        "(8 entities were in the store already; each was kept as it is)\n"
    )
    assert status(copy) == "Completed"
    assert main(["--store", copy, "import", str(new)]) == 0
    assert status(copy) == "Failed"
    assert main(["--store", copy, "import", str(old)]) == 0  # an older record never wins
    assert status(copy) == "Failed"
    assert main(["--store", copy, "export"]) == 0
    assert capsys.readouterr().out.encode() == new.read_bytes()


# -- which store: one rule, said out loud ------------------------------------------------


def _clean_env(home: Path) -> dict[str, str]:
    """Return the environment of a fresh Airflow home with no lineage settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__LINEAGE__", "AIRFLOW__ML_LINEAGE__", "AIRFLOW_CONN_"))
        and k not in ("AIRFLOW_CONFIG", "AIRFLOW__CORE__UNIT_TEST_MODE")
    }
    env["AIRFLOW_HOME"] = str(home)
    return env


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "airflow_lineage.cli", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def test_a_missing_store_is_named_with_why_and_not_created(tmp_path: Path) -> None:
    env = _clean_env(tmp_path / "home")
    done = _cli(env, "query", f"{ACCOUNT}:action/nope")
    assert done.returncode == 1
    assert done.stderr == (
        f"airflow-lineage: error: no lineage store at {tmp_path / 'home' / 'lineage.db'}: the "
        "file does not exist; create it with `airflow-lineage db upgrade` (or `airflow db "
        f"migrate`) [store sqlite:///{tmp_path / 'home' / 'lineage.db'} (the embedded default "
        "$AIRFLOW_HOME/lineage.db; no connection 'lineage_default', no [ml_lineage] store_url)]\n"
    )
    assert not (tmp_path / "home" / "lineage.db").exists()
    assert _cli(env, "db", "check").returncode == 1


def test_the_cli_reads_the_lineage_connection_then_airflow_cfg(
    lineage: Lineage, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = _clean_env(home)
    args = ["query", "--name", "churn-endpoint", "--direction", "ascendants"]
    # 1. airflow.cfg's [ml_lineage] store_url (read without importing Airflow)
    (home / "airflow.cfg").write_text(
        f"[core]\nload_examples = False\n\n[ml_lineage]\nstore_url = {lineage.url}\n"
    )
    done = _cli(env, *args)
    assert done.returncode == 0, done.stderr
    assert lineage.arn["raw"] in done.stdout
    assert _cli(env, "db", "current").stderr == (
        f"airflow-lineage: store: {lineage.url} ([ml_lineage] store_url; no connection "
        "'lineage_default')\n"
    )
    # 2. the lineage connection wins over the option ...
    other = f"sqlite:///{tmp_path / 'other.db'}"
    assert main(["--store", other, "db", "upgrade"]) == 0
    conn = {"conn_type": "lineage", "extra": {"url": other}}
    env["AIRFLOW_CONN_LINEAGE_DEFAULT"] = json.dumps(conn)
    done = _cli(env, *args)
    assert done.returncode == 1
    assert done.stderr == "airflow-lineage: error: no lineage entity is named 'churn-endpoint'\n"
    assert _cli(env, "db", "current").stderr == (
        f"airflow-lineage: store: {other} (the connection 'lineage_default')\n"
    )
    # 3. ... and an explicit URL over both; the env variable over airflow.cfg
    assert _cli(env, "--store", lineage.url, *args).returncode == 0
    del env["AIRFLOW_CONN_LINEAGE_DEFAULT"]
    env["AIRFLOW__ML_LINEAGE__STORE_URL"] = other
    assert "[ml_lineage] store_url" in _cli(env, "db", "current").stderr
    assert _cli(env, *args).returncode == 1


def test_db_upgrade_current_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert main(["--store", url, "db", "current"]) == 0
    assert capsys.readouterr().out == "none\n"
    assert main(["--store", url, "db", "check"]) == 1
    assert "holds no lineage store yet" in capsys.readouterr().err
    assert main(["--store", url, "db", "upgrade"]) == 0
    assert capsys.readouterr().err == (
        f"airflow-lineage: upgraded {url} (given explicitly) from revision none to 0007\n"
    )
    assert main(["--store", url, "db", "upgrade"]) == 0
    assert capsys.readouterr().err == (
        f"airflow-lineage: {url} (given explicitly) is current (revision 0007)\n"
    )
    assert main(["--store", url, "db", "check"]) == 0
    assert main(["--store", url, "db", "current"]) == 0
    assert capsys.readouterr().out == "0007\n"
