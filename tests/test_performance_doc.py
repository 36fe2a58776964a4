"""The README's capture and query figures are the ones in bench/results, from a committed
tree."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _figures(name: str) -> dict[str, Any]:
    return json.loads((REPO / "bench" / "results" / name).read_text())  # type: ignore[no-any-return]


def _signed(value: float) -> str:
    return f"{value:+.1f}"


@pytest.mark.parametrize("name", ["capture-scheduler.json", "capture-scheduler-sqlite.json"])
def test_the_readme_shows_the_capture_benchmarks_results(name: str) -> None:
    results = _figures(name)
    assert results["clean"] is True, f"{name} was measured on a dirty tree"
    assert f"`{name}`" in README
    assert f"`{results['commit']}`" in README, f"the README does not name {name}'s commit"
    for dag in ("bench_plain", "bench_steps"):
        got = results[dag]
        assert isinstance(got, dict)
        added = f"{_signed(got['added_median_ms'])} / {_signed(got['added_p95_ms'])} ms"
        inside = f"{got['capture_in_task']['median_ms']} / {got['capture_in_task']['p95_ms']} ms"
        assert added in README, f"{name} {dag}: {added} is not in the README"
        assert inside in README, f"{name} {dag}: {inside} is not in the README"


# -- the query benchmark ------------------------------------------------------------------

QUERY_RESULTS = "2026-12-01-query.json"
"""The query benchmark's results file the README's query figures come from."""

_QUERY_ROWS = {
    ("10k", "upstream from a model, depth 10"): ("10000", "up_model_d10"),
    ("1M", "upstream from a model, depth 10"): ("1000000", "up_model_d10"),
    ("1M", "the same through the boto3 client (`query_lineage`)"): (
        "1000000",
        "up_model_d10_facade",
    ),
    ("1M", "upstream from a model, depth 50"): ("1000000", "up_model_d50"),
    ("1M", "downstream from a raw data set, depth 10"): ("1000000", "down_raw_d10"),
    ("1M", "downstream from a raw data set, depth 50"): ("1000000", "down_raw_d50"),
    ("1M", "Both from a training step, depth 10"): ("1000000", "both_train_d10"),
    ("1M", "one ~30k-vertex result, one page"): ("1000000", "big_30k"),
    ("1M", "the same, in 50-vertex pages, every page read"): ("1000000", "pages_30k"),
}
_BACKENDS = ("sqlite", "postgres", "networkx", "mlmd")


def _query_results() -> dict[str, Any]:
    return _figures(QUERY_RESULTS)


def _case(results: dict[str, Any], size: str, backend: str, case: str) -> dict[str, Any] | None:
    found = results["sizes"][size]["backends"].get(backend, {}).get("cases", {}).get(case)
    if found is not None and case == "pages_30k":
        return found["all_pages"]  # type: ignore[no-any-return]
    return found  # type: ignore[no-any-return]


def _readme_table(after: str) -> list[list[str]]:
    """Return the cells of the first Markdown table after the text ``after``."""
    text = README[README.index(after) :]
    lines = text[text.index("\n|") + 1 :].splitlines()
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows[2:]  # the header and its rule


def _bare(cell: str) -> str:
    return re.sub(r"\s*[¹²³]$", "", cell.replace("**", "")).strip()


def test_the_query_results_were_measured_on_one_clean_commit() -> None:
    results = _query_results()
    meta = results["meta"]
    assert meta["clean"] is True
    for size, res in results["sizes"].items():
        for backend, got in res["backends"].items():
            if "skipped" in got:
                continue
            for name, case in got["cases"].items():
                package = case.get("package")
                if package is None:  # the ml-metadata worker runs none of our code
                    continue
                where = f"{size} {backend} {name}"
                assert package["commit"] == meta["commit"], where
                assert package["clean"] is True, where


def test_the_readme_query_table_is_the_results_file() -> None:
    from bench.report import _ms

    results = _query_results()
    assert f"`bench/results/{QUERY_RESULTS.removesuffix('.json')}.md`" in README
    assert f"`{results['meta']['commit'][:7]}`" in README
    rows = _readme_table("**Queries** on generated ML lineage graphs")
    assert {(r[0], r[1]) for r in rows} == set(_QUERY_ROWS)
    for size_label, label, vertices, *cells in rows:
        size, case = _QUERY_ROWS[(size_label, label)]
        ours = _case(results, size, "sqlite", case)
        assert ours is not None, (size, case)
        assert _bare(vertices) == f"{ours['vertices_p50']:,.0f}", (size, case)
        for backend, cell in zip(_BACKENDS, cells, strict=True):
            got = _case(results, size, backend, case)
            want = "—" if got is None else _ms(got["p50_ms"])
            assert _bare(cell) == want, (size, case, backend)


def test_the_readme_query_targets_are_the_results_file() -> None:
    results = _query_results()
    big = _case(results, "1000000", "sqlite", "big_30k")
    pages = _case(results, "1000000", "sqlite", "pages_30k")
    facade = _case(results, "1000000", "sqlite", "up_model_d10_facade")
    assert big is not None and pages is not None and facade is not None
    smaller = _case(results, "100000", "sqlite", "up_model_d10_facade")
    assert smaller is not None
    n = big["vertices_p50"]
    whole = results["sizes"]["1000000"]["backends"]["sqlite"]["cases"]["pages_30k"]
    per_page = (pages["p50_ms"] - whole["one_page"]["p50_ms"]) / (whole["pages"] - 1) * 1000
    figures = (
        f"read in\n{whole['pages']} pages of 50, every page read, costs "
        f"**{pages['p50_ms'] * 1000 / n:.2f} µs a vertex**",
        f"in one page, {big['p50_ms'] * 1000 / n:.2f} µs a vertex",
        f"boto3 client p50 **{facade['p50_ms']:.2f} ms**, p95 {facade['p95_ms']:.2f} ms",
        f"({per_page:+.0f} µs a page against reading it in one page)",
        f"the same query costs {smaller['p50_ms']:.2f} ms on the 100k store",
    )
    flat = " ".join(README.split())
    for figure in figures:
        assert " ".join(figure.split()) in flat, figure


def test_the_benchmark_readme_shows_the_rendered_results() -> None:
    from bench import report

    bench_readme = (REPO / "bench" / "README.md").read_text()
    results = _query_results()
    assert f"From `bench/results/{QUERY_RESULTS}`" in bench_readme
    for table in (
        report.latency_table(results),
        report.big_table(results),
        report.ingest_table(results),
        report.memory_table(results),
        report.targets(results),
    ):
        assert table in bench_readme


PREVIOUS_QUERY_RESULTS = "2026-12-01-query-05be4d3.json"
"""The run before, on another machine, that the README compares this one with."""

WALK_CODE = (
    "airflow_lineage/traversal.py",
    "airflow_lineage/facade.py",
    "airflow_lineage/store/querying.py",
    "airflow_lineage/store/sql_graph.py",
    "airflow_lineage/store/schema.py",
    "airflow_lineage/store/migrations",
)
"""What a query runs, SQL and indexes included."""

WALK_CHANGES = {
    "airflow_lineage/traversal.py",
    "airflow_lineage/facade.py",
    "airflow_lineage/store/sql_graph.py",
    "airflow_lineage/store/schema.py",
    "airflow_lineage/store/migrations/versions/0007_covering_walk_index.py",
}
"""What the README says changed in the walk between the two runs."""


def test_the_readme_compares_the_query_run_with_the_one_before() -> None:
    import statistics

    now, before = _query_results(), _figures(PREVIOUS_QUERY_RESULTS)
    flat = " ".join(README.split())
    assert f"(`{before['meta']['commit'][:7]}`, `bench/results/{PREVIOUS_QUERY_RESULTS}`)" in flat
    for backend, label in (
        ("networkx", "networkx"),
        ("sqlite", "SQLite"),
        ("postgres", "PostgreSQL"),
    ):
        medians = []
        for size, res in now["sizes"].items():
            ours = res["backends"][backend]["cases"]
            theirs = before["sizes"][size]["backends"][backend]["cases"]
            ratios = [
                ours[c]["p50_ms"] / theirs[c]["p50_ms"]
                for c in theirs
                if c in ours and "p50_ms" in theirs[c]
            ]
            medians.append(statistics.median(ratios))
        span = f"{min(medians):.2f}\u2013{max(medians):.2f}\u00d7"  # en dash, times sign
        assert f"{label} {span}" in flat, backend
    big = _case(before, "1000000", "sqlite", "big_30k")
    pages = _case(before, "1000000", "sqlite", "pages_30k")
    facade = _case(before, "1000000", "sqlite", "up_model_d10_facade")
    assert big is not None and pages is not None and facade is not None
    per_vertex = pages["p50_ms"] * 1000 / big["vertices_p50"]
    assert f"That run gave {per_vertex:.2f} µs a vertex for the paged 30k result and " in flat
    assert f"and {facade['p50_ms']:.2f} ms through the client." in flat
    from bench.report import _ms

    pairs = [(r, b) for r in (now, before) for b in ("sqlite", "networkx")]
    up = [_case(r, "1000000", b, "up_model_d10") for r, b in pairs]
    assert all(c is not None for c in up)
    ours_now, nx_now, ours_before, nx_before = (c["p50_ms"] for c in up)  # type: ignore[index]
    assert (
        f"SQLite went from {_ms(ours_before)} to {_ms(ours_now)} ms "
        f"({ours_now / ours_before:.2f}\u00d7; networkx {nx_now / nx_before:.2f}\u00d7)"
    ) in flat


def test_the_walk_code_changed_between_the_query_runs_only_where_the_readme_says() -> None:
    import subprocess

    before = _figures(PREVIOUS_QUERY_RESULTS)["meta"]["commit"]
    now = _query_results()["meta"]["commit"]
    flat = " ".join(README.split())
    assert f"`git diff {before[:7]} {now[:7]}`" in flat
    assert "Migration 0007 put that time into the index an upstream step searches" in flat
    found = subprocess.run(
        ["git", "cat-file", "-e", f"{before}^{{commit}}"], cwd=REPO, capture_output=True
    )
    if found.returncode != 0:
        pytest.skip(f"this checkout has no commit {before[:7]} (a shallow clone?)")
    diff = subprocess.run(
        ["git", "diff", "--name-only", before, now, "--", *WALK_CODE],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert set(diff.stdout.split()) == WALK_CHANGES, diff.stdout


def test_the_readme_says_why_the_client_case_runs_right_after_the_store_case() -> None:
    import statistics

    first = _figures("2026-12-01-query-ea5003c.json")
    assert first["meta"]["commit"].startswith("ea5003c")
    client = _case(first, "1000000", "sqlite", "up_model_d10_facade")
    assert client is not None
    times = client["times_ms"]
    flat = " ".join(README.split())
    assert (
        f"its first 50 queries had a median of {statistics.median(times[:50]):.2f} ms, "
        f"its last 50 {statistics.median(times[-50:]):.2f} ms"
    ) in flat
    # This run's SQLite worker ran the client case second, after the store case.
    order = list(_query_results()["sizes"]["1000000"]["backends"]["sqlite"]["cases"])
    assert order[:2] == ["up_model_d10", "up_model_d10_facade"], order


QUERY_AB_RESULTS = "2026-12-01-query-ab.json"
"""This code against the walk before migration 0007, alternated on one machine."""


def test_the_readme_shows_the_one_machine_comparison() -> None:
    import statistics
    import subprocess

    ab = _figures(QUERY_AB_RESULTS)
    meta = ab["meta"]
    assert meta["clean"] is True
    assert meta["against_revision"] == "0006"
    medians = ab["median_p50_ms"]
    for version, ran in medians.items():
        for via, value in ran.items():
            assert value == statistics.median(p[version][via]["p50_ms"] for p in ab["passes"])
    this, other = medians["this"], medians["other"]
    flat = " ".join(README.split())
    assert f"of `{meta['against_commit'][:7]}`" in flat
    assert f"in {len(ab['passes'])} passes" in flat
    assert f"`bench/results/{QUERY_AB_RESULTS}`" in flat
    x = "\u00d7"
    assert (
        f"is {this['store']:.2f} ms against {other['store']:.2f} through the store "
        f"({this['store'] / other['store']:.2f}{x}) and {this['client']:.2f} against "
        f"{other['client']:.2f} through the client ({this['client'] / other['client']:.2f}{x})"
    ) in flat
    # It ran the package code that the query results ran.
    measured = _query_results()["meta"]["commit"]
    for commit in (measured, meta["commit"]):
        found = subprocess.run(
            ["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=REPO, capture_output=True
        )
        if found.returncode != 0:
            pytest.skip(f"this checkout has no commit {commit[:7]} (a shallow clone?)")
    diff = subprocess.run(
        ["git", "diff", "--name-only", measured, meta["commit"], "--", "airflow_lineage"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert diff.stdout == "", diff.stdout


def test_the_benchmark_readme_reads_the_figures_of_the_results_file() -> None:
    results = _query_results()
    flat = " ".join((REPO / "bench" / "README.md").read_text().split())
    d4l = _case(results, "1000000", "sqlite", "up_model_d4")
    d4s = _case(results, "10000", "sqlite", "up_model_d4")
    big = _case(results, "1000000", "sqlite", "big_30k")
    pages = _case(results, "1000000", "sqlite", "pages_30k")
    floor = _case(results, "1000000", "networkx", "big_30k")
    mlmd = _case(results, "1000000", "mlmd", "up_model_d10")
    assert None not in (d4l, d4s, big, pages, floor, mlmd)
    n = big["vertices_p50"]  # type: ignore[index]
    x = "\u00d7"
    assert f"the 1M store costs {d4l['p50_ms'] / d4s['p50_ms']:.2f}{x} the 10k store" in flat  # type: ignore[index]
    assert (
        f"{big['p50_ms'] * 1000 / n:.2f} µs a vertex in one page, "  # type: ignore[index]
        f"{pages['p50_ms'] * 1000 / n:.2f} with every 50-vertex page read; "  # type: ignore[index]
        f"the networkx floor {floor['p50_ms'] * 1000 / n:.2f}"  # type: ignore[index]
    ) in flat
    assert f"upstream of a model takes {mlmd['p50_ms']:.1f} ms at 1M here" in flat  # type: ignore[index]
