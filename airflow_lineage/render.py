"""Pictures of lineage: Graphviz DOT, Mermaid, SVG and a self-contained HTML page.

Every renderer takes a :class:`LineageGraph`, built from a query result with
:func:`build_graph`. Vertices are shaped and coloured by lineage type (and by type for
the common artifact and context types), labelled with their type and their name or
source URI; edges carry their association type; start entities are drawn with a thick
red outline; the layout runs left to right, from raw data to the endpoint.

:func:`layout` places vertices in layers (longest path along the associations, cycles
broken, sources pulled next to their first consumer) and orders each layer by a few
barycentre sweeps. The built-in SVG renderer and the HTML page (and the Airflow UI page,
which draws the same JSON in the browser) use it; ``--format svg`` uses Graphviz's
``dot`` instead when it is installed.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from airflow_lineage import records
from airflow_lineage.model import Edge, Entity, LineageType, Vertex
from airflow_lineage.store.base import LineageStore

__all__ = [
    "FORMATS",
    "GraphNode",
    "LineageGraph",
    "Style",
    "build_graph",
    "graph_json",
    "layout",
    "page_html",
    "render",
    "style_for",
    "to_dot",
    "to_html",
    "to_mermaid",
    "to_svg",
]

FORMATS = ("dot", "mermaid", "svg", "html")
"""The formats :func:`render` writes."""

NODE_W = 220
NODE_H = 46
GAP_X = 90
GAP_Y = 22
MARGIN = 24
LABEL_CHARS = 34
START_STROKE = "#dc2626"


@dataclass(frozen=True, slots=True)
class Style:
    """How a vertex is drawn: its shape in each format and its colours."""

    shape: str
    """Built-in SVG shape: ``rect`` (actions), ``round`` (artifacts), ``hex`` (contexts)."""
    dot_shape: str
    dot_style: str
    mermaid: tuple[str, str]
    """Mermaid's opening and closing brackets for the shape."""
    fill: str
    stroke: str
    css_class: str


_ARTIFACT_STYLES: dict[str, Style] = {
    "DataSet": Style("round", "cylinder", "filled", ("[(", ")]"), "#dbeafe", "#1d4ed8", "dataset"),
    "Model": Style("round", "box3d", "filled", ("[[", "]]"), "#ede9fe", "#6d28d9", "model"),
    "Report": Style("round", "note", "filled", ("([", "])"), "#f3f4f6", "#4b5563", "report"),
}
_ARTIFACT = Style("round", "box", "rounded,filled", ("([", "])"), "#e0f2fe", "#0369a1", "artifact")
_ACTION = Style("rect", "box", "filled", ("[", "]"), "#ffedd5", "#c2410c", "action")
_CONTEXT_STYLES: dict[str, Style] = {
    "Endpoint": Style(
        "hex", "doubleoctagon", "filled", ("{{", "}}"), "#fef9c3", "#a16207", "endpoint"
    ),
}
_CONTEXT = Style("hex", "hexagon", "filled", ("{{", "}}"), "#dcfce7", "#15803d", "context")
_OTHER = Style("rect", "box", "dashed", ("[", "]"), "#ffffff", "#6b7280", "other")


def style_for(lineage_type: str, type: str) -> Style:
    """Return the style of a vertex of this lineage type and type."""
    if lineage_type == LineageType.ARTIFACT.value:
        return _ARTIFACT_STYLES.get(type, _ARTIFACT)
    if lineage_type == LineageType.ACTION.value:
        return _ACTION
    if lineage_type == LineageType.CONTEXT.value:
        return _CONTEXT_STYLES.get(type, _CONTEXT)
    return _OTHER


@dataclass(frozen=True, slots=True)
class GraphNode:
    """One vertex as drawn: identity, label and the few fields the picture shows."""

    arn: str
    lineage_type: str
    type: str
    label: str
    """The entity's name, else its source URI (else its ARN when the store lacks it)."""
    start: bool = False
    status: str | None = None
    dag_id: str | None = None
    record: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    """The entity's full record (:func:`airflow_lineage.records.to_record`), if known."""


@dataclass(frozen=True, slots=True)
class LineageGraph:
    """A query result ready to draw: vertices, edges, start entities."""

    nodes: tuple[GraphNode, ...]
    edges: tuple[Edge, ...]
    starts: tuple[str, ...] = ()
    truncated: bool = False
    """True when the query had more vertices than were drawn."""

    def node(self, arn: str) -> GraphNode | None:
        """Return the node with this ARN, or None."""
        for n in self.nodes:
            if n.arn == arn:
                return n
        return None


def _label(entity: Entity | None, arn: str) -> str:
    if entity is None:
        return arn
    return entity.name or entity.source_uri


def build_graph(
    store: LineageStore | None,
    vertices: Iterable[Vertex],
    edges: Iterable[Edge],
    starts: Sequence[str] = (),
    *,
    entities: Mapping[str, Entity] | None = None,
    truncated: bool = False,
) -> LineageGraph:
    """Build the graph of a query result.

    Start entities are always drawn (a query without edges leaves them out of its
    vertices). Entities are read from ``store`` unless given in ``entities``; edges whose
    ends are not both drawn are left out.
    """
    verts: dict[str, Vertex] = {}
    for v in vertices:
        verts.setdefault(v.arn, v)
    edge_list = list(dict.fromkeys(edges))
    wanted = list(dict.fromkeys([*starts, *verts]))
    if entities is None:
        entities = store.get_many(wanted) if store is not None and wanted else {}
    for arn in starts:
        if arn not in verts and arn in entities:
            verts[arn] = entities[arn].vertex()
    start_set = set(starts)
    nodes: list[GraphNode] = []
    for arn in [a for a in starts if a in verts] + [a for a in verts if a not in start_set]:
        v = verts[arn]
        entity = entities.get(arn)
        status = getattr(entity, "status", None)
        nodes.append(
            GraphNode(
                arn=arn,
                lineage_type=v.lineage_type.value,
                type=v.type,
                label=_label(entity, arn),
                start=arn in start_set,
                status=None if status is None else str(status.value),
                dag_id=None if entity is None else entity.properties.get("airflow:dag_id"),
                record=None if entity is None else records.to_record(entity),
            )
        )
    drawn = set(verts)
    kept = tuple(e for e in edge_list if e.source_arn in drawn and e.destination_arn in drawn)
    return LineageGraph(tuple(nodes), kept, tuple(a for a in starts if a in drawn), truncated)


# -- layout --------------------------------------------------------------------------


def _acyclic_order(n: int, pairs: list[tuple[int, int]]) -> tuple[list[int], set[tuple[int, int]]]:
    """Return a topological order of vertices ``0..n-1`` and the edges left out of it.

    Cycles are broken with :mod:`graphlib`: while it finds one, the cycle's last edge is
    left out (lineage graphs rarely hold a cycle; each costs one more sort).
    """
    from graphlib import CycleError, TopologicalSorter

    back: set[tuple[int, int]] = set()
    while True:
        sorter: TopologicalSorter[int] = TopologicalSorter()
        for v in range(n):
            sorter.add(v)
        for s, d in pairs:
            if (s, d) not in back:
                sorter.add(d, s)
        try:
            return list(sorter.static_order()), back
        except CycleError as e:
            cycle = e.args[1]  # each vertex precedes the next; the first is the last
            back.add((cycle[-2], cycle[-1]))


def layout(graph: LineageGraph) -> dict[str, tuple[int, int]]:
    """Return each vertex's (layer, row): layers left to right along the associations.

    Layers are longest paths from the sources (back edges of cycles ignored); a source
    sits one layer before its nearest consumer. Rows come from barycentre sweeps.
    """
    index = {n.arn: i for i, n in enumerate(graph.nodes)}
    n = len(index)
    succ: list[list[int]] = [[] for _ in range(n)]
    pred: list[list[int]] = [[] for _ in range(n)]
    pairs = []
    for e in graph.edges:
        s, d = index.get(e.source_arn), index.get(e.destination_arn)
        if s is None or d is None or s == d:
            continue
        pairs.append((s, d))
    order, back = _acyclic_order(n, pairs)
    for s, d in pairs:
        if (s, d) not in back:
            succ[s].append(d)
            pred[d].append(s)
    # Longest-path layering, in topological order.
    layer = [0] * n
    for v in order:
        for w in succ[v]:
            layer[w] = max(layer[w], layer[v] + 1)
    # Pull each source next to its nearest consumer.
    for v in reversed(order):
        if not pred[v] and succ[v]:
            layer[v] = max(0, min(layer[w] for w in succ[v]) - 1)
    # Rows: first-seen order, then barycentre sweeps down and up.
    layers: dict[int, list[int]] = {}
    for v in range(n):
        layers.setdefault(layer[v], []).append(v)
    pos = [0.0] * n
    for members in layers.values():
        for r, v in enumerate(members):
            pos[v] = float(r)
    keys = sorted(layers)
    for sweep in range(4):
        forward = sweep % 2 == 0
        for lk in keys if forward else reversed(keys):
            members = layers[lk]
            bary: dict[int, float] = {}
            for v in members:
                near = pred[v] if forward else succ[v]
                bary[v] = sum(pos[w] for w in near) / len(near) if near else pos[v]
            members.sort(key=lambda v: (bary[v], pos[v]))
            for r, v in enumerate(members):
                pos[v] = float(r)
    result: dict[str, tuple[int, int]] = {}
    for lk in keys:
        for r, v in enumerate(layers[lk]):
            result[graph.nodes[v].arn] = (lk, r)
    return result


def _short(text: str, limit: int = LABEL_CHARS) -> str:
    """Shorten ``text`` from the left (the end of a URI says most)."""
    return text if len(text) <= limit else "…" + text[-(limit - 1) :]


DOT_MAX_NODES = 1000
"""The largest graph the page lays out with Graphviz (``dot`` takes about a second per
1,500 vertices); larger ones get the built-in layout at once."""


def _builtin_places(graph: LineageGraph) -> tuple[dict[str, tuple[float, float]], float, float]:
    """Return the top-left corners of the built-in layout, and its width and height."""
    places = layout(graph)
    rows_in: dict[int, int] = {}
    for lk, r in places.values():
        rows_in[lk] = max(rows_in.get(lk, 0), r + 1)
    tallest = max(rows_in.values(), default=0)
    pitch_y = NODE_H + GAP_Y
    corners = {
        arn: (
            float(MARGIN + lk * (NODE_W + GAP_X)),
            round(MARGIN + (tallest - rows_in[lk]) * pitch_y / 2 + r * pitch_y, 1),
        )
        for arn, (lk, r) in places.items()
    }
    width = MARGIN * 2 + (max(rows_in, default=0) + 1) * (NODE_W + GAP_X) - GAP_X
    return corners, width, MARGIN * 2 + tallest * pitch_y - GAP_Y


def _places(
    graph: LineageGraph, engine: str
) -> tuple[dict[str, tuple[float, float]], float, float]:
    """Return the vertices' top-left corners and the drawing's size, from ``engine``."""
    if engine not in ("auto", "dot", "builtin"):
        raise ValueError(f"engine must be auto, dot or builtin, got {engine!r}")
    program = dot_program() if engine != "builtin" else None
    if engine == "dot" and program is None:
        raise ValueError("Graphviz's dot program is not installed (apt-get install graphviz)")
    if program is None or (engine == "auto" and len(graph.nodes) > DOT_MAX_NODES):
        return _builtin_places(graph)
    from airflow_lineage.dot_layout import dot_positions

    return dot_positions(
        graph, program, node_w=NODE_W, node_h=NODE_H, gap_x=GAP_X, gap_y=GAP_Y, margin=MARGIN
    )


def graph_json(
    graph: LineageGraph, *, with_records: bool = True, engine: str = "auto"
) -> dict[str, Any]:
    """Return the graph as JSON with positions and styles, as the page draws it.

    ``nodes``: arn, lineageType, type, label, short, start, status, dagId, x, y, w, h,
    shape, fill, stroke (and record, with ``with_records``); ``edges``: source,
    destination, type; plus ``starts``, ``truncated``, ``width`` and ``height``.

    :param engine: who places the vertices: ``dot`` (Graphviz), ``builtin``
        (:func:`layout`), or ``auto``: ``dot`` when it is installed and the graph has at
        most :data:`DOT_MAX_NODES` vertices, else built-in.
    :raises ValueError: ``engine`` is unknown, or ``dot`` is asked for and missing.
    :raises OSError: ``dot`` failed.
    """
    corners, width, height = _places(graph, engine)
    nodes = []
    for node in graph.nodes:
        x, y = corners[node.arn]
        st = style_for(node.lineage_type, node.type)
        item: dict[str, Any] = {
            "arn": node.arn,
            "lineageType": node.lineage_type,
            "type": node.type,
            "label": node.label,
            "short": _short(node.label),
            "start": node.start,
            "status": node.status,
            "dagId": node.dag_id,
            "x": x,
            "y": y,
            "w": NODE_W,
            "h": NODE_H,
            "shape": st.shape,
            "fill": st.fill,
            "stroke": st.stroke,
        }
        if with_records:
            item["record"] = dict(node.record) if node.record is not None else None
        nodes.append(item)
    return {
        "nodes": nodes,
        "edges": [
            {
                "source": e.source_arn,
                "destination": e.destination_arn,
                "type": None if e.association_type is None else e.association_type.value,
            }
            for e in graph.edges
        ],
        "starts": list(graph.starts),
        "truncated": graph.truncated,
        "width": max(width, NODE_W + 2 * MARGIN),
        "height": max(height, NODE_H + 2 * MARGIN),
    }


# -- DOT -----------------------------------------------------------------------------


def _dot_str(text: str) -> str:
    """Return ``text`` as a DOT double-quoted string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: LineageGraph) -> str:
    """Return the graph in Graphviz DOT, laid out left to right."""
    ids = {n.arn: f"n{i}" for i, n in enumerate(graph.nodes)}
    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  graph [fontname="Helvetica", nodesep=0.3, ranksep=0.6];',
        '  node [fontname="Helvetica", fontsize=10, margin="0.15,0.06"];',
        '  edge [fontname="Helvetica", fontsize=8, color="#6b7280", fontcolor="#374151"];',
    ]
    for n in graph.nodes:
        st = style_for(n.lineage_type, n.type)
        label = f"{n.lineage_type}: {n.type}\n{_short(n.label, 48)}"
        attrs = {
            "label": _dot_str(label),
            "shape": st.dot_shape,
            "style": _dot_str(st.dot_style + (",bold" if n.start else "")),
            "fillcolor": _dot_str(st.fill),
            "color": _dot_str(START_STROKE if n.start else st.stroke),
            "tooltip": _dot_str(f"{n.label}\n{n.arn}"),
        }
        if n.start:
            attrs["penwidth"] = "3"
            attrs["peripheries"] = "2"
        body = ", ".join(f"{k}={v}" for k, v in attrs.items())
        lines.append(f"  {ids[n.arn]} [{body}];")
    for e in graph.edges:
        label = "" if e.association_type is None else e.association_type.value
        attr = f" [label={_dot_str(label)}]" if label else ""
        lines.append(f"  {ids[e.source_arn]} -> {ids[e.destination_arn]}{attr};")
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- Mermaid -------------------------------------------------------------------------


def _mermaid_text(text: str) -> str:
    """Escape text for a quoted Mermaid label."""
    return (
        text.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("|", "#124;")
    )


def to_mermaid(graph: LineageGraph) -> str:
    """Return the graph as a Mermaid flowchart, left to right."""
    ids = {n.arn: f"n{i}" for i, n in enumerate(graph.nodes)}
    lines = ["flowchart LR"]
    used: dict[str, Style] = {}
    for n in graph.nodes:
        st = style_for(n.lineage_type, n.type)
        used[st.css_class] = st
        label = f"{_mermaid_text(n.lineage_type)}: {_mermaid_text(n.type)}<br/>"
        label += _mermaid_text(_short(n.label, 48))
        left, right = st.mermaid
        lines.append(f'  {ids[n.arn]}{left}"{label}"{right}:::{st.css_class}')
    for e in graph.edges:
        arrow = "-->" if e.association_type is None else f"-->|{e.association_type.value}|"
        lines.append(f"  {ids[e.source_arn]} {arrow} {ids[e.destination_arn]}")
    for name, st in used.items():
        lines.append(f"  classDef {name} fill:{st.fill},stroke:{st.stroke},color:#111827")
    for n in graph.nodes:
        if n.start:
            lines.append(f"  style {ids[n.arn]} stroke:{START_STROKE},stroke-width:4px")
    return "\n".join(lines) + "\n"


# -- SVG -----------------------------------------------------------------------------


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _shape_svg(shape: str, x: float, y: float, w: float, h: float, attrs: str) -> str:
    if shape == "hex":
        d = h / 2
        pts = [
            (x + d, y),
            (x + w - d, y),
            (x + w, y + h / 2),
            (x + w - d, y + h),
            (x + d, y + h),
            (x, y + h / 2),
        ]
        text = " ".join(f"{px:g},{py:g}" for px, py in pts)
        return f'<polygon points="{text}" {attrs}/>'
    rx = 14 if shape == "round" else 3
    return f'<rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="{rx}" {attrs}/>'


def builtin_svg(graph: LineageGraph) -> str:
    """Return the graph as SVG drawn with :func:`layout` (no Graphviz needed)."""
    data = graph_json(graph, with_records=False, engine="builtin")
    where = {n["arn"]: n for n in data["nodes"]}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{data["width"]}" '
        f'height="{data["height"]}" viewBox="0 0 {data["width"]} {data["height"]}" '
        'font-family="Helvetica, Arial, sans-serif">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#6b7280"/></marker></defs>',
        '<g class="edges">',
    ]
    for e in data["edges"]:
        s, d = where[e["source"]], where[e["destination"]]
        x1, y1 = s["x"] + s["w"], s["y"] + s["h"] / 2
        x2, y2 = d["x"], d["y"] + d["h"] / 2
        bend = max(40.0, abs(x2 - x1) / 2)
        path = f"M{x1:g},{y1:g} C{x1 + bend:g},{y1:g} {x2 - bend:g},{y2:g} {x2:g},{y2:g}"
        out.append(
            f'<path d="{path}" fill="none" stroke="#9ca3af" stroke-width="1.2" '
            'marker-end="url(#arrow)"/>'
        )
        if e["type"]:
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2 - 3
            out.append(
                f'<text x="{mx:g}" y="{my:g}" font-size="9" fill="#4b5563" '
                f'text-anchor="middle">{_esc(e["type"])}</text>'
            )
    out.append('</g><g class="nodes">')
    for n in data["nodes"]:
        stroke = START_STROKE if n["start"] else n["stroke"]
        width = 3 if n["start"] else 1.3
        attrs = f'fill="{n["fill"]}" stroke="{stroke}" stroke-width="{width}"'
        out.append(
            f'<g class="node{" start" if n["start"] else ""}" data-arn="{_esc(n["arn"])}">'
            f"<title>{_esc(n['label'])}&#10;{_esc(n['arn'])}</title>"
            + _shape_svg(n["shape"], n["x"], n["y"], n["w"], n["h"], attrs)
            + f'<text x="{n["x"] + n["w"] / 2:g}" y="{n["y"] + 18:g}" font-size="9" '
            f'fill="#374151" text-anchor="middle">{_esc(n["lineageType"])}: '
            f"{_esc(n['type'])}</text>"
            f'<text x="{n["x"] + n["w"] / 2:g}" y="{n["y"] + 34:g}" font-size="11" '
            f'fill="#111827" text-anchor="middle">{_esc(n["short"])}</text></g>'
        )
    out.append("</g></svg>")
    return "\n".join(out) + "\n"


def dot_program() -> str | None:
    """Return the path of Graphviz's ``dot`` program, or None when it is not installed."""
    return shutil.which("dot")


def to_svg(graph: LineageGraph, *, engine: str = "auto") -> str:
    """Return the graph as SVG.

    :param engine: ``dot`` (Graphviz; fails when it is not installed), ``builtin`` (the
        layout of :func:`layout`), or ``auto``: ``dot`` when installed, else built-in.
    :raises ValueError: ``engine`` is unknown, or ``dot`` is asked for and missing.
    :raises OSError: ``dot`` failed.
    """
    if engine not in ("auto", "dot", "builtin"):
        raise ValueError(f"engine must be auto, dot or builtin, got {engine!r}")
    program = dot_program() if engine != "builtin" else None
    if program is None:
        if engine == "dot":
            raise ValueError("Graphviz's dot program is not installed (apt-get install graphviz)")
        return builtin_svg(graph)
    done = subprocess.run(
        [program, "-Tsvg"],
        input=to_dot(graph).encode(),
        capture_output=True,
        check=False,
        timeout=300,
    )
    if done.returncode != 0:
        raise OSError(f"dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout.decode()


# -- HTML ----------------------------------------------------------------------------


def _asset(name: str) -> str:
    return resources.files("airflow_lineage.ui").joinpath("static", name).read_text("utf-8")


def page_html(config: Mapping[str, Any], *, title: str = "ML lineage") -> str:
    """Return the lineage page: one HTML document with its CSS and JS inline.

    Rendered by Jinja2 with autoescaping, in one pass: the title is escaped, the
    configuration is JSON made safe inside a ``<script>`` (``tojson``), and nothing a
    value holds (``{{ js }}`` in an entity's name, say) is ever read as template.

    ``config["mode"]`` is ``static`` (the graph is in ``config["graph"]``) or ``api``
    (the page asks the UI API, relative to its own address).
    """
    from jinja2 import Environment, PackageLoader, select_autoescape
    from markupsafe import Markup

    env = Environment(
        loader=PackageLoader("airflow_lineage.ui", "static"),
        autoescape=select_autoescape(["html"]),
    )
    # Our own stylesheet and script, inlined as they are (they are not templates).
    return env.get_template("page.html").render(
        title=title,
        css=Markup(_asset("lineage.css")),
        js=Markup(_asset("lineage.js")),
        config=dict(config),
    )


def to_html(graph: LineageGraph, *, title: str = "ML lineage") -> str:
    """Return a self-contained HTML page that draws the graph (no network needed):
    pan, zoom, and click a vertex to see its properties."""
    return page_html({"mode": "static", "graph": graph_json(graph)}, title=title)


def render(graph: LineageGraph, fmt: str, *, title: str = "ML lineage") -> str:
    """Return the graph in ``fmt``: ``dot``, ``mermaid``, ``svg`` or ``html``.

    :raises ValueError: the format is unknown.
    """
    if fmt == "dot":
        return to_dot(graph)
    if fmt == "mermaid":
        return to_mermaid(graph)
    if fmt == "svg":
        return to_svg(graph)
    if fmt == "html":
        return to_html(graph, title=title)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
