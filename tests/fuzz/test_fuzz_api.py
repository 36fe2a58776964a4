"""Fuzz the Python API: entities refuse bad values at construction, and the store
answers or raises ``ValueError``/``TypeError``/``LineageError``; bad writes change nothing."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_lineage import (
    Action,
    Artifact,
    Association,
    Context,
    LineageError,
    LineageFilter,
    LineageQuery,
    LineageStore,
    connect,
)
from airflow_lineage.model import Arn

from .conftest import Seeded
from .strategies import ANY_VALUE, ARN, HUGE, PROPERTIES, TEXT, TOKEN, fuzz

ENTITIES = 1500
READS = 1500
WRITES = 500

CLEAR = (ValueError, TypeError, LineageError)


@pytest.fixture(scope="module")
def store(seeded: Seeded) -> Iterator[LineageStore]:
    with connect(seeded.url) as s:
        yield s


def _maybe_wrong(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(strategy, ANY_VALUE)


@st.composite
def _construction(draw: st.DrawFn) -> tuple[Any, tuple[Any, ...], dict[str, Any]]:
    kind = draw(st.sampled_from(["artifact", "action", "context", "association", "arn"]))
    props = draw(_maybe_wrong(PROPERTIES))
    if kind == "artifact":
        args = (draw(_maybe_wrong(TEXT)), draw(_maybe_wrong(TEXT)))
        kwargs = {"properties": props, "name": draw(_maybe_wrong(TEXT)), "tags": props}
        return Artifact.new, args, kwargs
    if kind in ("action", "context"):
        args = (draw(_maybe_wrong(TEXT)), draw(_maybe_wrong(TEXT)), draw(_maybe_wrong(TEXT)))
        kwargs = {"properties": props, "description": draw(_maybe_wrong(TEXT))}
        if kind == "action":
            kwargs["status"] = draw(_maybe_wrong(TEXT))
        return (Action.new if kind == "action" else Context.new), args, kwargs
    if kind == "association":
        kwargs = {
            "source_arn": draw(_maybe_wrong(ARN)),
            "destination_arn": draw(_maybe_wrong(ARN)),
            "association_type": draw(_maybe_wrong(TEXT)),
        }
        return Association, (), kwargs
    return Arn.parse, (draw(_maybe_wrong(ARN)),), {}


@fuzz(ENTITIES)
@given(call=_construction())
def test_entities_are_valid_or_refused_with_a_clear_error(
    call: tuple[Any, tuple[Any, ...], dict[str, Any]],
) -> None:
    make, args, kwargs = call
    with contextlib.suppress(CLEAR):
        make(*args, **kwargs)


PAGE = st.one_of(
    st.integers(-(2**70), 2**70), st.sampled_from([0, -1, 10**6, 2**31, 2**62 + 1, 2**64])
)
"""Page sizes, past SQLite's 64-bit integers too."""
KINDS = st.one_of(st.sampled_from(["Artifact", "Action", "Context"]), TEXT)


@st.composite
def _read(draw: st.DrawFn, seeded: Seeded) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    real = st.sampled_from(sorted(seeded.arns.values()))
    op = draw(st.sampled_from(["get", "get_many", "list_entities", "list_associations", "query"]))
    if op == "get":
        return op, (draw(_maybe_wrong(ARN)),), {}
    if op == "get_many":
        return op, (draw(st.lists(st.one_of(ARN, real), max_size=5)),), {}
    paging = {"max_results": draw(_maybe_wrong(PAGE)), "next_token": draw(_maybe_wrong(TOKEN))}
    if op == "list_entities":
        kwargs = {
            "type": draw(_maybe_wrong(TEXT)),
            "source_uri": draw(_maybe_wrong(TEXT)),
            "name": draw(_maybe_wrong(TEXT)),
            "created_after": draw(ANY_VALUE),
        }
        chosen = draw(st.sets(st.sampled_from(sorted(kwargs))))
        return op, (draw(KINDS),), {k: kwargs[k] for k in chosen} | paging
    if op == "list_associations":
        kwargs = {
            "source_arn": draw(st.one_of(ARN, real)),
            "association_type": draw(_maybe_wrong(TEXT)),
        }
        return op, (), kwargs | paging
    query = {
        "start_arns": tuple(draw(st.lists(st.one_of(ARN, real), max_size=4))),
        "direction": draw(st.one_of(st.sampled_from(["Both", "Ascendants", "Descendants"]), TEXT)),
        "max_depth": draw(st.one_of(st.integers(0, 1000), HUGE)),
        "include_edges": draw(st.booleans()),
        "filters": LineageFilter(),
    } | paging
    return op, (), {"query": query, "filters": draw(PROPERTIES), "types": draw(st.lists(TEXT))}


@fuzz(READS)
@given(data=st.data())
def test_store_reads_answer_or_fail_clearly(
    store: LineageStore, seeded: Seeded, watch: sqlite3.Connection, data: st.DataObject
) -> None:
    version = seeded.data_version(watch)
    op, args, kwargs = data.draw(_read(seeded))
    try:
        if op == "query":
            flt = LineageFilter(properties=kwargs["filters"], types=tuple(kwargs["types"]))
            store.query(LineageQuery(**(kwargs["query"] | {"filters": flt})))
        else:
            getattr(store, op)(*args, **kwargs)
    except CLEAR:
        pass
    assert seeded.data_version(watch) == version


@st.composite
def _bad_write(draw: st.DrawFn) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
    op = draw(st.sampled_from(["create_artifact", "add_association", "update", "delete"]))
    if op == "create_artifact":
        poison = draw(
            st.sampled_from([("", "DataSet"), ("s3://b/k", "T" * 257), ("x" * 2049, "M")])
        )
        return op, poison, {"properties": draw(_maybe_wrong(PROPERTIES))}
    if op == "add_association":
        return op, (draw(ARN), draw(ARN), draw(_maybe_wrong(TEXT))), {}
    if op == "update":
        return op, (draw(ARN),), {"properties": draw(_maybe_wrong(PROPERTIES))}
    return op, (draw(ARN),), {"disassociate": draw(st.booleans())}


@fuzz(WRITES)
@given(call=_bad_write())
def test_bad_writes_are_refused_and_change_nothing(
    store: LineageStore,
    seeded: Seeded,
    watch: sqlite3.Connection,
    call: tuple[str, tuple[Any, ...], dict[str, Any]],
) -> None:
    version = seeded.data_version(watch)
    op, args, kwargs = call
    with pytest.raises(CLEAR):
        getattr(store, op)(*args, **kwargs)
    assert seeded.data_version(watch) == version
