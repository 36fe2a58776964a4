"""Without a filter, a query's path subgraph is the one a filter matching everything gives.

Without a filter every walked vertex but a start is a match, and the engine skips the
backwards search for paths to matches unless a move leads back to a start. A filter that
every entity passes takes the search; both must return the same vertices and edges, on
any graph: cycles, moves back into a start, several starts, every direction and depth.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_lineage import Artifact, Association, LineageFilter, LineageQuery, connect

from ..conftest import create_store

_graphs = st.integers(2, 7).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.sets(
            st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)).filter(lambda e: e[0] != e[1]),
            max_size=14,
        ),
        st.sets(st.integers(0, n - 1), min_size=1, max_size=2),
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    graph=_graphs,
    direction=st.sampled_from(["Descendants", "Ascendants", "Both"]),
    depth=st.integers(1, 4),
)
def test_no_filter_and_a_filter_matching_everything_agree(
    tmp_path_factory: pytest.TempPathFactory,
    graph: tuple[int, set[tuple[int, int]], set[int]],
    direction: str,
    depth: int,
) -> None:
    n, edges, starts = graph
    url = create_store(f"sqlite:///{tmp_path_factory.mktemp('graph') / 'lineage.db'}")
    with connect(url) as store:
        ents = [Artifact.new(f"s3://graph/{i}", "DataSet") for i in range(n)]
        store.write(ents, [Association(ents[s].arn, ents[d].arn, "DerivedFrom") for s, d in edges])
        base = {
            "start_arns": tuple(ents[i].arn for i in sorted(starts)),
            "direction": direction,
            "max_depth": depth,
            "include_edges": True,
        }
        plain = store.query(LineageQuery(**base))
        everything = store.query(LineageQuery(**base, filters=LineageFilter(types=("DataSet",))))
    assert plain.vertices == everything.vertices
    assert plain.edges == everything.edges
