"""Fuzz the boto3-shaped client: every failure is a botocore ``ClientError`` with a
code, as SageMaker answers, and no call with a bad field changes the store."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from airflow_lineage import connect

from .conftest import Seeded
from .strategies import ANY_VALUE, ARN, HUGE, PROPERTIES, TEXT, TOKEN, fuzz

READS = 3000
WRITES = 1500


@pytest.fixture(scope="module")
def client(seeded: Seeded) -> Iterator[Any]:
    with connect(seeded.url) as store:
        yield store.as_boto3_client()


def _opt(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Some of the fields, each maybe a value of the wrong type."""
    return st.fixed_dictionaries(
        {}, optional={k: st.one_of(v, ANY_VALUE) for k, v in fields.items()}
    )


LISTING = dict(
    SourceUri=TEXT,
    CreatedAfter=HUGE,
    CreatedBefore=TEXT,
    SortBy=TEXT,
    SortOrder=st.sampled_from(["Ascending", "Descending", "Up", ""]),
    NextToken=TOKEN,
    MaxResults=HUGE,
)

READ_CALLS = st.one_of(
    st.tuples(st.just("describe_artifact"), _opt(ArtifactArn=ARN)),
    st.tuples(st.just("describe_action"), _opt(ActionName=st.one_of(ARN, TEXT))),
    st.tuples(st.just("describe_context"), _opt(ContextName=st.one_of(ARN, TEXT))),
    st.tuples(st.just("list_artifacts"), _opt(ArtifactType=TEXT, **LISTING)),
    st.tuples(st.just("list_actions"), _opt(ActionType=TEXT, **LISTING)),
    st.tuples(st.just("list_contexts"), _opt(ContextType=TEXT, **LISTING)),
    st.tuples(
        st.just("list_associations"),
        _opt(SourceArn=ARN, DestinationArn=ARN, AssociationType=TEXT, **LISTING),
    ),
    st.tuples(
        st.just("query_lineage"),
        _opt(
            StartArns=st.lists(ARN, max_size=4),
            Direction=st.sampled_from(["Both", "Ascendants", "Descendants", "both", "Up"]),
            IncludeEdges=st.booleans(),
            Filters=_opt(
                Types=st.lists(TEXT, max_size=3),
                LineageTypes=st.lists(TEXT, max_size=3),
                CreatedBefore=HUGE,
                ModifiedAfter=TEXT,
                Properties=PROPERTIES,
            ),
            MaxDepth=HUGE,
            MaxResults=HUGE,
            NextToken=TOKEN,
        ),
    ),
)


def _assert_clear(error: BaseException) -> None:
    assert isinstance(error, ClientError), f"{type(error).__name__}: {error}"
    assert error.response["Error"]["Code"], error.response


def _unchanged(seeded: Seeded, watch: sqlite3.Connection, version: int) -> None:
    assert seeded.data_version(watch) == version, "the call changed the store"


@fuzz(READS)
@given(call=READ_CALLS)
def test_reads_answer_or_fail_with_a_client_error(
    client: Any, seeded: Seeded, watch: sqlite3.Connection, call: tuple[str, dict[str, Any]]
) -> None:
    version = seeded.data_version(watch)
    op, kwargs = call
    try:
        getattr(client, op)(**kwargs)
    except Exception as e:  # what the fuzzer is after
        _assert_clear(e)
    _unchanged(seeded, watch, version)


_TOO_MANY = st.dictionaries(
    st.text("abcdefgh", min_size=1, max_size=8), st.just("v"), min_size=31, max_size=40
)
_POISON = st.sampled_from(
    [
        {"ArtifactType": "T" * 257},
        {"Source": {"SourceUri": "s3://b/" + "k" * 2048}},
        {"Source": {"SourceUri": ""}},
        {"Source": "not a structure"},
        {"ArtifactType": None},
    ]
)


@st.composite
def _write_call(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    """A write that cannot succeed: a field is malformed, or it names no entity."""
    op = draw(
        st.sampled_from(
            [
                "create_artifact",
                "create_action",
                "create_context",
                "update_artifact",
                "update_action",
                "delete_artifact",
                "delete_action",
                "add_association",
                "delete_association",
            ]
        )
    )
    props = draw(st.one_of(PROPERTIES, _TOO_MANY))
    if op == "create_artifact":
        kwargs = {
            "Source": {"SourceUri": draw(TEXT)},
            "ArtifactType": draw(TEXT),
            "Properties": props,
        }
        kwargs.update(draw(_POISON))
        return op, kwargs
    if op in ("create_action", "create_context"):
        kind = "Action" if op == "create_action" else "Context"
        return op, {
            f"{kind}Name": draw(TEXT) + "!bad name!",  # names allow letters, digits, '-'
            "Source": {"SourceUri": draw(TEXT)},
            f"{kind}Type": draw(TEXT),
            "Properties": props,
        }
    if op == "update_artifact":
        return op, {"ArtifactArn": draw(ARN), "Properties": props}
    if op == "update_action":
        return op, {"ActionName": draw(TEXT) + "!", "Status": draw(TEXT), "Properties": props}
    if op == "delete_artifact":
        return op, {"ArtifactArn": draw(ARN)}
    if op == "delete_action":
        return op, {"ActionName": draw(st.one_of(ARN, TEXT)) + "!"}
    return op, {"SourceArn": draw(ARN), "DestinationArn": draw(ARN), "AssociationType": draw(TEXT)}


@fuzz(WRITES)
@given(call=_write_call())
def test_bad_writes_fail_with_a_client_error_and_change_nothing(
    client: Any, seeded: Seeded, watch: sqlite3.Connection, call: tuple[str, dict[str, Any]]
) -> None:
    version = seeded.data_version(watch)
    op, kwargs = call
    with pytest.raises(Exception) as caught:
        getattr(client, op)(**kwargs)
    _assert_clear(caught.value)
    _unchanged(seeded, watch, version)
