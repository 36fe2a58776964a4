"""Vertex positions from Graphviz's ``dot``, for the lineage page, when it is installed.

``dot`` is a maintained layered (Sugiyama) layout: on random lineage-shaped graphs of 30
to 200 vertices it draws 16 to 48 % of the edge crossings of the built-in layout
(``bench/layout.py``). The page keeps its own vertex sizes and draws its own edges:
``dot`` only places the boxes (``-Tplain``), left to right.
"""

from __future__ import annotations

import subprocess
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_lineage.render import LineageGraph

__all__ = ["dot_positions"]

_POINTS = 72.0  # dot measures in inches


def dot_positions(
    graph: LineageGraph,
    program: str,
    *,
    node_w: float,
    node_h: float,
    gap_x: float,
    gap_y: float,
    margin: float,
) -> tuple[dict[str, tuple[float, float]], float, float]:
    """Return each vertex's top-left corner, and the drawing's width and height.

    :param program: the path of ``dot``.
    :raises OSError: ``dot`` failed or answered what this cannot read.
    """
    ids = {n.arn: f"n{i}" for i, n in enumerate(graph.nodes)}
    lines = [
        "digraph lineage {",
        "rankdir=LR;",
        f"nodesep={gap_y / _POINTS:.4f}; ranksep={gap_x / _POINTS:.4f};",
        f"node [shape=box, fixedsize=true, width={node_w / _POINTS:.4f}, "
        f'height={node_h / _POINTS:.4f}, label=""];',
        *(f"{ids[n.arn]};" for n in graph.nodes),
        *(
            f"{ids[e.source_arn]} -> {ids[e.destination_arn]};"
            for e in graph.edges
            if e.source_arn in ids and e.destination_arn in ids
        ),
        "}",
    ]
    done = subprocess.run(
        [program, "-Tplain"],
        input="\n".join(lines).encode(),
        capture_output=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise OSError(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
    arns = {v: k for k, v in ids.items()}
    width = height = 0.0
    centres: dict[str, tuple[float, float]] = {}
    for line in done.stdout.decode().splitlines():
        parts = line.split()
        if parts and parts[0] == "graph" and len(parts) >= 4:
            width, height = float(parts[2]) * _POINTS, float(parts[3]) * _POINTS
        elif parts and parts[0] == "node" and len(parts) >= 4 and parts[1] in arns:
            centres[arns[parts[1]]] = (float(parts[2]) * _POINTS, float(parts[3]) * _POINTS)
    if len(centres) != len(ids):
        raise OSError(f"dot placed {len(centres)} of {len(ids)} vertices")
    # dot's origin is the bottom left; the page's the top left.
    places = {
        arn: (round(margin + x - node_w / 2, 1), round(margin + height - y - node_h / 2, 1))
        for arn, (x, y) in centres.items()
    }
    return places, width + 2 * margin, height + 2 * margin
