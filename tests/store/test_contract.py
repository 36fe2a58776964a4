"""The store contract: the same cases on every backend (SQLite, PostgreSQL).

The query cases run on one small ML lineage graph (see :func:`ml_graph`), chosen so that
each rule of the query semantics changes the answer.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from airflow_lineage import (
    Action,
    ActionStatus,
    Artifact,
    Association,
    AssociationsExistError,
    Context,
    Direction,
    EntityNotFoundError,
    InvalidPageTokenError,
    LineageFilter,
    LineageQuery,
    LineageStore,
    connect,
)

from ..conftest import create_store

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Graph:
    arn: dict[str, str]

    def names(self, arns: list[str]) -> set[str]:
        by_arn = {v: k for k, v in self.arn.items()}
        return {by_arn[a] for a in arns}


def ml_graph(store: LineageStore) -> Graph:
    """Build two models trained on shared features and a shared image.

    raw -> prep -> feat -> trainA -> modelA -> deployA -> endpointA
                       \\-> trainB -> modelB -> deployB -> endpointB
    image -> trainA, image -> trainB
    Entity i is created at T0 + i hours (in the order below).
    """

    def t(i: int) -> datetime:
        return T0 + timedelta(hours=i)

    ents: dict[str, Any] = {
        "raw": Artifact.new(
            "s3://data/raw.csv", "DataSet", properties={"approved": "true"}, created=t(0)
        ),
        "prep": Action.new(
            "prep", "DataPreparation", "airflow://ml/prep", status="Completed", created=t(1)
        ),
        "feat": Artifact.new(
            "s3://data/features", "DataSet", properties={"pii": "false"}, created=t(2)
        ),
        "image": Artifact.new("ecr://train:1", "Image", created=t(3)),
        "trainA": Action.new(
            "trainA", "Training", "airflow://ml/trainA", status="Completed", created=t(4)
        ),
        "trainB": Action.new(
            "trainB", "Training", "airflow://ml/trainB", status="Failed", created=t(5)
        ),
        "modelA": Artifact.new(
            "s3://models/a.tar.gz", "Model", properties={"stage": "prod"}, created=t(6)
        ),
        "modelB": Artifact.new("s3://models/b.tar.gz", "Model", created=t(7)),
        "deployA": Action.new("deployA", "ModelDeployment", "endpoint/a", created=t(8)),
        "deployB": Action.new("deployB", "ModelDeployment", "endpoint/b", created=t(9)),
        "endpointA": Context.new("endpointA", "Endpoint", "endpoint/a", created=t(10)),
        "endpointB": Context.new("endpointB", "Endpoint", "endpoint/b", created=t(11)),
    }
    edges = [
        ("raw", "prep", "ContributedTo"),
        ("prep", "feat", "Produced"),
        ("feat", "trainA", "ContributedTo"),
        ("feat", "trainB", "ContributedTo"),
        ("image", "trainA", "ContributedTo"),
        ("image", "trainB", "ContributedTo"),
        ("trainA", "modelA", "Produced"),
        ("trainB", "modelB", "Produced"),
        ("modelA", "deployA", "ContributedTo"),
        ("modelB", "deployB", "ContributedTo"),
        ("deployA", "endpointA", "AssociatedWith"),
        ("deployB", "endpointB", "AssociatedWith"),
    ]
    store.write(
        ents.values(),
        [Association(ents[s].arn, ents[d].arn, kind, T0) for s, d, kind in edges],  # type: ignore[arg-type]
    )
    return Graph({k: e.arn for k, e in ents.items()})


def q(g: Graph, *starts: str, **kw: Any) -> LineageQuery:
    flt = kw.pop("filters", None)
    return LineageQuery(
        start_arns=tuple(g.arn[s] for s in starts),
        filters=LineageFilter(**flt) if flt else LineageFilter(),
        **kw,
    )


def names(store: LineageStore, g: Graph, query: LineageQuery) -> set[str]:
    return g.names(store.query(query).arns())


def edge_names(g: Graph, result: Any) -> set[tuple[str, str, str]]:
    by_arn = {v: k for k, v in g.arn.items()}
    return {
        (by_arn[e.source_arn], by_arn[e.destination_arn], e.association_type.value)
        for e in result.edges
    }


# -- direction ---------------------------------------------------------------------------


def test_descendants_follow_edges_forward(store: LineageStore) -> None:
    g = ml_graph(store)
    got = names(store, g, q(g, "raw", direction="Descendants"))
    assert got == {
        "prep",
        "feat",
        "trainA",
        "trainB",
        "modelA",
        "modelB",
        "deployA",
        "deployB",
        "endpointA",
        "endpointB",
    }


def test_ascendants_follow_edges_backwards(store: LineageStore) -> None:
    g = ml_graph(store)
    assert names(store, g, q(g, "modelA", direction="Ascendants")) == {
        "trainA",
        "feat",
        "image",
        "prep",
        "raw",
    }
    assert names(store, g, q(g, "endpointB", direction="Ascendants")) == {
        "deployB",
        "modelB",
        "trainB",
        "feat",
        "image",
        "prep",
        "raw",
    }


def test_both_is_an_undirected_walk_reaching_sibling_branches(store: LineageStore) -> None:
    g = ml_graph(store)
    both = names(store, g, q(g, "modelA", direction="Both"))
    up = names(store, g, q(g, "modelA", direction="Ascendants"))
    down = names(store, g, q(g, "modelA", direction="Descendants"))
    # The sibling branch (trainB's model and endpoint) is reached only by turning around.
    assert {"trainB", "modelB", "deployB", "endpointB"} <= both
    assert not {"trainB", "modelB"} & (up | down)
    assert both == set(g.arn) - {"modelA"}


def test_unknown_start_is_not_found(store: LineageStore) -> None:
    g = ml_graph(store)
    missing = g.arn["modelA"][:-4] + "ffff"
    with pytest.raises(EntityNotFoundError, match="ffff"):
        store.query(LineageQuery(start_arns=(missing,)))


def test_many_start_entities_in_one_query(store: LineageStore) -> None:
    g = ml_graph(store)
    got = names(store, g, q(g, "endpointA", "endpointB", direction="Ascendants", max_depth=2))
    assert got == {"deployA", "modelA", "deployB", "modelB"}
    # One start reachable from the other is still never returned as a match.
    got = names(store, g, q(g, "raw", "feat", direction="Descendants", max_depth=1))
    assert got == {"prep", "trainA", "trainB"}


# -- depth --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("depth", "expected"),
    [
        (0, set()),
        (1, {"prep"}),
        (2, {"prep", "feat"}),
        (3, {"prep", "feat", "trainA", "trainB"}),
    ],
)
def test_depth_counts_associations_from_the_start(
    store: LineageStore, depth: int, expected: set[str]
) -> None:
    g = ml_graph(store)
    assert names(store, g, q(g, "raw", direction="Descendants", max_depth=depth)) == expected


def test_depth_one_hundred_on_a_long_chain(store: LineageStore) -> None:
    chain = [Artifact.new(f"s3://chain/v{i}", "DataSet") for i in range(130)]
    store.write(
        chain, [Association(a.arn, b.arn, "DerivedFrom") for a, b in itertools.pairwise(chain)]
    )
    result = store.query(
        LineageQuery(start_arns=(chain[0].arn,), direction="Descendants", max_depth=100)
    )
    assert result.arns() == [c.arn for c in chain[1:101]]  # ordered by distance
    deeper = store.query(
        LineageQuery(start_arns=(chain[-1].arn,), direction="Ascendants", max_depth=1000)
    )
    assert len(deeper.vertices) == 129


def test_depth_bounds_are_validated() -> None:
    arn = Artifact.new("s3://x", "DataSet").arn
    with pytest.raises(ValueError, match="MaxDepth"):
        LineageQuery(start_arns=(arn,), max_depth=-1)
    with pytest.raises(ValueError, match="MaxDepth"):
        LineageQuery(start_arns=(arn,), max_depth=1001)
    with pytest.raises(TypeError, match="MaxDepth"):
        LineageQuery(start_arns=(arn,), max_depth="3")  # type: ignore[arg-type]


# -- filters ------------------------------------------------------------------------------


def test_types_filter_selects_without_pruning_the_walk(store: LineageStore) -> None:
    g = ml_graph(store)
    # Endpoints are reached only through actions and models, which the filter rejects.
    got = names(store, g, q(g, "raw", direction="Descendants", filters={"types": ("Endpoint",)}))
    assert got == {"endpointA", "endpointB"}


def test_or_within_a_list(store: LineageStore) -> None:
    g = ml_graph(store)
    got = names(
        store, g, q(g, "raw", direction="Descendants", filters={"types": ("Model", "Endpoint")})
    )
    assert got == {"modelA", "modelB", "endpointA", "endpointB"}
    got = names(
        store,
        g,
        q(g, "endpointA", direction="Ascendants", filters={"lineage_types": ("Action", "Context")}),
    )
    assert got == {"deployA", "trainA", "prep"}


def test_and_across_fields(store: LineageStore) -> None:
    g = ml_graph(store)
    assert (
        names(
            store,
            g,
            q(
                g,
                "raw",
                direction="Descendants",
                filters={"types": ("Model",), "lineage_types": ("Action",)},
            ),
        )
        == set()
    )
    assert names(
        store,
        g,
        q(
            g,
            "raw",
            direction="Descendants",
            filters={"types": ("Model",), "lineage_types": ("Artifact",)},
        ),
    ) == {"modelA", "modelB"}


def test_lineage_type_filter(store: LineageStore) -> None:
    g = ml_graph(store)
    got = names(
        store,
        g,
        q(g, "endpointA", direction="Ascendants", filters={"lineage_types": ("Artifact",)}),
    )
    assert got == {"modelA", "feat", "image", "raw"}


def test_properties_match_any_pair(store: LineageStore) -> None:
    g = ml_graph(store)
    flt = {"properties": {"approved": "true", "stage": "prod"}}
    assert names(store, g, q(g, "deployA", direction="Ascendants", filters=flt)) == {
        "raw",
        "modelA",
    }
    flt = {"properties": {"approved": "false"}}
    assert names(store, g, q(g, "deployA", direction="Ascendants", filters=flt)) == set()


def test_created_bounds_are_inclusive(store: LineageStore) -> None:
    g = ml_graph(store)
    after = {"created_after": T0 + timedelta(hours=6)}
    assert names(store, g, q(g, "raw", direction="Descendants", filters=after)) == {
        "modelA",
        "modelB",
        "deployA",
        "deployB",
        "endpointA",
        "endpointB",
    }
    before = {"created_before": T0 + timedelta(hours=2)}
    assert names(store, g, q(g, "endpointA", direction="Ascendants", filters=before)) == {
        "raw",
        "prep",
        "feat",
    }
    window = {"created_after": T0 + timedelta(hours=3), "created_before": T0 + timedelta(hours=4)}
    assert names(store, g, q(g, "endpointA", direction="Ascendants", filters=window)) == {
        "image",
        "trainA",
    }


def test_modified_bounds_follow_updates(store: LineageStore) -> None:
    g = ml_graph(store)
    cut = datetime.now(UTC)
    store.update(g.arn["trainB"], status="Completed")
    got = names(store, g, q(g, "feat", direction="Descendants", filters={"modified_after": cut}))
    assert got == {"trainB"}
    got = names(store, g, q(g, "feat", direction="Descendants", filters={"modified_before": cut}))
    assert got == {"trainA", "modelA", "modelB", "deployA", "deployB", "endpointA", "endpointB"}


# -- start vertex and IncludeEdges -----------------------------------------------------------


def test_start_vertex_is_never_a_match_without_edges(store: LineageStore) -> None:
    g = ml_graph(store)
    got = names(store, g, q(g, "modelA", direction="Both", filters={"types": ("Model",)}))
    assert got == {"modelB"}


def test_include_edges_returns_the_start_and_the_whole_walk_without_filters(
    store: LineageStore,
) -> None:
    g = ml_graph(store)
    result = store.query(q(g, "modelA", direction="Ascendants", include_edges=True))
    assert result.arns()[0] == g.arn["modelA"]
    assert g.names(result.arns()) == {"modelA", "trainA", "feat", "image", "prep", "raw"}
    assert edge_names(g, result) == {
        ("trainA", "modelA", "Produced"),
        ("feat", "trainA", "ContributedTo"),
        ("image", "trainA", "ContributedTo"),
        ("prep", "feat", "Produced"),
        ("raw", "prep", "ContributedTo"),
    }


def test_include_edges_keeps_only_paths_from_start_to_matches(store: LineageStore) -> None:
    g = ml_graph(store)
    result = store.query(
        q(
            g,
            "endpointA",
            direction="Ascendants",
            include_edges=True,
            filters={"types": ("DataSet",)},
        )
    )
    # The image is upstream of the endpoint but on no path to a DataSet.
    assert g.names(result.arns()) == {
        "endpointA",
        "deployA",
        "modelA",
        "trainA",
        "feat",
        "prep",
        "raw",
    }
    assert edge_names(g, result) == {
        ("deployA", "endpointA", "AssociatedWith"),
        ("modelA", "deployA", "ContributedTo"),
        ("trainA", "modelA", "Produced"),
        ("feat", "trainA", "ContributedTo"),
        ("prep", "feat", "Produced"),
        ("raw", "prep", "ContributedTo"),
    }


def test_include_edges_respects_depth_on_paths(store: LineageStore) -> None:
    g = ml_graph(store)
    result = store.query(
        q(
            g,
            "endpointA",
            direction="Ascendants",
            include_edges=True,
            max_depth=4,
            filters={"types": ("DataSet",)},
        )
    )
    # raw is 6 hops away: out of depth, so prep (on the way to it only) is left out too.
    assert g.names(result.arns()) == {"endpointA", "deployA", "modelA", "trainA", "feat"}


def test_include_edges_on_an_undirected_walk(store: LineageStore) -> None:
    g = ml_graph(store)
    result = store.query(
        q(g, "trainA", direction="Both", include_edges=True, filters={"types": ("Endpoint",)})
    )
    # Both ways round to the sibling endpoint (via feat and via image) are on a path;
    # the dead ends upstream (prep, raw) are not.
    assert g.names(result.arns()) == {
        "trainA",
        "modelA",
        "deployA",
        "endpointA",
        "feat",
        "image",
        "trainB",
        "modelB",
        "deployB",
        "endpointB",
    }
    assert ("raw", "prep", "ContributedTo") not in edge_names(g, result)
    assert ("feat", "trainB", "ContributedTo") in edge_names(g, result)
    assert ("image", "trainB", "ContributedTo") in edge_names(g, result)


def test_edges_are_only_among_returned_vertices(store: LineageStore) -> None:
    g = ml_graph(store)
    result = store.query(q(g, "image", direction="Both", include_edges=True, max_depth=3))
    returned = set(result.arns())
    for e in result.edges:
        assert e.source_arn in returned and e.destination_arn in returned


# -- pagination ------------------------------------------------------------------------------


@pytest.mark.parametrize("include_edges", [False, True])
@pytest.mark.parametrize("size", [1, 2, 3, 5, 50])
def test_pages_have_no_duplicates_or_gaps(
    store: LineageStore, size: int, include_edges: bool
) -> None:
    g = ml_graph(store)
    whole = store.query(q(g, "image", direction="Both", include_edges=include_edges))
    vertices: list[str] = []
    edges: list[Any] = []
    token = None
    pages = 0
    while True:
        page = store.query(
            q(
                g,
                "image",
                direction="Both",
                include_edges=include_edges,
                max_results=size,
                next_token=token,
            )
        )
        assert len(page.vertices) <= size
        seen_so_far = set(vertices) | set(page.arns())
        for e in page.edges:  # an edge comes with the page holding its later vertex
            assert e.source_arn in seen_so_far and e.destination_arn in seen_so_far
            assert e.source_arn in page.arns() or e.destination_arn in page.arns()
        vertices += page.arns()
        edges += page.edges
        pages += 1
        token = page.next_token
        if token is None:
            break
    assert vertices == whole.arns()
    assert len(vertices) == len(set(vertices))
    assert sorted(edges, key=str) == sorted(whole.edges, key=str)
    assert pages == -(-len(whole.vertices) // size)


def test_pages_are_stable_across_store_instances(store_url: str) -> None:
    with connect(store_url) as first:
        g = ml_graph(first)
        page1 = first.query(q(g, "raw", direction="Descendants", max_results=4))
    with connect(store_url) as second:  # no shared cache: the result is recomputed
        page2 = second.query(
            q(g, "raw", direction="Descendants", max_results=4, next_token=page1.next_token)
        )
        whole = second.query(q(g, "raw", direction="Descendants"))
    assert page1.arns() + page2.arns() == whole.arns()[:8]


def test_foreign_or_broken_tokens_are_refused(store: LineageStore) -> None:
    g = ml_graph(store)
    page = store.query(q(g, "raw", direction="Descendants", max_results=2))
    with pytest.raises(InvalidPageTokenError, match="different query"):
        store.query(
            q(
                g,
                "raw",
                direction="Descendants",
                max_results=2,
                max_depth=3,
                next_token=page.next_token,
            )
        )
    with pytest.raises(InvalidPageTokenError):
        store.query(q(g, "raw", direction="Descendants", max_results=2, next_token="garbage!"))


def test_results_are_deterministic(store: LineageStore) -> None:
    g = ml_graph(store)
    runs = {
        tuple(store.query(q(g, "trainB", direction="Both", include_edges=True)).arns())
        for _ in range(3)
    }
    assert len(runs) == 1


# -- cycles ----------------------------------------------------------------------------------


@pytest.mark.parametrize("direction", list(Direction))
def test_cycles_terminate(store: LineageStore, direction: Direction) -> None:
    a, b, c = (Artifact.new(f"s3://cycle/{n}", "DataSet") for n in "abc")
    copy = Artifact.new("s3://other-account/a", "DataSet")
    store.write(
        [a, b, c, copy],
        [
            Association(a.arn, b.arn, "DerivedFrom"),
            Association(b.arn, c.arn, "DerivedFrom"),
            Association(c.arn, a.arn, "DerivedFrom"),
            Association(a.arn, copy.arn, "SameAs"),
            Association(copy.arn, a.arn, "SameAs"),
        ],
    )
    result = store.query(
        LineageQuery(start_arns=(a.arn,), direction=direction, max_depth=1000, include_edges=True)
    )
    assert set(result.arns()) == {a.arn, b.arn, c.arn, copy.arn}
    assert len(result.edges) == 5


# -- cut-off: a bounded walk says so ----------------------------------------------------------


@pytest.mark.parametrize("include_edges", [False, True])
@pytest.mark.parametrize(
    ("start", "direction", "exact"),
    [
        ("raw", "Descendants", 6),  # raw -> ... -> endpointA / endpointB
        ("endpointA", "Ascendants", 6),  # endpointA -> ... -> raw
        ("modelA", "Ascendants", 4),  # modelA <- trainA <- feat <- prep <- raw
        ("endpointA", "Both", 8),  # ... -> feat -> trainB -> modelB -> deployB -> endpointB
    ],
)
def test_depth_cut_off_is_exact_at_the_boundary(
    store: LineageStore, start: str, direction: str, exact: int, include_edges: bool
) -> None:
    g = ml_graph(store)

    def result(depth: int) -> Any:
        return store.query(
            q(g, start, direction=direction, max_depth=depth, include_edges=include_edges)
        )

    for depth in range(exact):
        assert result(depth).depth_cut_off, f"depth {depth} leaves lineage behind"
    for depth in (exact, exact + 1, 50):
        whole = result(depth)
        assert not whole.depth_cut_off, f"depth {depth} reaches everything"
        assert not whole.cut_off
    assert not result(exact).visibility_cut_off  # one account: nothing is hidden


def test_every_page_says_the_walk_was_cut_off(store: LineageStore) -> None:
    g = ml_graph(store)
    token = None
    flags = []
    while True:
        page = store.query(
            q(g, "raw", direction="Descendants", max_depth=2, max_results=1, next_token=token)
        )
        flags.append((page.depth_cut_off, page.visibility_cut_off))
        token = page.next_token
        if token is None:
            break
    assert flags == [(True, False)] * 2  # prep, feat; trainA and trainB are past depth 2


@pytest.mark.parametrize("include_edges", [False, True])
@pytest.mark.parametrize("direction", list(Direction))
def test_a_cycle_back_into_the_walk_is_not_a_cut_off(
    store: LineageStore, direction: Direction, include_edges: bool
) -> None:
    a, b, c = (Artifact.new(f"s3://loop/{n}", "DataSet") for n in "abc")
    store.write(
        [a, b, c],
        [
            Association(a.arn, b.arn, "DerivedFrom"),
            Association(b.arn, c.arn, "DerivedFrom"),
            Association(c.arn, a.arn, "DerivedFrom"),
        ],
    )

    def cut(depth: int) -> bool:
        query = LineageQuery(
            start_arns=(a.arn,), direction=direction, max_depth=depth, include_edges=include_edges
        )
        return store.query(query).depth_cut_off

    # Every vertex is reached at depth 2 (1 for an undirected walk); what lies beyond
    # the frontier then leads back into the walk.
    reach = 1 if direction is Direction.BOTH else 2
    assert cut(reach - 1)
    assert not cut(reach)
    assert not cut(reach + 5)


def test_hidden_lineage_is_flagged_only_for_the_account_that_cannot_see_it(
    store_url: str,
) -> None:
    me, other = "000000000000", "111111111111"
    with connect(store_url) as mine:
        g = ml_graph(mine)
        mine.share(other)  # the other team may link its lineage to ours
    with connect(store_url, account=other) as theirs:
        theirs.accept(me)
        secret = theirs.create_artifact("s3://their-bucket/secret.csv", "DataSet")
        theirs.add_association(secret.arn, g.arn["prep"], "ContributedTo")
        # They see everything on the path: nothing is hidden from them.
        seen = theirs.query(q(g, "modelA", direction="Ascendants", include_edges=True))
        assert secret.arn in seen.arns()
        assert not seen.visibility_cut_off and not seen.cut_off

    with connect(store_url) as mine:
        for include_edges in (False, True):
            up = mine.query(q(g, "modelA", direction="Ascendants", include_edges=include_edges))
            assert up.visibility_cut_off and up.cut_off
            assert not up.depth_cut_off
            assert secret.arn not in up.arns()
            assert secret.arn not in {e.source_arn for e in up.edges}
            assert "their-bucket" not in repr(up)  # a flag, never the hidden entity
        # Walks that never touch the hidden entity are not flagged.
        down = mine.query(q(g, "modelA", direction="Descendants", include_edges=True))
        assert not down.visibility_cut_off
        short = mine.query(q(g, "modelA", direction="Ascendants", max_depth=2))
        assert not short.visibility_cut_off  # prep is 3 hops up: not walked
        assert short.depth_cut_off
        # Once the other team shares its lineage and we accept, nothing is hidden.
        with connect(store_url, account=other) as theirs:
            theirs.share(me)
        mine.accept(other)
        now = mine.query(q(g, "modelA", direction="Ascendants", include_edges=True))
        assert secret.arn in now.arns() and not now.cut_off


# -- idempotent creates ------------------------------------------------------------------------


def test_creates_return_what_exists(store: LineageStore) -> None:
    first = store.create_artifact("s3://data/raw.csv", "DataSet", properties={"v": "1"})
    again = store.create_artifact("s3://data/raw.csv", "DataSet", properties={"v": "2"})
    assert again == first  # the first create wins; updates go through update()
    other_type = store.create_artifact("s3://data/raw.csv", "Model")
    assert other_type.arn != first.arn
    act = store.create_action("train-1", "Training", "airflow://ml/train")
    assert store.create_action("train-1", "Training", "airflow://ml/train") == act
    ctx = store.create_context("run_1", "PipelineExecution", "airflow://ml/run_1")
    assert store.create_context("run_1", "PipelineExecution", "airflow://ml/run_1") == ctx
    e1 = store.add_association(first.arn, act.arn, "ContributedTo")
    e2 = store.add_association(first.arn, act.arn, "ContributedTo")
    assert e1 == e2
    assert len(store.list_entities("Artifact").items) == 2
    assert len(store.list_associations().items) == 1


def _create_everything(url: str, rounds: int) -> list[str]:
    """Create the same entities and edges many times (run in 8 processes at once)."""
    arns = []
    with connect(url) as s:
        for i in range(rounds):
            a = s.create_artifact(f"s3://shared/{i % 5}", "DataSet")
            act = s.create_action(f"step-{i % 5}", "Processing", "airflow://x")
            ctx = s.create_context(f"run_{i % 5}", "PipelineExecution", "airflow://x")
            s.add_association(a.arn, act.arn, "ContributedTo")
            s.add_association(act.arn, ctx.arn, "AssociatedWith")
            batch = [Artifact.new(f"s3://batch/{j}", "Model") for j in range(10)]
            s.write(batch, [Association(act.arn, m.arn, "Produced") for m in batch])
            arns += [a.arn, act.arn, ctx.arn]
    return sorted(set(arns))


def test_idempotent_creates_under_eight_concurrent_processes(store_url: str) -> None:
    connect(store_url).close()  # the schema exists before the race; the race is on rows
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        results = pool.starmap(_create_everything, [(store_url, 15)] * 8)
    assert all(r == results[0] for r in results)
    with connect(store_url) as s:
        assert len(s.list_entities("Artifact").items) == 5 + 10
        assert len(s.list_entities("Action").items) == 5
        assert len(s.list_entities("Context").items) == 5
        assert len(s.list_associations().items) == 5 + 5 + 5 * 10


def test_concurrent_writers_create_everything_once(tmp_path: Any) -> None:
    url = create_store(f"sqlite:///{tmp_path / 'fresh.db'}")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        results = pool.starmap(_create_everything, [(url, 2)] * 8)
    assert all(r == results[0] for r in results)


# -- update and delete --------------------------------------------------------------------------


def test_update_merges_and_removes_properties(store: LineageStore) -> None:
    act = store.create_action(
        "train-1", "Training", "airflow://ml/train", properties={"a": "1", "b": "2"}
    )
    updated = store.update(
        act.arn, status="Completed", properties={"b": "3", "c": "4"}, properties_to_remove=["a"]
    )
    assert isinstance(updated, Action)
    assert updated.status is ActionStatus.COMPLETED
    assert dict(updated.properties) == {"b": "3", "c": "4"}
    assert updated.modified is not None and updated.modified >= act.created
    assert store.get(act.arn) == updated


def test_update_refuses_fields_of_other_kinds(store: LineageStore) -> None:
    art = store.create_artifact("s3://x", "DataSet")
    with pytest.raises(ValueError, match="Status applies to actions"):
        store.update(art.arn, status="Completed")
    with pytest.raises(ValueError, match="Status must be one of"):
        store.update(store.create_action("a", "T", "u").arn, status="Done")
    with pytest.raises(EntityNotFoundError):
        store.update(art.arn[:-4] + "0000", properties={"a": "b"})


def test_delete_is_refused_while_associations_exist(store: LineageStore) -> None:
    g = ml_graph(store)
    with pytest.raises(AssociationsExistError, match="3 association"):
        store.delete(g.arn["trainA"])
    assert store.get(g.arn["trainA"])  # still there
    store.delete(g.arn["trainA"], disassociate=True)
    with pytest.raises(EntityNotFoundError):
        store.get(g.arn["trainA"])
    assert g.arn["trainA"] not in {a.destination_arn for a in store.list_associations().items}
    assert names(store, g, q(g, "modelA", direction="Ascendants")) == set()


def test_delete_association(store: LineageStore) -> None:
    g = ml_graph(store)
    store.delete_association(g.arn["image"], g.arn["trainA"])
    assert "image" not in names(store, g, q(g, "modelA", direction="Ascendants"))
    with pytest.raises(EntityNotFoundError, match="no association"):
        store.delete_association(g.arn["image"], g.arn["trainA"])


# -- listing ----------------------------------------------------------------------------------


def test_list_by_type_uri_and_time_with_pages(store: LineageStore) -> None:
    g = ml_graph(store)
    models = store.list_entities("Artifact", type="Model")
    assert [e.arn for e in models.items] == [g.arn["modelB"], g.arn["modelA"]]  # newest first
    by_uri = store.list_entities("Action", source_uri="endpoint/a")
    assert [e.arn for e in by_uri.items] == [g.arn["deployA"]]
    window = store.list_entities(
        "Artifact",
        created_after=T0 + timedelta(hours=2),
        created_before=T0 + timedelta(hours=6),
        ascending=True,
    )
    assert [e.arn for e in window.items] == [g.arn["feat"], g.arn["image"], g.arn["modelA"]]
    seen, token = [], None
    while True:
        page = store.list_entities("Artifact", max_results=2, next_token=token)
        seen += [e.arn for e in page.items]
        token = page.next_token
        if token is None:
            break
    assert seen == [e.arn for e in store.list_entities("Artifact").items]
    assert len(seen) == 5


def test_list_associations_by_endpoint(store: LineageStore) -> None:
    g = ml_graph(store)
    out = store.list_associations(source_arn=g.arn["feat"])
    assert {a.destination_arn for a in out.items} == {g.arn["trainA"], g.arn["trainB"]}
    into = store.list_associations(
        destination_arn=g.arn["trainA"], association_type="ContributedTo"
    )
    assert {a.source_arn for a in into.items} == {g.arn["feat"], g.arn["image"]}


def test_every_account_has_its_default_lineage_group(store: LineageStore) -> None:
    assert store.lineage_groups() == []
    store.create_artifact("s3://x", "DataSet")
    (group,) = store.lineage_groups()
    assert group.name == "sagemaker-default-lineage-group"
    assert (
        group.arn
        == "arn:aws:sagemaker:local:000000000000:lineage-group/sagemaker-default-lineage-group"
    )


def test_entities_round_trip_every_field(store: LineageStore) -> None:
    art = Artifact.new(
        "s3://x",
        "Model",
        name="my-model",
        source_types=[("Custom", "sha256:ab")],
        properties={"k": "v"},
        metadata_properties={"CommitId": "abc"},
        tags={"team": "ml"},
        created=T0,
    )
    act = Action.new(
        "a-1",
        "Training",
        "u",
        status="InProgress",
        description="d",
        source_type="SageMakerTrainingJob",
        source_id="job-1",
        created=T0,
    )
    ctx = Context.new("c_1", "Endpoint", "u", description="e", created=T0)
    store.write([art, act, ctx])
    assert store.get_many([art.arn, act.arn, ctx.arn]) == {art.arn: art, act.arn: act, ctx.arn: ctx}
    assert list(store.export()) == [art, act, ctx]


# -- validation: clear errors, nothing written ----------------------------------------------------


BAD_ENTITIES = [
    (lambda: Artifact.new("", "DataSet"), ValueError, "SourceUri"),
    (lambda: Artifact.new("s3://x" + "x" * 2048, "DataSet"), ValueError, "SourceUri"),
    (lambda: Artifact.new("s3://x", "t" * 257), ValueError, "ArtifactType"),
    (lambda: Artifact.new("s3://x", "DataSet", name="bad name"), ValueError, "ArtifactName"),
    (
        lambda: Artifact.new("s3://x", "DataSet", properties={str(i): "v" for i in range(31)}),
        ValueError,
        "Properties",
    ),
    (
        lambda: Artifact.new("s3://x", "DataSet", properties={"k": "v" * 4097}),
        ValueError,
        "Properties",
    ),
    (lambda: Artifact.new("s3://x", "DataSet", properties={"k": 1}), TypeError, "Properties"),  # type: ignore[dict-item]
    (
        lambda: Artifact.new("s3://x", "DataSet", source_types=[("SHA1", "x")]),
        ValueError,
        "SourceIdType",
    ),
    (
        lambda: Artifact.new("s3://x", "DataSet", source_types=[("Custom", "x" * 257)]),
        ValueError,
        "SourceTypes.Value",
    ),
    (lambda: Artifact.new("s3://x", "DataSet", account="12345"), ValueError, "account"),
    (
        lambda: Artifact.new("s3://x", "DataSet", metadata_properties={"Commit": "x"}),
        ValueError,
        "MetadataProperties",
    ),
    (lambda: Artifact.new("s3://x", "DataSet", tags={"": "x"}), ValueError, "Tags key"),
    (
        lambda: Artifact.new("s3://x", "DataSet", created=datetime(2026, 1, 1)),
        ValueError,
        "created",
    ),
    (lambda: Action.new("has space", "Training", "u"), ValueError, "ActionName"),
    (lambda: Action.new("a" * 121, "Training", "u"), ValueError, "ActionName"),
    (lambda: Action.new("under_score", "Training", "u"), ValueError, "ActionName"),
    (lambda: Action.new("a", "Training", "u", status="Done"), ValueError, "Status"),
    (lambda: Action.new("a", "Training", "u", description="d" * 3073), ValueError, "Description"),
    (
        lambda: Action.new("a", "Training", "u", properties={"k": "v" * 2501}),
        ValueError,
        "Properties",
    ),
    (lambda: Context.new("-lead", "Endpoint", "u"), ValueError, "ContextName"),
    (lambda: Context.new("c", "Endpoint", ""), ValueError, "SourceUri"),
    (
        lambda: Association("arn:aws:sagemaker:local:000000000000:artifact/a", "not-an-arn"),
        ValueError,
        "DestinationArn",
    ),
    (
        lambda: Association(
            "arn:aws:sagemaker:local:000000000000:model/a",
            "arn:aws:sagemaker:local:000000000000:artifact/b",
        ),
        ValueError,
        "SourceArn",
    ),
    (
        lambda: Association(
            "arn:aws:sagemaker:local:000000000000:artifact/a",
            "arn:aws:sagemaker:local:000000000000:artifact/a",
        ),
        ValueError,
        "same ARN",
    ),
    (
        lambda: Association(
            "arn:aws:sagemaker:local:000000000000:artifact/a",
            "arn:aws:sagemaker:local:000000000000:artifact/b",
            "Caused",
        ),
        ValueError,
        "AssociationType",
    ),
    (
        lambda: Association(
            "arn:aws:sagemaker:local:000000000000:experiment/a",
            "arn:aws:sagemaker:local:000000000000:experiment-trial-component/b",
        ),
        ValueError,
        "experiment",
    ),
    (lambda: LineageFilter(lineage_types=("Model",)), ValueError, "LineageTypes"),
    (lambda: LineageFilter(types="Model"), TypeError, "Types"),  # type: ignore[arg-type]
    (lambda: LineageQuery(start_arns=()), ValueError, "StartArns"),
    (lambda: LineageQuery(start_arns=("nope",)), ValueError, "StartArns"),
    (
        lambda: LineageQuery(
            start_arns=("arn:aws:sagemaker:local:000000000000:artifact/a",), direction="Up"
        ),
        ValueError,
        "Direction",
    ),
    (
        lambda: LineageQuery(
            start_arns=("arn:aws:sagemaker:local:000000000000:artifact/a",), max_results=0
        ),
        ValueError,
        "MaxResults",
    ),
]


@pytest.mark.parametrize(("build", "error", "field"), BAD_ENTITIES)
def test_bad_input_names_the_field(build: Any, error: type[Exception], field: str) -> None:
    with pytest.raises(error, match=field):
        build()


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create_artifact("", "DataSet"),
        lambda s: s.create_artifact("s3://x", "DataSet", properties={"k": "v" * 5000}),
        lambda s: s.create_action("bad name", "Training", "u"),
        lambda s: s.create_context("c", "Endpoint", "u", description="d" * 4000),
        lambda s: s.add_association("arn:aws:sagemaker:local:000000000000:artifact/a", "junk"),
        lambda s: s.update("junk", properties={}),
    ],
)
def test_store_calls_with_bad_input_write_nothing(store: LineageStore, call: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        call(store)
    assert list(store.export()) == []


def test_a_batch_with_a_dangling_edge_writes_nothing(store: LineageStore) -> None:
    a = Artifact.new("s3://a", "DataSet")
    ghost = Artifact.new("s3://ghost", "DataSet")
    with pytest.raises(EntityNotFoundError, match=ghost.arn):
        store.write([a], [Association(a.arn, ghost.arn, "DerivedFrom")])
    assert list(store.export()) == []
    assert store.lineage_groups() == []


def test_write_refuses_non_entities(store: LineageStore) -> None:
    with pytest.raises(TypeError, match="Artifact, Action or Context"):
        store.write([{"arn": "x"}])  # type: ignore[list-item]
    assert list(store.export()) == []


def test_upsert_updates_mutable_fields_last_writer_wins(store: LineageStore) -> None:
    start = Action.new("train-1", "Training", "u", status="InProgress", created=T0)
    store.write([start])
    done = Action.new(
        "train-1", "Training", "u", status="Completed", properties={"metric:acc": "0.9"}, created=T0
    )
    done = dataclasses.replace(done, modified=T0 + timedelta(minutes=5))
    store.write([done], upsert=True)
    assert store.get(start.arn) == done
    # A late replay of the older start record does not roll the action back.
    store.write([start], upsert=True)
    assert store.get(start.arn) == done
    # Without upsert an existing entity is left as it is.
    store.write([Action.new("train-1", "Training", "u", status="Failed")])
    assert store.get(start.arn).status is ActionStatus.COMPLETED  # type: ignore[union-attr]


def _try(status: str, try_number: str, at: timedelta, **props: str) -> Action:
    """The record of action ``train-1`` a worker whose clock reads ``T0 + at`` writes."""
    action = Action.new(
        "train-1",
        "Training",
        "u",
        status=status,
        properties={"airflow:try_number": try_number, **props},
        created=T0,
    )
    return dataclasses.replace(action, modified=T0 + at)


def test_action_status_moves_forward_only_whatever_the_clocks(store: LineageStore) -> None:
    def status() -> tuple[str, str]:
        found = store.get(arn)
        assert isinstance(found, Action)
        return found.status.value, found.properties["airflow:try_number"]

    hour, minute = timedelta(hours=1), timedelta(minutes=1)
    ahead = _try("InProgress", "1", hour)  # a worker whose clock is one hour ahead
    arn = ahead.arn
    store.write([ahead], upsert=True)
    store.write([_try("Completed", "1", 5 * minute)], upsert=True)
    assert status() == ("Completed", "1")  # not frozen by the earlier, later-stamped start
    store.write([_try("InProgress", "1", 2 * hour)], upsert=True)  # a late replay
    store.write([_try("Stopping", "1", 3 * hour)], upsert=True)
    assert status() == ("Completed", "1")
    # Same progress: the newer record wins (metrics logged after the status).
    store.write([_try("Completed", "1", 6 * minute, **{"metric:acc": "0.9"})], upsert=True)
    store.write([_try("Completed", "1", 4 * minute)], upsert=True)
    assert store.get(arn).properties.get("metric:acc") == "0.9"
    # A later try moves on whatever its clock; tries compare as numbers (10 after 9).
    store.write([_try("InProgress", "9", -hour)], upsert=True)
    assert status() == ("InProgress", "9")
    store.write([_try("Failed", "10", -2 * hour)], upsert=True)
    store.write([_try("Completed", "9", 5 * hour)], upsert=True)
    assert status() == ("Failed", "10")
    # Artifacts and contexts keep the newest modification time.
    ctx = Context.new("run", "PipelineExecution", "u", properties={"a": "1"}, created=T0)
    store.write([dataclasses.replace(ctx, modified=T0 + hour)])
    store.write([dataclasses.replace(ctx, properties={"a": "old"}, modified=T0)], upsert=True)
    assert store.get(ctx.arn).properties == {"a": "1"}


def test_same_uri_with_other_content_is_another_artifact_version(store: LineageStore) -> None:
    v1 = store.create_artifact(
        "file:///data/raw.csv", "DataSet", source_types=[("Custom", "sha256:aa")]
    )
    again = store.create_artifact(
        "file:///data/raw.csv", "DataSet", source_types=[("Custom", "sha256:aa")]
    )
    v2 = store.create_artifact(
        "file:///data/raw.csv", "DataSet", source_types=[("Custom", "sha256:bb")]
    )
    assert again == v1 and v2.arn != v1.arn
    listed = store.list_entities("Artifact", source_uri="file:///data/raw.csv")
    assert {e.arn for e in listed.items} == {v1.arn, v2.arn}


# -- pages read by other processes ---------------------------------------------------------

_READ_PAGE = """
import json, sys
from airflow_lineage import LineageQuery, connect
url, start, size, token = json.loads(sys.argv[1])
with connect(url) as store:
    page = store.query(LineageQuery(start_arns=[start], direction="Descendants",
                                    max_results=size, next_token=token))
print(json.dumps({"arns": page.arns(), "next": page.next_token}))
"""


def _page_in_new_process(url: str, start: str, size: int, token: str) -> dict[str, Any]:
    """Read one page of a Descendants query in a new process, from a new store."""
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _READ_PAGE, json.dumps([url, start, size, token])],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_pages_read_by_other_processes_after_a_write_neither_repeat_nor_skip(
    store_url: str,
) -> None:
    """Page 1 here; a write that adds vertices and shortens a path; the rest elsewhere."""
    with connect(store_url) as s:
        root = Action.new("root", "Processing", "airflow://x")
        chain = [Action.new(f"c{i:02}", "Processing", "airflow://x") for i in range(1, 9)]
        fan = [Action.new(f"f{i}", "Processing", "airflow://x") for i in range(1, 5)]
        path = [root, *chain]
        s.write(
            [root, *chain, *fan],
            [Association(a.arn, b.arn, "ContributedTo") for a, b in itertools.pairwise(path)]
            + [Association(root.arn, f.arn, "ContributedTo") for f in fan],
        )
        whole = s.query(LineageQuery(start_arns=[root.arn], direction="Descendants")).arns()
        page = s.query(LineageQuery(start_arns=[root.arn], direction="Descendants", max_results=3))
        # c07 moves from depth 7 to depth 1, before the position page 1 ended at; a new
        # vertex sorts first at depth 1; c08 moves up too.
        extra = Action.new("a-new", "Processing", "airflow://x")
        s.write(
            [extra],
            [
                Association(root.arn, chain[6].arn, "ContributedTo"),
                Association(root.arn, extra.arn, "ContributedTo"),
            ],
        )
    read = page.arns()
    token = page.next_token
    while token is not None:
        nxt = _page_in_new_process(store_url, root.arn, 3, token)
        read += nxt["arns"]
        token = nxt["next"]
    assert read == whole
    with connect(store_url) as s:  # a new query sees the write
        after = s.query(LineageQuery(start_arns=[root.arn], direction="Descendants")).arns()
    assert after[:2] == [extra.arn, chain[0].arn] and chain[6].arn in after[:6]


def test_edited_and_foreign_page_tokens_are_refused(store: LineageStore) -> None:
    import base64
    import json

    g = ml_graph(store)
    page = store.query(q(g, "raw", direction="Descendants", max_results=2))
    assert page.next_token
    padded = page.next_token + "=" * (-len(page.next_token) % 4)
    body, check = json.loads(base64.urlsafe_b64decode(padded))
    fields = json.loads(body)
    fields[2] = [0, ""]  # back to the start: a position this query never handed out
    forged = json.dumps([json.dumps(fields, separators=(",", ":")), check])
    token = base64.urlsafe_b64encode(forged.encode()).decode()
    with pytest.raises(InvalidPageTokenError, match="not a token"):
        store.query(q(g, "raw", direction="Descendants", max_results=2, next_token=token))
    listing = store.list_entities("Artifact", max_results=1)
    assert listing.next_token
    with pytest.raises(InvalidPageTokenError, match="different"):  # a listing's token
        store.query(q(g, "raw", direction="Descendants", next_token=listing.next_token))
    with pytest.raises(InvalidPageTokenError, match="different"):  # and the other way
        store.list_entities("Artifact", max_results=1, next_token=page.next_token)
    # The page size is no part of the query: a keyset token continues at any size.
    rest = store.query(
        q(g, "raw", direction="Descendants", max_results=50, next_token=page.next_token)
    )
    whole = store.query(q(g, "raw", direction="Descendants"))
    assert page.arns() + rest.arns() == whole.arns()
