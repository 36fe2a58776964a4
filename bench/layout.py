"""Layout quality: edge crossings of the built-in layout and of Graphviz's ``dot``.

Run ``.venv/bin/python -m bench.layout``: seeded random lineage-shaped graphs (each edge
goes forward by at most 8 vertices, as steps read recent outputs), laid out by both
engines as the page places them; an edge counts as the straight line between its boxes'
centres. Writes ``bench/results/layout.json``.
"""

from __future__ import annotations

import json
import random
import sys
import time
from typing import Any

from airflow_lineage.model import Edge
from airflow_lineage.render import GraphNode, LineageGraph, dot_program, graph_json
from bench._common import RESULTS_DIR

CASES = [(30, 45, 1), (60, 100, 2), (80, 120, 3), (100, 180, 4), (200, 350, 5)]


def random_graph(n: int, m: int, seed: int) -> LineageGraph:
    """Return a seeded random DAG of ``n`` vertices and ``m`` edges, each edge forward by
    at most 8 vertices."""
    rnd = random.Random(seed)
    arns = [f"arn:aws:sagemaker:local:000000000000:action/v{i}" for i in range(n)]
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < m:
        a, b = sorted(rnd.sample(range(n), 2))
        if b - a <= 8:
            pairs.add((a, b))
    nodes = tuple(GraphNode(arn, "Action", "Step", arn.rsplit("/", 1)[1]) for arn in arns)
    return LineageGraph(nodes, tuple(Edge(arns[a], arns[b], None) for a, b in sorted(pairs)))


def crossings(graph: LineageGraph, engine: str) -> int:
    """Return how many pairs of edges (centre to centre) cross in ``engine``'s drawing."""
    return crossings_in(graph, graph_json(graph, with_records=False, engine=engine))


def crossings_in(graph: LineageGraph, data: dict[str, Any]) -> int:
    """Return how many pairs of edges (centre to centre) cross in a laid-out graph."""
    at = {n["arn"]: (n["x"] + n["w"] / 2, n["y"] + n["h"] / 2) for n in data["nodes"]}
    segs = [(at[e.source_arn], at[e.destination_arn]) for e in graph.edges]

    def side(a: Any, b: Any, c: Any) -> bool:
        return (c[1] - a[1]) * (b[0] - a[0]) > (b[1] - a[1]) * (c[0] - a[0])

    count = 0
    for i, (a, b) in enumerate(segs):
        for c, d in segs[i + 1 :]:
            if len({a, b, c, d}) == 4 and side(a, c, d) != side(b, c, d):
                count += side(a, b, c) != side(a, b, d)
    return count


def main() -> int:
    """Print and write the crossings of both engines on every case."""
    if dot_program() is None:
        print("Graphviz's dot is not installed (apt-get install graphviz)", file=sys.stderr)
        return 1
    rows = []
    for n, m, seed in CASES:
        graph = random_graph(n, m, seed)
        row: dict[str, Any] = {"vertices": n, "edges": m, "seed": seed}
        for engine in ("builtin", "dot"):
            started = time.perf_counter()
            data = graph_json(graph, with_records=False, engine=engine)
            row[f"{engine}_layout_s"] = round(time.perf_counter() - started, 3)
            row[engine] = crossings_in(graph, data)
        rows.append(row)
        print(row)
    out = RESULTS_DIR / "layout.json"
    out.write_text(json.dumps(rows, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
