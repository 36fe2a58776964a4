"""Bugs the fuzzers found, each pinned by the smallest input that showed it."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from airflow_lineage import connect

from ..conftest import create_store


@pytest.fixture
def url(tmp_path: Path) -> str:
    return create_store(f"sqlite:///{tmp_path / 'lineage.db'}")


@pytest.mark.parametrize(
    ("op", "kwargs"),
    [
        ("list_artifacts", {"CreatedBefore": 67_768_036_191_676_800}),
        ("query_lineage", {"StartArns": [], "Filters": {"CreatedAfter": 2**63}}),
    ],
)
def test_an_epoch_out_of_range_is_a_validation_error_not_a_runtime_error(
    url: str, op: str, kwargs: dict[str, object]
) -> None:
    # botocore's own validator raised RuntimeError("Unable to calculate correct timezone
    # offset") through the facade.
    with connect(url) as store, pytest.raises(ClientError) as caught:
        getattr(store.as_boto3_client(), op)(**kwargs)
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_a_time_bound_given_as_text_is_a_type_error(url: str) -> None:
    # It was an AttributeError ('str' object has no attribute 'timestamp').
    with connect(url) as store, pytest.raises(TypeError, match="expected a datetime"):
        store.list_entities("Artifact", created_after="yesterday")  # type: ignore[arg-type]


def test_a_page_size_past_64_bits_is_a_value_error(url: str) -> None:
    with connect(url) as store, pytest.raises(ValueError, match="MaxResults"):
        store.list_entities("Artifact", max_results=2**64)


def test_a_bad_yaml_policy_is_reported_on_one_line(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # PyYAML's report points at the column over three lines; it was printed as is.
    from airflow_lineage.cli import main as cli

    policy = tmp_path / "policy.yaml"
    policy.write_text("' OR '1'='1")
    code = cli(["--store", url, "gate", "--uri", "s3://m", "--policy", str(policy)])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (
        f"airflow-lineage: error: policy file {policy} is not valid YAML: expected '"
        "<document start>', but found '<scalar>' at line 1, column 7\n"
    )


def test_a_duration_past_the_year_1_is_a_clear_error() -> None:
    from airflow_lineage.cli import parse_when

    for text in ("P99999Y", "P999999999D", "PT99999999999H"):
        with pytest.raises(ValueError, match="before the year 1"):
            parse_when(text)
