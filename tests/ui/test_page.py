"""The lineage page on its own (``airflow-lineage graph -o page.html``) in a real headless
browser: it opens fitted, finds vertices by name or URI, and names that look like
template or markup stay data. Needs Debian's chromium and playwright (see
test_browser.py); skipped with the reason otherwise."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import connect
from airflow_lineage.cli import main

from .test_browser import CHROMIUM, CHROMIUM_FLAGS, REPO, _browser_missing

pytestmark = pytest.mark.skipif(bool(_browser_missing()), reason=str(_browser_missing()))

RESULTS = REPO / "bench" / "results"
ODD = "{{JS}}"


def _keep(shot: Path, name: str) -> None:
    """Copy a screenshot to bench/results only when asked (never dirty the tree)."""
    if os.environ.get("AIRFLOW_LINEAGE_UPDATE_SCREENSHOT"):
        RESULTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, RESULTS / name)
    print(f"\nscreenshot: {shot}")


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Write the page of a small pipeline whose raw data set is ``s3://bucket/raw/{{JS}}.csv``."""
    base = tmp_path_factory.mktemp("page")
    url = f"sqlite:///{base / 'lineage.db'}"
    with connect(url, create=True) as store:
        raw = store.create_artifact(f"s3://bucket/raw/{ODD}.csv", "DataSet")
        prep = store.create_action("prepare-iris", "DataPreparation", "airflow://d/prep")
        feats = store.create_artifact("s3://bucket/features/iris.parquet", "DataSet")
        train = store.create_action("train-iris", "Training", "airflow://d/train")
        model = store.create_artifact("s3://models/iris/model.tar.gz", "Model")
        for src, dst, kind in [
            (raw, prep, "ContributedTo"),
            (prep, feats, "Produced"),
            (feats, train, "ContributedTo"),
            (train, model, "Produced"),
        ]:
            store.add_association(src.arn, dst.arn, kind)
    out = base / "page.html"
    args = ["--store", url, "graph", "--uri", "s3://models/iris/model.tar.gz"]
    assert main([*args, "--direction", "ascendants", "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            yield chromium.new_context(viewport={"width": 1400, "height": 900})
        finally:
            chromium.close()


def _open(browser: Any, page_file: Path) -> tuple[Any, list[str]]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_file.as_uri())
    page.wait_for_selector("body[data-rendered]", state="attached", timeout=30000)
    return page, errors


def test_the_page_opens_fitted_and_a_template_like_name_stays_data(
    browser: Any, page_file: Path, tmp_path: Path
) -> None:
    page, errors = _open(browser, page_file)
    assert not errors
    assert (
        page.locator("#graph g.node").count()
        == 5
        == int(page.get_attribute("body", "data-rendered"))
    )
    # The whole graph is in view: the view box is the graph's own box.
    view = [float(v) for v in page.get_attribute("#graph", "viewBox").split()]
    width, height = page.evaluate(
        "[window.lineage.state.graph.width, window.lineage.state.graph.height]"
    )
    assert view == [0, 0, width, height]
    # Labels stay readable: the names are drawn at 11px or more on screen.
    sizes = page.evaluate(
        "Array.from(document.querySelectorAll('#graph g.node text:last-of-type'))"
        ".map(t => t.getBoundingClientRect().height)"
    )
    assert min(sizes) >= 11
    assert page.locator("#graph g.node title", has_text=ODD).count() == 1
    shot = tmp_path / "ui-static.png"
    page.screenshot(path=str(shot))
    _keep(shot, "ui-static.png")
    page.close()


def test_find_by_name_or_uri(browser: Any, page_file: Path, tmp_path: Path) -> None:
    page, errors = _open(browser, page_file)
    page.fill("#find", "iris")  # in names and in URIs
    assert page.locator("#found").inner_text() == "1 of 4 found"
    assert page.locator("#graph g.node.match").count() == 4
    assert page.locator("#graph g.node.current").count() == 1
    page.press("#find", "Enter")
    assert page.locator("#found").inner_text() == "2 of 4 found"
    page.fill("#find", "s3://models/")
    assert page.locator("#found").inner_text() == "1 of 1 found"
    current = page.locator("#graph g.node.current title").text_content() or ""
    assert "model.tar.gz" in current
    page.fill("#find", ODD)
    assert page.locator("#found").inner_text() == "1 of 1 found"
    shot = tmp_path / "ui-find.png"
    page.screenshot(path=str(shot))
    _keep(shot, "ui-find.png")
    page.fill("#find", "no such thing")
    assert page.locator("#found").inner_text() == "no match"
    assert page.locator("#graph g.node.match").count() == 0
    page.fill("#find", "")
    assert page.locator("#found").inner_text() == ""
    assert page.get_attribute("#graph", "class") in (None, "")
    assert not errors
    page.close()
