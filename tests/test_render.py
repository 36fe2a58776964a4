"""Lineage pictures: DOT, Mermaid, SVG, HTML, the layout, and ``airflow-lineage graph``."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_lineage import LineageQuery, LineageStore, connect
from airflow_lineage.cli import main as cli
from airflow_lineage.model import Edge
from airflow_lineage.render import (
    LineageGraph,
    build_graph,
    builtin_svg,
    dot_program,
    graph_json,
    layout,
    render,
    to_dot,
    to_html,
    to_mermaid,
    to_svg,
)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[tuple[str, LineageStore, dict[str, str]]]:
    """A small pipeline: raw -> prep -> train set -> train -> model -> deploy -> endpoint."""
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    store = connect(url, create=True)
    raw = store.create_artifact('s3://b/raw/"iris"<csv>', "DataSet")
    prep = store.create_action(
        "prep", "DataPreparation", "airflow://dags/d/runs/r/tasks/prep", status="Completed"
    )
    train_set = store.create_artifact("s3://b/prepared/train.csv", "DataSet")
    train = store.create_action(
        "train",
        "Training",
        "airflow://dags/d/runs/r/tasks/train",
        properties={"airflow:dag_id": "d", "param:max_depth": "3"},
    )
    model = store.create_artifact("s3://b/models/model.tar.gz", "Model")
    deploy = store.create_action("deploy", "ModelDeployment", "airflow://dags/d/runs/r/deploy")
    endpoint = store.create_context("iris-endpoint", "Endpoint", "arn:aws:sagemaker:ep/iris")
    for src, dst, kind in [
        (raw, prep, "ContributedTo"),
        (prep, train_set, "Produced"),
        (train_set, train, "ContributedTo"),
        (train, model, "Produced"),
        (model, deploy, "ContributedTo"),
        (deploy, endpoint, "AssociatedWith"),
    ]:
        store.add_association(src.arn, dst.arn, kind)
    arns = {
        "raw": raw.arn,
        "prep": prep.arn,
        "train_set": train_set.arn,
        "train": train.arn,
        "model": model.arn,
        "deploy": deploy.arn,
        "endpoint": endpoint.arn,
    }
    try:
        yield url, store, arns
    finally:
        store.close()


def _graph(store: LineageStore, start: str, direction: str = "Ascendants") -> LineageGraph:
    result = store.query(LineageQuery(start_arns=(start,), direction=direction, include_edges=True))
    return build_graph(store, result.vertices, result.edges, [start])


def test_build_graph_marks_the_start_and_labels_by_name_or_uri(
    pipeline: tuple[str, LineageStore, dict[str, str]],
) -> None:
    _, store, arns = pipeline
    graph = _graph(store, arns["endpoint"])
    assert len(graph.nodes) == 7 and len(graph.edges) == 6
    assert [n.arn for n in graph.nodes if n.start] == [arns["endpoint"]]
    labels = {n.arn: n.label for n in graph.nodes}
    assert labels[arns["endpoint"]] == "iris-endpoint"  # the name wins
    assert labels[arns["raw"]] == 's3://b/raw/"iris"<csv>'
    assert labels[arns["model"]] == "s3://b/models/model.tar.gz"  # else the URI
    assert graph.node(arns["train"]) is not None
    assert graph.node(arns["train"]).dag_id == "d"  # type: ignore[union-attr]
    assert graph.node(arns["prep"]).status == "Completed"  # type: ignore[union-attr]


def test_a_start_left_out_of_a_result_without_edges_is_still_drawn(
    pipeline: tuple[str, LineageStore, dict[str, str]],
) -> None:
    _, store, arns = pipeline
    result = store.query(LineageQuery(start_arns=(arns["model"],), direction="Ascendants"))
    assert arns["model"] not in result.arns()
    graph = build_graph(store, result.vertices, result.edges, [arns["model"]])
    assert graph.nodes[0].arn == arns["model"] and graph.nodes[0].start


def test_layout_runs_left_to_right_from_raw_data_to_the_endpoint(
    pipeline: tuple[str, LineageStore, dict[str, str]],
) -> None:
    _, store, arns = pipeline
    places = layout(_graph(store, arns["endpoint"]))
    chain = ["raw", "prep", "train_set", "train", "model", "deploy", "endpoint"]
    assert [places[arns[k]][0] for k in chain] == list(range(7))


def test_layout_survives_cycles_and_puts_sources_next_to_their_consumer() -> None:
    from airflow_lineage.render import GraphNode

    a, b, c, s = (f"arn:aws:sagemaker:local:000000000000:action/{x}" for x in "abcs")
    nodes = tuple(GraphNode(arn, "Action", "T", arn[-1]) for arn in (a, b, c, s))
    edges = (Edge(a, b, None), Edge(b, c, None), Edge(c, a, None), Edge(s, c, None))
    places = layout(LineageGraph(nodes, edges))
    assert places[a][0] < places[b][0] < places[c][0]
    assert places[s][0] == places[c][0] - 1


def test_layout_leaves_one_edge_out_of_each_cycle() -> None:
    from airflow_lineage.render import GraphNode

    names = "abcdefg"
    arn = {x: f"arn:aws:sagemaker:local:000000000000:action/{x}" for x in names}
    nodes = tuple(GraphNode(arn[x], "Action", "T", x) for x in names)
    # Two cycles sharing c (a-b-c-a, c-d-e-c), a self-loop, and a tail f -> g.
    pairs = ["ab", "bc", "ca", "cd", "de", "ec", "ee", "ef", "fg"]
    edges = tuple(Edge(arn[p[0]], arn[p[1]], None) for p in pairs)
    places = layout(LineageGraph(nodes, edges))
    backwards = [p for p in pairs if places[arn[p[0]]][0] >= places[arn[p[1]]][0] and p[0] != p[1]]
    assert len(backwards) == 2  # one edge of each cycle, no more
    assert places[arn["e"]][0] < places[arn["f"]][0] < places[arn["g"]][0]


def test_dot_is_left_to_right_with_shapes_labels_and_a_marked_start(
    pipeline: tuple[str, LineageStore, dict[str, str]],
) -> None:
    _, store, arns = pipeline
    dot = to_dot(_graph(store, arns["endpoint"]))
    assert "rankdir=LR;" in dot
    assert dot.count(" -> ") == 6
    assert '[label="ContributedTo"]' in dot and '[label="Produced"]' in dot
    assert 'label="Artifact: DataSet\\ns3://b/raw/\\"iris\\"<csv>"' in dot  # escaped quotes
    assert "shape=cylinder" in dot and "shape=box3d" in dot and "shape=doubleoctagon" in dot
    start_line = next(line for line in dot.splitlines() if "Context: Endpoint" in line)
    assert "penwidth=3" in start_line and 'color="#dc2626"' in start_line


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
def test_dot_output_is_valid_graphviz(pipeline: tuple[str, LineageStore, dict[str, str]]) -> None:
    _, store, arns = pipeline
    graph = _graph(store, arns["endpoint"])
    svg = to_svg(graph, engine="dot")
    root = ET.fromstring(svg[svg.index("<svg") :])
    assert root.tag.endswith("svg")
    assert svg.count('class="node"') == 7 and svg.count('class="edge"') == 6
    assert "ContributedTo" in svg
    plain = subprocess.run(
        ["dot", "-Tplain"], input=to_dot(graph).encode(), capture_output=True, check=True
    ).stdout.decode()
    xs = {
        line.split()[1]: float(line.split()[2])
        for line in plain.splitlines()
        if line.startswith("node ")
    }
    assert xs["n1"] < xs["n0"]  # the endpoint (start, n0) is right of what fed it


def test_mermaid_flowchart(pipeline: tuple[str, LineageStore, dict[str, str]]) -> None:
    _, store, arns = pipeline
    text = to_mermaid(_graph(store, arns["endpoint"]))
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    assert sum(" -->|" in line for line in lines) == 6
    assert any("-->|AssociatedWith|" in line for line in lines)
    raw = next(line for line in lines if "raw" in line and "[(" in line)  # DataSet: cylinder
    assert "#quot;iris#quot;#lt;csv#gt;" in raw and '"' not in raw.split('"', 1)[1][:-20]
    assert any(line.startswith("  classDef dataset ") for line in lines)
    assert "  style n0 stroke:#dc2626,stroke-width:4px" in lines
    assert re.search(r'n0\{\{"Context: Endpoint<br/>iris-endpoint"\}\}:::endpoint', text)


def test_builtin_svg_is_well_formed_with_one_group_per_vertex(
    pipeline: tuple[str, LineageStore, dict[str, str]],
) -> None:
    _, store, arns = pipeline
    svg = builtin_svg(_graph(store, arns["endpoint"]))
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    groups = [g for g in root.iter(f"{ns}g") if "node" in (g.get("class") or "").split()]
    assert len(groups) == 7
    assert [g.get("data-arn") for g in groups if "start" in g.get("class", "")] == [
        arns["endpoint"]
    ]
    assert len(root.findall(f"{ns}g/{ns}path")) == 6
    assert "s3://b/raw/&quot;iris&quot;&lt;csv&gt;" in svg
    assert to_svg(_graph(store, arns["endpoint"]), engine="builtin") == svg


def test_html_is_self_contained_and_carries_the_graph(
    pipeline: tuple[str, LineageStore, dict[str, str]],
) -> None:
    _, store, arns = pipeline
    page = to_html(_graph(store, arns["endpoint"]), title="Lineage <of> iris")
    assert "<title>Lineage &lt;of&gt; iris</title>" in page
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|https?://(?!www\.w3\.org)", page)
    config = re.search(
        r'<script type="application/json" id="lineage-config">(.*?)</script>', page, re.S
    )
    assert config is not None
    data = json.loads(config.group(1))
    assert data["mode"] == "static"
    assert len(data["graph"]["nodes"]) == 7
    assert "<csv>" not in config.group(1)  # < and > are escaped inside the script
    train = next(n for n in data["graph"]["nodes"] if n["arn"] == arns["train"])
    assert train["record"]["properties"]["param:max_depth"] == "3"


def test_json_positions_follow_the_layout(
    pipeline: tuple[str, LineageStore, dict[str, str]],
) -> None:
    _, store, arns = pipeline
    data = graph_json(_graph(store, arns["raw"], "Descendants"), with_records=False)
    xs = {n["arn"]: n["x"] for n in data["nodes"]}
    assert xs[arns["raw"]] < xs[arns["prep"]] < xs[arns["endpoint"]]
    assert all("record" not in n for n in data["nodes"])
    assert data["width"] >= max(n["x"] + n["w"] for n in data["nodes"])
    assert data["height"] >= max(n["y"] + n["h"] for n in data["nodes"])


def test_render_rejects_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="format must be one of"):
        render(LineageGraph((), ()), "png")
    with pytest.raises(ValueError, match="engine"):
        to_svg(LineageGraph((), ()), engine="neato")


# -- the CLI -------------------------------------------------------------------------


def test_cli_graph_writes_each_format(
    pipeline: tuple[str, LineageStore, dict[str, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _, _ = pipeline
    base = ["--store", url, "graph", "--uri", "arn:aws:sagemaker:ep/iris"]
    assert cli([*base, "--direction", "ascendants"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digraph lineage {") and out.count(" -> ") == 6

    assert cli([*base, "--direction", "ascendants", "--format", "mermaid", "--depth", "2"]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart LR") and mermaid.count(" -->|") == 2

    for suffix, marker in [(".svg", "<svg"), (".html", "<!DOCTYPE html>"), (".gv", "digraph")]:
        target = tmp_path / f"lineage{suffix}"
        assert cli([*base, "--direction", "ascendants", "-o", str(target)]) == 0
        assert marker in target.read_text()
        assert "wrote 7 vertices and 6 edges" in capsys.readouterr().err

    target = tmp_path / "builtin.svg"
    assert (
        cli([*base, "--direction", "ascendants", "--svg-engine", "builtin", "-o", str(target)]) == 0
    )
    ET.fromstring(target.read_text())


def test_cli_graph_filters_like_query(
    pipeline: tuple[str, LineageStore, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _, arns = pipeline
    args = ["--store", url, "graph", arns["endpoint"], "--direction", "ascendants"]
    assert cli([*args, "--type", "Model", "--format", "mermaid"]) == 0
    text = capsys.readouterr().out
    # The start, the model, and every vertex on the path between them.
    assert text.count('"') // 2 == 3
    assert "Artifact: Model" in text and "DataSet" not in text


def test_cli_graph_errors(
    pipeline: tuple[str, LineageStore, dict[str, str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, _, _ = pipeline
    assert cli(["--store", url, "graph", "--uri", "s3://nothing"]) == 1
    assert "no lineage entity has the source URI" in capsys.readouterr().err
    assert cli(["--store", url, "graph", "--format", "png", "--uri", "x"]) == 2
    assert cli(["--store", url, "graph"]) == 2
    assert "needs a start entity" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name", ["{{JS}}", "{{ js }}", "{{CONFIG}}", "{% raw %}", "</script><script>alert(1)</script>"]
)
def test_names_that_look_like_template_or_markup_stay_data(tmp_path: Path, name: str) -> None:
    from airflow_lineage.render import page_html

    store = connect(f"sqlite:///{tmp_path / 'l.db'}", create=True)
    try:
        data = store.create_artifact(f"s3://b/{name}", "DataSet")
        step = store.create_action("step", "Training", "airflow://x", properties={"note": name})
        store.add_association(data.arn, step.arn, "ContributedTo")
        graph = _graph(store, step.arn)
    finally:
        store.close()
    page = to_html(graph, title=f"Lineage of {name}")
    js = (Path(__file__).parents[1] / "airflow_lineage/ui/static/lineage.js").read_text()
    assert page.count(js) == 1  # the script is inlined once, never spliced into the data
    assert page.count("<script") == 2 and page.count("</script>") == 2
    config = re.search(
        r'<script type="application/json" id="lineage-config">(.*?)</script>', page, re.S
    )
    assert config is not None
    nodes = json.loads(config.group(1))["graph"]["nodes"]
    assert {n["record"]["source_uri"] for n in nodes if n["lineageType"] == "Artifact"} == {
        f"s3://b/{name}"
    }
    assert next(n for n in nodes if n["lineageType"] == "Action")["record"]["properties"] == {
        "note": name
    }
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title is not None and "<" not in title.group(1)
    # The same page in API mode carries no graph and renders the title escaped.
    api = page_html({"mode": "api"}, title=name)
    assert api.count(js) == 1 and "<script>alert" not in api


@pytest.mark.skipif(dot_program() is None, reason="Graphviz's dot is not installed")
def test_dot_places_the_page_with_no_more_crossings_than_the_builtin_layout(
    pipeline: tuple[str, LineageStore, dict[str, str]],
) -> None:
    from bench.layout import CASES, crossings, random_graph

    _, store, arns = pipeline
    data = graph_json(_graph(store, arns["raw"], "Descendants"), engine="dot")
    xs = {n["arn"]: n["x"] for n in data["nodes"]}
    chain = ["raw", "prep", "train_set", "train", "model", "deploy", "endpoint"]
    assert [xs[arns[k]] for k in chain] == sorted(xs[arns[k]] for k in chain)
    assert data["width"] >= max(n["x"] + n["w"] for n in data["nodes"])
    assert data["height"] >= max(n["y"] + n["h"] for n in data["nodes"])
    assert min(min(n["x"], n["y"]) for n in data["nodes"]) >= 0
    for n, m, seed in CASES[:3]:
        graph = random_graph(n, m, seed)
        assert crossings(graph, "dot") <= crossings(graph, "builtin")
    assert graph_json(graph, engine="auto") == graph_json(graph, engine="dot")


def test_a_graph_too_big_for_dot_or_without_dot_gets_the_builtin_layout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from airflow_lineage.render import DOT_MAX_NODES
    from bench.layout import random_graph

    big = random_graph(DOT_MAX_NODES + 1, DOT_MAX_NODES + 200, 7)
    assert graph_json(big, engine="auto") == graph_json(big, engine="builtin")
    small = random_graph(30, 45, 1)
    monkeypatch.setenv("PATH", "")  # no Graphviz
    assert graph_json(small, engine="auto") == graph_json(small, engine="builtin")
    with pytest.raises(ValueError, match="dot"):
        graph_json(small, engine="dot")
    with pytest.raises(ValueError, match="engine"):
        graph_json(small, engine="elk")
