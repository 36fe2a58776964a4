"""The lineage page in a real headless browser, served by a real ``airflow api-server``.

The local ML pipeline (dags/ml_pipeline_local.py) runs for real first; the page is
opened from the DAG run's link target with a JWT issued by ``POST /auth/token``. Needs
Debian's chromium (``apt-get install chromium``) and ``pip install playwright`` (no
browser download: the test drives /usr/bin/chromium); skipped with the reason otherwise.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import LineageQuery, connect
from airflow_lineage.model import Action, Artifact, Association, AssociationType
from airflow_lineage.store import upgrade

from .conftest import auth_environment, password, reset_lineage

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("AIRFLOW_LINEAGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = REPO / "bench" / "results" / "ui-screenshot.png"
STAGES, WIDTH = 10, 100  # 1 + 10 * (100 actions + 100 artifacts) = 2,001 vertices


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; no browser download)"
    return None


pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bool(_browser_missing()), reason=str(_browser_missing())),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bulk(url: str) -> tuple[str, int]:
    """Write a 2,001-vertex lineage (DAG ``bulk``) and return its root's ARN and size."""
    root = Artifact.new("s3://bulk/raw/root.csv", "DataSet")
    entities: list[Any] = [root]
    assocs: list[Association] = []
    previous = [root.arn] * WIDTH
    for stage in range(STAGES):
        current = []
        for i in range(WIDTH):
            action = Action.new(
                f"bulk-s{stage}-a{i}",
                "Training" if stage % 2 else "DataPreparation",
                f"airflow://dags/bulk/runs/r/tasks/s{stage}-{i}",
                status="Completed",
                properties={"airflow:dag_id": "bulk"},
            )
            out = Artifact.new(f"s3://bulk/s{stage}/part-{i}.csv", "DataSet")
            entities += [action, out]
            assocs.append(Association(previous[i], action.arn, AssociationType.CONTRIBUTED_TO))
            if stage and i:
                assocs.append(
                    Association(previous[i - 1], action.arn, AssociationType.CONTRIBUTED_TO)
                )
            assocs.append(Association(action.arn, out.arn, AssociationType.PRODUCED))
            current.append(out.arn)
        previous = current
    with connect(url, create=True) as store:
        store.write(entities, assocs)
    return root.arn, len(entities)


@pytest.fixture(scope="module")
def served(airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Run the local pipeline for real, then serve Airflow with ``airflow api-server``."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    from airflow_lineage.capture import runtime

    home = tmp_path_factory.mktemp("ui-browser")
    store_url = f"sqlite:///{home / 'lineage.db'}"
    env = {
        "AIRFLOW__ML_LINEAGE__STORE_URL": store_url,
        "AIRFLOW__ML_LINEAGE__OUTBOX_DIR": str(home / "outbox"),
        "ML_PIPELINE_DIR": str(home / "ml"),
        **auth_environment(home),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        reset_lineage()
        runtime.reset()
        upgrade(store_url)
        bag = DagBag(dag_folder=str(REPO / "dags" / "ml_pipeline_local.py"), safe_mode=False)
        assert not bag.import_errors, bag.import_errors
        dag = bag.dags["ml_pipeline_local"]
        DagBundlesManager().sync_bundles_to_db()
        bag2 = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"], collect_dags=False)
        bag2.bag_dag(dag)
        sync_bag_to_db(bag2, "dags-folder", None)
        started = time.monotonic()
        dr = dag.test()
        pipeline_s = time.monotonic() - started
        assert dr.state == "success"
        reset_lineage()
        runtime.reset()
    bulk_root, bulk_size = _bulk(store_url)

    port = _free_port()
    server_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    log = (home / "api-server.log").open("w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "airflow"),
            "api-server",
            "-H",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            "1",
        ],
        env=server_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=str(home),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "api-server did not start:\n"
                        + (home / "api-server.log").read_text()[-4000:]
                    )
                time.sleep(0.5)
        yield {
            "base": base,
            "store_url": store_url,
            "run_id": dr.run_id,
            "bulk_root": bulk_root,
            "bulk_size": bulk_size,
            "pipeline_s": pipeline_s,
            "home": home,
        }
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        reset_lineage()


def _token(base: str, user: str) -> str:
    import json

    req = urllib.request.Request(
        f"{base}/auth/token",
        data=json.dumps({"username": user, "password": password(user)}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return str(json.load(r)["access_token"])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"lineage-chromium-{os.getpid()}"
    shutil.rmtree(profile, ignore_errors=True)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1400, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


def _wait_drawn(page: Any, served: dict[str, Any], timeout: float = 60000) -> None:
    """Wait until the page has painted a graph; fail with what it said otherwise."""
    page.wait_for_selector(
        "body[data-rendered], body[data-error]", state="attached", timeout=timeout
    )
    error = page.get_attribute("body", "data-error")
    if error:
        log = (served["home"] / "api-server.log").read_text()[-3000:]
        pytest.fail(f"the page reports: {error}\napi-server log:\n{log}")


def _expected(store_url: str, starts: list[str], directions: list[str], depth: int) -> set[str]:
    """The vertices of the same walk, asked of the store directly."""
    found: set[str] = set()
    with connect(store_url) as store:
        for d in directions:
            q = LineageQuery(
                start_arns=tuple(starts), direction=d, include_edges=True, max_depth=depth
            )
            found |= set(store.query(q).arns())
    return found


def _run_members(store: Any, ctx: str, actions: list[str]) -> set[str]:
    """A DAG run's own lineage, asked of the store one association at a time."""
    members = {ctx, *actions}
    members |= {a.destination_arn for a in store.list_associations(source_arn=ctx).items}
    for action in actions:
        near = [a.destination_arn for a in store.list_associations(source_arn=action).items]
        near += [a.source_arn for a in store.list_associations(destination_arn=action).items]
        for arn in near:
            entity = store.get(arn)
            if ":action/" not in arn and entity.type != "PipelineExecution":
                members.add(arn)
    return members


def test_the_page_draws_the_run_and_shows_a_vertex(
    served: dict[str, Any], browser: Any, tmp_path: Path
) -> None:
    base, run_id = served["base"], served["run_id"]
    browser.clear_cookies()
    page = browser.new_page()
    # Without a session the page shows the refusal and draws nothing.
    page.goto(f"{base}/lineage/ui?dag_id=ml_pipeline_local&run_id={run_id}")
    page.wait_for_selector("body[data-error]", state="attached", timeout=30000)
    assert page.locator("#graph g.node").count() == 0
    assert "401" in page.locator("#status").inner_text()

    browser.add_cookies([{"name": "_token", "value": _token(base, "admin"), "url": base}])
    page.goto(f"{base}/lineage/ui?dag_id=ml_pipeline_local&run_id={run_id}")
    _wait_drawn(page, served)
    drawn = page.locator("#graph g.node").count()

    with connect(served["store_url"]) as store:
        (ctx,) = store.list_entities(
            "Context", source_uri=f"airflow://dags/ml_pipeline_local/runs/{run_id}"
        ).items
        actions = [
            a.source_arn
            for a in store.list_associations(destination_arn=ctx.arn).items
            if ":action/" in a.source_arn
        ]
        own = _run_members(store, ctx.arn, actions)
    # By default the run's own lineage: its steps, what they read and wrote, its contexts.
    assert drawn == len(own) == int(page.get_attribute("body", "data-rendered") or 0)
    assert drawn >= 20  # 8 steps, 10 artifacts, the run, the DAG, the endpoint
    assert page.locator("#graph g.node.start").count() == 1
    status = page.locator("#status").inner_text()
    assert f"{drawn} vertices" in status and "hidden" not in status
    assert page.locator("#depth").is_disabled()

    # "All runs": everything the walk reaches from the run, upstream and downstream.
    page.evaluate("document.body.removeAttribute('data-rendered')")
    page.click("button[data-scope=all]")
    _wait_drawn(page, served)
    assert "scope=all" in page.url and "(all runs)" in page.locator("#title").inner_text()
    expected = _expected(
        served["store_url"], [ctx.arn, *actions], ["Ascendants", "Descendants"], 10
    )
    assert page.locator("#graph g.node").count() == len(expected) >= drawn
    assert page.locator("#depth").is_enabled()

    # Show the whole graph, click the training step: its properties appear.
    page.click("#fit")
    train = page.locator("#graph g.node", has=page.locator("title", has_text="-train-"))
    train.first.click()
    page.wait_for_selector("#entity", timeout=30000)
    panel = page.locator("#props").inner_text()
    assert "param:max_depth" in panel and "DecisionTreeClassifier" in panel
    assert "airflow:dag_id" in panel and "Completed" in panel
    shot = tmp_path / "ui-run.png"
    page.screenshot(path=str(shot), full_page=False)
    if os.environ.get("AIRFLOW_LINEAGE_UPDATE_SCREENSHOT"):  # never dirty the tree by default
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT)
    print(
        f"\nscreenshot: {shot} (set AIRFLOW_LINEAGE_UPDATE_SCREENSHOT=1 to copy it to {SCREENSHOT})"
    )

    # Re-centre on it: the training step becomes the start, upstream only.
    page.click("button[data-direction=upstream]")
    _wait_drawn(page, served)
    page.click("#recentre")
    page.wait_for_selector("#graph g.node.start title:has-text('-train-')", state="attached")
    _wait_drawn(page, served)
    assert "arn=" in page.url and "direction=upstream" in page.url
    shot2 = tmp_path / "ui-recentred.png"
    page.screenshot(path=str(shot2))
    print(f"screenshot: {shot2}")

    # Start from a name typed into Start (not an ARN, not a URI): the same step.
    train_name = next(a for a in actions if "-train-" in a).rsplit("/", 1)[1]  # ARN ends in it
    page.fill("#target", train_name)
    page.evaluate("document.body.removeAttribute('data-rendered')")
    page.click("#show")
    _wait_drawn(page, served)
    assert "name=" in page.url
    assert train_name in (page.locator("#graph g.node.start title").text_content() or "")
    # Find in the drawn graph by a URI's part.
    page.fill("#find", "file://")
    assert page.locator("#graph g.node.match").count() >= 1
    assert "found" in page.locator("#found").inner_text()
    page.close()


def test_a_user_without_access_to_the_dag_sees_no_graph(
    served: dict[str, Any], browser: Any
) -> None:
    base = served["base"]
    browser.clear_cookies()
    browser.add_cookies([{"name": "_token", "value": _token(base, "stranger"), "url": base}])
    page = browser.new_page()
    page.goto(f"{base}/lineage/ui?dag_id=ml_pipeline_local&run_id={served['run_id']}")
    page.wait_for_selector("body[data-error]", state="attached", timeout=30000)
    assert "403" in page.locator("#status").inner_text()
    assert page.locator("#graph g.node").count() == 0
    page.close()


def test_two_thousand_vertices_paint_quickly(
    served: dict[str, Any], browser: Any, tmp_path: Path
) -> None:
    base = served["base"]
    browser.clear_cookies()
    browser.add_cookies([{"name": "_token", "value": _token(base, "admin"), "url": base}])
    page = browser.new_page()
    page.goto(f"{base}/lineage/ui?arn={served['bulk_root']}&direction=downstream&depth=30")
    _wait_drawn(page, served, timeout=120000)
    drawn = page.locator("#graph g.node").count()
    assert drawn == served["bulk_size"] == 2001
    timing = page.evaluate("window.lineage.timing")
    print(
        f"\n2,001 vertices: first paint {timing['paintMs']:.0f} ms after the data arrived "
        f"(DOM built in {timing['buildMs']:.0f} ms); {timing['sinceFetchMs']:.0f} ms from "
        "request to painted graph"
    )
    assert timing["paintMs"] < 3000
    # Still interactive: fit the whole graph, then a click shows a vertex's properties.
    started = time.monotonic()
    page.click("#fit")
    page.locator("#graph g.node").nth(1500).click(force=True)
    page.wait_for_selector("#entity")
    print(f"fit, click and properties shown: {(time.monotonic() - started) * 1000:.0f} ms")
    page.screenshot(path=str(tmp_path / "ui-2000.png"))
    print(f"screenshot: {tmp_path / 'ui-2000.png'}")
    page.close()


ODD = "<img src=x onerror=alert(1)>{{JS}}"


def _two_models(url: str) -> tuple[str, str]:
    """Record two runs of a DAG ``weekly`` whose models differ in a parameter, an input's
    digest and a metric, with names that look like markup and template; return their URIs."""
    from airflow_lineage.capture.lineage import DataRef, StepLineage
    from airflow_lineage.capture.record import TaskRun, build_record
    from airflow_lineage.model import ActionStatus

    uris = []
    with connect(url) as store:
        for run, depth, digest, score in (("w1", "3", "1", "0.91"), ("w2", ODD, "2", "0.87")):
            model = f"s3://models/{ODD}/{run}.pkl"
            rec = build_record(
                TaskRun("weekly", "train", run),
                StepLineage(
                    step_type="Training",
                    inputs=(DataRef("s3://weekly/data.csv", digests=(("Custom", digest * 8),)),),
                    outputs=(DataRef(model, "Model"),),
                    parameters={"max_depth": depth},
                    metrics={"accuracy": score},
                ),
                ActionStatus.COMPLETED,
                now=datetime.now(UTC),
            )
            store.write(rec.entities, rec.associations)
            uris.append(model)
    return uris[0], uris[1]


def _keep_view(shot: Path, name: str) -> None:
    """Copy a view's screenshot to bench/results only when asked (never dirty the tree)."""
    if os.environ.get("AIRFLOW_LINEAGE_UPDATE_SCREENSHOT"):
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, SCREENSHOT.parent / name)
    print(f"\nscreenshot: {shot}")


def _cells(page: Any, table: str) -> list[list[str]]:
    return [
        [c.strip() for c in row]
        for row in page.eval_on_selector_all(
            f"{table} tbody tr",
            "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))",
        )
    ]


def test_the_compare_and_impact_views(served: dict[str, Any], browser: Any, tmp_path: Path) -> None:
    base, run_id = served["base"], served["run_id"]
    a, b = _two_models(served["store_url"])
    browser.clear_cookies()
    browser.add_cookies([{"name": "_token", "value": _token(base, "admin"), "url": base}])
    page = browser.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

    # From the graph, the "Compare two models" tab; two URIs typed in.
    page.goto(f"{base}/lineage/ui?dag_id=ml_pipeline_local&run_id={run_id}")
    _wait_drawn(page, served)
    page.click("button[data-view=diff]")
    assert page.locator("#diff-view").is_visible() and not page.locator("#canvas").is_visible()
    page.fill("#diff-a", a)
    page.fill("#diff-b", b)
    page.click("#diff-show")
    page.wait_for_selector("body[data-view-ready=diff], body[data-error]", state="attached")
    assert page.get_attribute("body", "data-error") is None
    assert "view=diff" in page.url
    rows = _cells(page, "#diff-table")
    assert ["Parameter", "train.max_depth", "3", ODD] in rows
    assert ["Metric", "train.accuracy", "0.91", "0.87"] in rows
    assert [
        "Input digest changed",
        "s3://weekly/data.csv (DataSet)",
        "Custom " + "1" * 8,
        "Custom " + "2" * 8,
    ] in rows
    assert len(rows) == 3  # nothing else differs
    assert _cells(page, "#diff-models")[1][1] == b  # the name is shown as text
    assert page.locator("#diff-view img").count() == 0 and not dialogs
    shot = tmp_path / "ui-diff.png"
    page.screenshot(path=str(shot))
    _keep_view(shot, "ui-diff.png")

    # The "Impact of a data set" tab on the pipeline's raw data set.
    raw = f"file://{served['home'] / 'ml'}/raw/iris.csv"
    page.click("button[data-view=impact]")
    page.fill("#impact-dataset", raw)
    page.click("#impact-show")
    page.wait_for_selector("body[data-view-ready=impact], body[data-error]", state="attached")
    assert page.get_attribute("body", "data-error") is None
    assert (
        "An endpoint serves an affected model now." in page.locator("#impact-verdict").inner_text()
    )
    models = _cells(page, "#impact-models")
    assert {(m[2], m[3]) for m in models} == {
        (task, f"ml_pipeline_local / {run_id}")
        for task in ("extract_features", "train", "register")
    }
    ((approval, status, approved, approval_run),) = _cells(page, "#impact-approvals")
    assert status == "Completed" and approved.endswith("registry/iris/1/model.pkl")
    assert approval and approval_run == f"ml_pipeline_local / {run_id}"
    ((endpoint, deployment, endpoint_run, served_models, flag),) = _cells(page, "#impact-endpoints")
    assert endpoint.endswith(f"serving/iris-{run_id}") and flag == "YES" and deployment
    assert endpoint_run == f"ml_pipeline_local / {run_id}" and "model.pkl" in served_models
    assert page.locator("#impact-endpoints tr.serving").count() == 1
    shot = tmp_path / "ui-impact.png"
    page.screenshot(path=str(shot))
    _keep_view(shot, "ui-impact.png")

    # Back to the graph: it is drawn again; a view's address opens that view.
    page.evaluate("document.body.removeAttribute('data-rendered')")
    page.click("button[data-view=graph]")
    _wait_drawn(page, served)
    assert page.locator("#canvas").is_visible() and not page.locator("#impact-view").is_visible()
    page.goto(f"{base}/lineage/ui?view=impact&dataset=s3://nowhere/x.csv")
    page.wait_for_selector("body[data-error]", state="attached")
    assert "404" in page.locator("#status").inner_text()
    page.close()
