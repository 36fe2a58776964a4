"""The README's capture figures are the ones in bench/results, from a committed tree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _figures(name: str) -> dict[str, object]:
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
