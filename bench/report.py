"""Render benchmark results (the JSON of ``bench_query``) as Markdown tables.

    python -m bench.report bench/results/<date>-query.json
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench._common import load_json

LABEL = {
    "sqlite": "SQLite",
    "postgres": "PostgreSQL",
    "networkx": "networkx",
    "mlmd": "ml-metadata",
}
X = "\u00d7"  # the multiplication sign of ratios
LATENCY = [
    "up_model_d10", "up_model_d10_facade", "up_model_d10_vonly", "up_model_d4", "up_model_d50",
    "down_raw_d10", "down_raw_d50", "both_train_d10", "both_train_d50",
]
BIG = ["big_30k", "big_30k_edges"]


def _ms(v: float | None) -> str:
    if v is None or v != v:
        return "—"
    if v >= 1000:
        return f"{v / 1000:.2f} s"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def _mb(v: float | None) -> str:
    return "—" if v is None else f"{v / 2**20:.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    if not a or not b or a != a or b != b:
        return "—"
    return f"{a / b:.1f}{X}" if a / b < 100 else f"{a / b:.0f}{X}"


def _case(res: dict[str, Any], backend: str, case: str) -> dict[str, Any] | None:
    b = res.get("backends", {}).get(backend)
    if not b or "cases" not in b:
        return None
    return b["cases"].get(case)


def _sizes(results: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return sorted((int(k), v) for k, v in results.get("sizes", {}).items())


def _fmt_size(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def latency_table(results: dict[str, Any]) -> str:
    rows = [
        "| size | query | vertices p50 (ours / MLMD) | SQLite p50 / p95 ms"
        " | PostgreSQL p50 / p95 ms"
        " | networkx p50 / p95 ms | ml-metadata p50 / p95 ms | SQLite ÷ nx | SQLite ÷ MLMD"
        " | PG ÷ nx |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for size, res in _sizes(results):
        for case in LATENCY:
            cells = {b: _case(res, b, case) for b in LABEL}
            ours = cells["sqlite"] or cells["postgres"] or cells["networkx"]
            if ours is None:
                continue
            vert = f"{ours['vertices_p50']:.0f}"
            if cells["mlmd"]:
                vert += f" / {cells['mlmd']['vertices_p50']:.0f}"

            def pp(c: dict[str, Any] | None) -> str:
                return "—" if c is None else f"{_ms(c['p50_ms'])} / {_ms(c['p95_ms'])}"

            def p50(b: str, cells: dict[str, Any] = cells) -> float | None:
                c = cells[b]
                return None if c is None else c["p50_ms"]

            rows.append(
                f"| {_fmt_size(size)} | {case} | {vert} | {pp(cells['sqlite'])} | "
                f"{pp(cells['postgres'])} | {pp(cells['networkx'])} | {pp(cells['mlmd'])} | "
                f"{_ratio(p50('sqlite'), p50('networkx'))} | "
                f"{_ratio(p50('sqlite'), p50('mlmd'))} | "
                f"{_ratio(p50('postgres'), p50('networkx'))} |"
            )
    return "\n".join(rows)


def big_table(results: dict[str, Any]) -> str:
    rows = [
        "| size | backend | vertices | one page p50 ms | µs / vertex | with edges p50 ms"
        " (edges) | µs / vertex | all 50-vertex pages p50 ms (pages) | pages ÷ one page |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for size, res in _sizes(results):
        for b in LABEL:
            one = _case(res, b, "big_30k")
            if one is None:
                continue
            edges = _case(res, b, "big_30k_edges")
            pages = _case(res, b, "pages_30k")
            v = one["vertices_p50"]
            ev = edges["vertices_p50"] if edges else None
            rows.append(
                f"| {_fmt_size(size)} | {LABEL[b]} | {v:.0f} | {_ms(one['p50_ms'])} | "
                f"{one['p50_ms'] * 1000 / max(v, 1):.2f} | "
                + (
                    f"{_ms(edges['p50_ms'])} ({edges['edges_p50']:.0f}) | "
                    f"{edges['p50_ms'] * 1000 / max(ev or 1, 1):.2f} | "
                    if edges else "— | — | "
                )
                + (
                    f"{_ms(pages['all_pages']['p50_ms'])} ({pages['pages']}) | "
                    f"{pages['ratio_p50']:.2f} |"
                    if pages else "— | — |"
                )
            )
    return "\n".join(rows)


def ingest_table(results: dict[str, Any]) -> str:
    rows = [
        "| size | backend | associations | write only assoc/s | incl. building values assoc/s"
        " | values µs each | first / last 10% of batches assoc/s | store on disk MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size, res in _sizes(results):
        for b in ("sqlite", "postgres", "mlmd"):
            be = res.get("backends", {}).get(b) or {}
            ing = be.get("ingest")
            if not ing:
                continue
            first = ing.get("assoc_per_s_first_10pct")
            last = ing.get("assoc_per_s_last_10pct")
            rows.append(
                f"| {_fmt_size(size)} | {LABEL[b]} | {ing['associations']} | "
                f"{ing['assoc_per_s_write']:,.0f} | {ing['assoc_per_s_end_to_end']:,.0f} | "
                + (f"{ing['build_us_per_value']:.1f}" if "build_us_per_value" in ing else "—")
                + " | "
                + (f"{first:,.0f} / {last:,.0f}" if first else "—")
                + f" | {_mb(be.get('store_bytes'))} |"
            )
    return "\n".join(rows)


def memory_table(results: dict[str, Any]) -> str:
    cols = ["up_model_d10", "down_raw_d50", "big_30k", "both_train_d10", "both_train_d50"]
    rows = [
        "| size | backend | RSS after open MB | "
        + " | ".join(f"peak in {c} MB" for c in cols)
        + " | store on disk MB |",
        "|---|---|---|" + "---|" * len(cols) + "---|",
    ]
    for size, res in _sizes(results):
        for b in LABEL:
            be = res.get("backends", {}).get(b)
            if not be or "cases" not in be:
                continue
            peaks = [
                _mb((be["cases"].get(c) or {}).get("peak_rss")) for c in cols
            ]
            rows.append(
                f"| {_fmt_size(size)} | {LABEL[b]} | {_mb(be.get('rss_open'))} | "
                + " | ".join(peaks)
                + f" | {_mb(be.get('store_bytes'))} |"
            )
    return "\n".join(rows)


def targets(results: dict[str, Any]) -> str:
    sizes = _sizes(results)
    if not sizes:
        return ""
    by = dict(sizes)
    lines = []
    largest, res_l = sizes[-1]
    smallest, res_s = sizes[0]
    up_l = _case(res_l, "sqlite", "up_model_d10")
    up_s = _case(res_s, "sqlite", "up_model_d10")

    def verdict(ok: bool) -> str:
        return "met" if ok else "**missed**"

    def latency(case: dict[str, Any], what: str, bound: float, bound_text: str) -> str:
        cpu = case.get("cpu_p50_ms")
        return (
            f"- {_fmt_size(largest)} SQLite {what} p50 ≤ {bound_text} ms: {_ms(case['p50_ms'])} ms"
            + (f" (CPU {_ms(cpu)} ms)" if cpu else "")
            + f", p95 {_ms(case['p95_ms'])} ms — {verdict(case['p50_ms'] <= bound)}"
        )

    if up_l:
        lines.append(latency(up_l, "upstream-from-model (depth 10)", 2, "2"))
    facade = _case(res_l, "sqlite", "up_model_d10_facade")
    if facade:
        what = "upstream-from-model through the boto3 client (query_lineage)"
        lines.append(latency(facade, what, 0.3, "0.3"))
    if up_l and up_s and largest != smallest:
        r = up_l["p50_ms"] / up_s["p50_ms"]
        lines.append(
            f"- {_fmt_size(largest)} ÷ {_fmt_size(smallest)} store, same query: {r:.2f}{X} "
            f"(vertices p50 {up_l['vertices_p50']:.0f} vs {up_s['vertices_p50']:.0f}; per "
            f"result vertex {r * up_s['vertices_p50'] / up_l['vertices_p50']:.2f}{X}) — "
            f"{verdict(r <= 1.5)}"
        )
        d4l, d4s = _case(res_l, "sqlite", "up_model_d4"), _case(res_s, "sqlite", "up_model_d4")
        if d4l and d4s:
            lines.append(
                f"  - constant-shape depth-4 variant: {d4l['p50_ms'] / d4s['p50_ms']:.2f}{X} "
                f"({_ms(d4l['p50_ms'])} vs {_ms(d4s['p50_ms'])} ms; vertices "
                f"{d4l['vertices_p50']:.0f} vs {d4s['vertices_p50']:.0f})"
            )
    for size, res in sizes:
        big = _case(res, "sqlite", "big_30k")
        if big and big["vertices_p50"] >= 10_000:
            us = big["p50_ms"] * 1000 / big["vertices_p50"]
            cpu = big.get("cpu_p50_ms")
            lines.append(
                f"- {_fmt_size(size)} SQLite {big['vertices_p50']:.0f}-vertex result: "
                f"{us:.2f} µs/vertex"
                + (f" (CPU {cpu * 1000 / big['vertices_p50']:.2f})" if cpu else "")
                + f" (≤ 5) — {verdict(us <= 5)}"
            )
        pages = _case(res, "sqlite", "pages_30k")
        if pages and big and big["vertices_p50"] >= 10_000:
            us = pages["all_pages"]["p50_ms"] * 1000 / big["vertices_p50"]
            lines.append(
                f"- {_fmt_size(size)} SQLite the same result in {pages['page_size']}-vertex "
                f"pages, every page read: {us:.2f} µs/vertex (≤ 3) — {verdict(us <= 3)}"
            )
            lines.append(
                f"- {_fmt_size(size)} SQLite all {pages['page_size']}-vertex pages ÷ one page: "
                f"{pages['ratio_p50']:.2f}{X} (≤ 2) — {verdict(pages['ratio_p50'] <= 2)}"
            )
    for size, res in sizes:
        ing = (res.get("backends", {}).get("sqlite") or {}).get("ingest")
        if ing:
            w, e = ing["assoc_per_s_write"], ing["assoc_per_s_end_to_end"]
            lines.append(
                f"- {_fmt_size(size)} SQLite ingest writing ≥ 50,000 assoc/s: {w:,.0f} — "
                f"{verdict(w >= 50000)}; the older ≥ 20,000: {w:,.0f} writing "
                f"({verdict(w >= 20000)}), {e:,.0f} including building the validated values "
                f"({verdict(e >= 20000)})"
            )
    rss = [
        (size, (r.get("backends", {}).get("sqlite") or {}).get("cases", {}).get("up_model_d10"))
        for size, r in sizes
    ]
    rss = [(s, c["peak_rss"]) for s, c in rss if c]
    if len(rss) >= 2:
        ratio = rss[-1][1] / rss[0][1]
        lines.append(
            "- memory flat in store size (SQLite worker peak RSS in up_model_d10, its first "
            "case): "
            + ", ".join(f"{_fmt_size(s)} {_mb(v)} MB" for s, v in rss)
            + f" ({ratio:.2f}{X}) — {verdict(ratio <= 1.25)}"
        )
    del by
    return "\n".join(lines)


def _commits(results: dict[str, Any]) -> str:
    """Say which package commit each worker ran (the package may change between runs)."""
    seen: dict[str, list[str]] = {}
    for size, res in _sizes(results):
        for b, be in res.get("backends", {}).items():
            for c in (be.get("cases") or {}).values():
                pkg = c.get("package") or be.get("package")
                if pkg:
                    key = pkg["commit"] + (" (modified)" if pkg.get("dirty") else "")
                    where = seen.setdefault(key, [])
                    label = f"{_fmt_size(size)} {LABEL[b]}"
                    if label not in where:
                        where.append(label)
    if not seen:
        return ""
    return "Package (commit) each measurement ran: " + "; ".join(
        f"{commit}: {', '.join(where)}" for commit, where in seen.items()
    ) + "."


def markdown(results: dict[str, Any]) -> str:
    meta = results.get("meta", {})
    parts = [
        f"Run {meta.get('date', '?')} at commit {meta.get('commit', '?')}"
        + (" (package modified)" if meta.get("dirty") else "")
        + f"; {meta.get('machine', '')}; Python {meta.get('python', '')}, SQLite "
        f"{meta.get('sqlite', '')}, networkx {meta.get('networkx', '')}; seed {meta.get('seed')}.",
        "",
        _commits(results),
        "",
        "Graphs:",
        "",
        "| size | entities | associations | runs | generate s |",
        "|---|---|---|---|---|",
    ]
    for size, res in _sizes(results):
        g = res.get("graph", {})
        parts.append(
            f"| {_fmt_size(size)} | {g.get('entities')} | {g.get('associations')} | "
            f"{g.get('runs')} | {res.get('generate_s', 0):.1f} |"
        )
    skipped = {
        LABEL[b]: v["skipped"]
        for _, res in _sizes(results)
        for b, v in res.get("backends", {}).items()
        if "skipped" in v
    }
    parts += ["", "### Targets", "", targets(results), "", "### Query latency", "",
              latency_table(results), "", "### Large result and pagination", "",
              big_table(results), "", "### Ingest", "", ingest_table(results), "",
              "### Memory (worker process RSS)", "", memory_table(results)]
    for name, why in skipped.items():
        parts += ["", f"{name} skipped: {why}"]
    checks = [
        f"{_fmt_size(size)} {b}: {c['n_mismatches']} result sizes differ from {c['against']}"
        for size, res in _sizes(results)
        for b, c in (res.get("checks") or {}).items()
    ]
    if checks:
        parts += ["", "Cross-checks: " + "; ".join(checks) + "."]
    return "\n".join(parts) + "\n"


def main() -> None:
    if len(sys.argv) > 1:
        path = Path(sys.argv[1])
    else:
        path = max(Path("bench/results").glob("*-query.json"))
    print(markdown(load_json(path)))


if __name__ == "__main__":
    main()
