"""``airflow-lineage gate`` and the cut-off note of ``airflow-lineage query``, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_lineage import Action, Artifact, Association, connect
from airflow_lineage.cli import main
from airflow_lineage.verify import digest_local

POLICY = "required:\n  - {lineage_type: Action, type: Training, status: Completed}\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def lineage(tmp_path: Path) -> dict[str, str]:
    """data -> train -> model.pkl (Model), with a Report at the same URI as the model."""
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    data = tmp_path / "data.csv"
    data.write_text("x\n1\n")
    model = tmp_path / "model.pkl"
    model.write_text("weights")
    a = {
        "data": Artifact.new(data.as_uri(), "DataSet", source_types=digest_local(data.as_uri())),
        "train": Action.new("train", "Training", "u", status="Completed"),
        "model": Artifact.new(model.as_uri(), "Model", source_types=digest_local(model.as_uri())),
    }
    with connect(url, create=True) as store:
        store.write(
            list(a.values()),
            [
                Association(a["data"].arn, a["train"].arn, "ContributedTo"),
                Association(a["train"].arn, a["model"].arn, "Produced"),
            ],
        )
        store.create_artifact(model.as_uri(), "Report")  # newer, same URI, not a model
    (tmp_path / "policy.yaml").write_text(POLICY)
    return {"url": url, "policy": str(tmp_path / "policy.yaml"), **{k: v.arn for k, v in a.items()}}


def test_gate_by_uri_picks_the_model_type_and_passes(
    lineage: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri = (tmp_path / "model.pkl").as_uri()
    code, out, _ = run(
        capsys, "--store", lineage["url"], "gate", "--uri", uri, "--policy", lineage["policy"],
        "--format", "json",
    )  # fmt: skip
    report = json.loads(out)
    assert code == 0, out
    assert report["model"] == lineage["model"]
    assert report["artifacts"] == {"verified": 2, "exempted": 0, "unverifiable": 0}
    # The data changes: rejected (exit 3).
    (tmp_path / "data.csv").write_text("x\n2\n")
    code, out, _ = run(
        capsys, "--store", lineage["url"], "gate", "--uri", uri, "--policy", lineage["policy"]
    )
    assert code == 3 and "REJECTED" in out and "data.csv changed" in out


def test_gate_by_uri_refuses_what_is_not_a_model_or_ambiguous(
    lineage: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (tmp_path / "data.csv").as_uri()
    code, _, err = run(
        capsys, "--store", lineage["url"], "gate", "--uri", data, "--policy", lineage["policy"]
    )
    assert code == 1
    assert "no artifact of a model type (Model, ModelPackage)" in err
    assert lineage["data"] in err  # what the URI does name
    with connect(lineage["url"]) as store:
        package = store.create_artifact((tmp_path / "model.pkl").as_uri(), "ModelPackage")
    model = (tmp_path / "model.pkl").as_uri()
    code, _, err = run(
        capsys, "--store", lineage["url"], "gate", "--uri", model, "--policy", lineage["policy"]
    )
    assert code == 2
    assert lineage["model"] in err and package.arn in err and "by its ARN" in err


@pytest.mark.parametrize(
    ("text", "code", "message"),
    [
        (None, 1, "does not exist"),
        ("verify_digests: true\n", 2, "at least one rule"),
        ("required: [ {type: x\n", 2, "not valid YAML"),
    ],
)
def test_gate_refuses_a_policy_it_cannot_use(
    lineage: dict[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    text: str | None,
    code: int,
    message: str,
) -> None:
    policy = tmp_path / "other.yaml"
    if text is not None:
        policy.write_text(text)
    got, out, err = run(
        capsys, "--store", lineage["url"], "gate", lineage["model"], "--policy", str(policy)
    )
    assert (got, out) == (code, "")
    assert message in err


def test_query_says_when_the_walk_was_cut_off(
    lineage: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--store", lineage["url"], "query", lineage["model"], "--direction", "ascendants"]
    code, out, _ = run(capsys, *base, "--depth", "1", "--format", "json")
    assert code == 0
    assert json.loads(out)["CutOff"] == {"Depth": True, "Visibility": False}
    code, out, _ = run(capsys, *base, "--depth", "2", "--format", "json")
    assert code == 0 and "CutOff" not in json.loads(out)  # SageMaker's shape, exactly
