"""The SageMaker store returns exactly the SQL store's result for the same graph.

The same graph is written to an SQLite store and, through a Stubber-validated client, to
the fake SageMaker service (which pages QueryLineage by 2, repeats vertices across pages
and throttles). Queries deeper than SageMaker's limit of 10 and with three start ARNs
must give the same vertices in the same order, the same edges and the same pages.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import Action, Artifact, Association, Context, LineageFilter, LineageQuery
from airflow_lineage.store.base import LineageStore
from airflow_lineage.store.sql import SqlStore
from tests.store.test_sagemaker_contract import make_fake, make_store

ACCOUNT = "123456789012"
REGION = "us-east-1"


def graph() -> tuple[list[Any], list[Association], dict[str, str]]:
    """Return a pipeline with a 15-step data chain, two trainings and deployments."""
    kw = {"account": ACCOUNT, "region": REGION}
    chain = [Artifact.new(f"s3://data/v{i}", "DataSet", **kw) for i in range(16)]
    image = Artifact.new("ecr://train:1", "Image", **kw)
    train = [Action.new(f"train{i}", "Training", f"job/{i}", **kw) for i in range(2)]
    model = [
        Artifact.new(f"s3://model/{i}", "Model", properties={"i": str(i)}, **kw) for i in range(2)
    ]
    deploy = [Action.new(f"deploy{i}", "ModelDeployment", f"ep/{i}", **kw) for i in range(2)]
    endpoint = [Context.new(f"endpoint{i}", "Endpoint", f"ep/{i}", **kw) for i in range(2)]
    edges = [Association(a.arn, b.arn, "DerivedFrom") for a, b in itertools.pairwise(chain)]
    for i in range(2):
        edges += [
            Association(chain[-1].arn, train[i].arn, "ContributedTo"),
            Association(image.arn, train[i].arn, "ContributedTo"),
            Association(train[i].arn, model[i].arn, "Produced"),
            Association(model[i].arn, deploy[i].arn, "ContributedTo"),
            Association(deploy[i].arn, endpoint[i].arn, "AssociatedWith"),
        ]
    edges.append(Association(model[1].arn, model[0].arn, "DerivedFrom"))
    ents = [*chain, image, *train, *model, *deploy, *endpoint]
    named = {
        "head": chain[0].arn,
        "tail": chain[-1].arn,
        "image": image.arn,
        "endpoint0": endpoint[0].arn,
        "endpoint1": endpoint[1].arn,
    }
    return ents, edges, named


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[LineageStore, LineageStore, dict[str, str]]]:
    ents, edges, named = graph()
    sql = SqlStore(
        f"sqlite:///{tmp_path / 'parity.db'}", account=ACCOUNT, region=REGION, create=True
    )
    fake = make_fake(account=ACCOUNT, region=REGION)
    sm = make_store(fake)
    for s in (sql, sm):
        s.write(ents, edges)
    yield sql, sm, named
    fake.stubber.assert_no_pending_responses()
    sql.close()


def all_pages(store: LineageStore, query: LineageQuery, size: int) -> list[Any]:
    pages, token = [], None
    while True:
        page = store.query(dataclasses.replace(query, max_results=size, next_token=token))
        pages.append((page.vertices, page.edges))
        token = page.next_token
        if token is None:
            return pages


CASES = [
    dict(start=("head",), direction="Descendants", max_depth=20),
    dict(start=("head",), direction="Descendants", max_depth=13, include_edges=True),
    dict(start=("endpoint0",), direction="Ascendants", max_depth=25, include_edges=True),
    dict(start=("endpoint0",), direction="Both", max_depth=30, include_edges=True),
    dict(start=("endpoint1",), direction="Ascendants", max_depth=12, types=("DataSet",)),
    dict(start=("head", "image", "endpoint1"), direction="Both", max_depth=4, include_edges=True),
    dict(start=("head", "image", "endpoint1"), direction="Descendants", max_depth=11),
    dict(
        start=("endpoint0", "endpoint1", "tail"),
        direction="Ascendants",
        max_depth=18,
        include_edges=True,
        types=("Image", "Model"),
    ),
    dict(
        start=("endpoint0", "endpoint1", "image"),
        direction="Ascendants",
        max_depth=15,
        properties={"i": "1"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_same_result_as_the_sql_store(
    stores: tuple[LineageStore, LineageStore, dict[str, str]], case: dict[str, Any]
) -> None:
    sql, sm, named = stores
    query = LineageQuery(
        start_arns=tuple(named[s] for s in case["start"]),
        direction=case["direction"],
        max_depth=case["max_depth"],
        include_edges=case.get("include_edges", False),
        filters=LineageFilter(types=case.get("types", ()), properties=case.get("properties", {})),
    )
    want = sql.query(query)
    got = sm.query(query)
    assert want.vertices, "the case must return something"
    assert got.vertices == want.vertices
    assert got.edges == want.edges
    assert all_pages(sm, query, 3) == all_pages(sql, query, 3)


def test_deeper_than_ten_reaches_the_whole_chain(
    stores: tuple[LineageStore, LineageStore, dict[str, str]],
) -> None:
    sql, sm, named = stores
    query = LineageQuery(start_arns=(named["endpoint0"],), direction="Ascendants", max_depth=30)
    got = sm.query(query)
    assert named["head"] in got.arns()  # 20 associations away
    assert got == sql.query(query)


def test_export_matches(stores: tuple[LineageStore, LineageStore, dict[str, str]]) -> None:
    sql, sm, _ = stores
    assert set(sm.export()) == set(sql.export())
    assert len(list(sm.export())) == len(list(sql.export()))
