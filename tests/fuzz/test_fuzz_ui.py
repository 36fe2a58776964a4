"""Fuzz the lineage page's API through Airflow's whole API app (real auth, real JWTs):
every answer is JSON, 200 or a 4xx with a ``detail``, never a 5xx or a traceback, and
the store is unchanged."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from airflow_lineage.capture.lineage import DataRef, StepLineage
from airflow_lineage.capture.record import TaskRun, build_record
from airflow_lineage.model import ActionStatus, utcnow

from ..ui.conftest import airflow_db, auth_environment, password, register_dags, reset_lineage
from .conftest import Seeded
from .strategies import ARN, HUGE, TEXT, fuzz

__all__ = ["airflow_db"]  # a fixture this module uses

REQUESTS = 1500


@pytest.fixture(scope="module")
def ui(
    airflow_db: None, seeded: Seeded, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Any, dict[str, str], list[str]]]:
    """Yield a TestClient of Airflow's API app on the seeded store, the headers of an
    admin, and ARNs that exist (a DAG run's steps among them)."""
    from fastapi.testclient import TestClient

    from airflow_lineage import connect

    register_dags("fuzzed")
    rec = build_record(
        TaskRun("fuzzed", "train", "r1"),
        StepLineage(step_type="Training", inputs=(DataRef("s3://b/in.csv"),)),
        ActionStatus.COMPLETED,
        now=utcnow(),
    )
    with connect(seeded.url) as store:
        store.write(rec.entities, rec.associations)
    seeded.before = seeded.export()  # what fuzzing must leave as it is
    home = tmp_path_factory.mktemp("ui-fuzz")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in auth_environment(home).items():
            mp.setenv(key, value)
        mp.setenv("AIRFLOW__ML_LINEAGE__STORE_URL", seeded.url)
        reset_lineage()
        from airflow.api_fastapi.app import create_app, purge_cached_app

        purge_cached_app()
        with TestClient(create_app()) as client:
            r = client.post(
                "/auth/token", json={"username": "admin", "password": password("admin")}
            )
            assert r.status_code == 201, r.text
            headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
            yield client, headers, [*seeded.arns.values(), *(e.arn for e in rec.entities)]
        purge_cached_app()
    reset_lineage()


PARAM = st.one_of(TEXT, HUGE.map(str), st.sampled_from(["both", "ascendants", "all", "run"]))


@st.composite
def _request(draw: st.DrawFn, arns: list[str]) -> tuple[str, dict[str, str]]:
    start = draw(st.one_of(ARN, st.sampled_from(arns)))
    params = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "direction": PARAM,
                "depth": PARAM,
                "limit": PARAM,
                "scope": PARAM,
                "uri": st.one_of(TEXT, st.just("s3://b/in.csv")),
                "arn": st.just(start),
            },
        )
    )
    params = {k: v.replace("\x00", "") for k, v in params.items()}
    path = draw(
        st.one_of(
            st.just("/lineage/api/graph"),
            st.just("/lineage/api/entity"),
            st.tuples(st.one_of(TEXT, st.just("fuzzed")), st.one_of(TEXT, st.just("r1"))).map(
                lambda ids: (
                    f"/lineage/api/dag-runs/{quote(ids[0], safe='')}/{quote(ids[1], safe='')}/graph"
                )
            ),
        )
    )
    return path, params


@fuzz(REQUESTS)
@given(data=st.data())
def test_the_ui_api_answers_json_and_never_a_server_error(
    ui: tuple[Any, dict[str, str], list[str]],
    seeded: Seeded,
    watch: sqlite3.Connection,
    data: st.DataObject,
) -> None:
    client, headers, arns = ui
    path, params = data.draw(_request(arns))
    version = seeded.data_version(watch)
    authorised = data.draw(st.booleans().map(lambda b: b or len(params) % 7 != 0))
    r = client.get(path, params=params, headers=headers if authorised else {})
    assert r.status_code < 500, (r.status_code, r.text[:500])
    body = r.json()
    if r.status_code >= 400:
        assert "detail" in body and "Traceback" not in r.text
    else:
        assert "nodes" in body or "record" in body, list(body)
    assert seeded.data_version(watch) == version
