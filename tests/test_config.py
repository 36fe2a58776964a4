"""Our own config section, ``[ml_lineage]``, and the one rule that finds the store."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import config
from airflow_lineage.store import Source, locate


def _clear() -> None:
    for fn in vars(config).values():
        if hasattr(fn, "cache_clear"):
            fn.cache_clear()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh AIRFLOW_HOME with no lineage settings anywhere."""
    import os

    for key in list(os.environ):
        if key.startswith(("AIRFLOW__LINEAGE__", "AIRFLOW__ML_LINEAGE__", "AIRFLOW_CONN_")):
            monkeypatch.delenv(key)
    monkeypatch.delenv("AIRFLOW_CONFIG", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    _clear()
    yield tmp_path
    monkeypatch.undo()
    _clear()


def test_the_section_is_ml_lineage_env_first_then_airflow_cfg_then_legacy(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probe = (
        "import json, sys, warnings\n"
        "warnings.simplefilter('always')\n"
        "from airflow_lineage import config\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    got = [config.store_url(), config.capture_timeout(), config.strict()]\n"
        "print(json.dumps([got, [str(x.message) for x in w], 'airflow' in sys.modules]))\n"
    )

    def read(**env: str) -> list[object]:
        import os

        run = subprocess.run(
            [sys.executable, "-c", probe],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        return list(json.loads(run.stdout))

    assert read() == [[None, 10.0, False], [], False]
    (home / "airflow.cfg").write_text(
        "[lineage]\nstore_url = sqlite:///core-section.db\n\n"
        "[ml_lineage]\nstore_url = sqlite:///from-cfg.db\ncapture_timeout = 2.5\n"
    )
    # airflow.cfg is read without importing Airflow; core's [lineage] is not ours.
    assert read() == [["sqlite:///from-cfg.db", 2.5, False], [], False]
    assert read(AIRFLOW__ML_LINEAGE__STORE_URL="sqlite:///env.db")[0][0] == "sqlite:///env.db"
    (home / "airflow.cfg").unlink()
    got, warned, _ = read(AIRFLOW__LINEAGE__STRICT="true")
    assert got == [None, 10.0, True]
    assert warned == [
        "AIRFLOW__LINEAGE__STRICT is deprecated: Airflow core owns the [lineage] section; "
        "set AIRFLOW__ML_LINEAGE__STRICT instead"
    ]
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__STRICT", "maybe")
    _clear()
    with pytest.raises(ValueError, match=r"\[ml_lineage\] strict must be a boolean"):
        config.strict()


def test_airflows_loaded_config_answers_only_what_someone_set(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.configuration import conf

    # Airflow fills in the provider's (expanded) defaults: they are not settings.
    assert config.store_url() is None
    assert config.outbox_dir() == home / "lineage-outbox"
    with conf_set(conf, "store_url", "sqlite:///set-in-airflow.db"):
        _clear()
        assert config.store_url() == "sqlite:///set-in-airflow.db"


@contextmanager
def conf_set(conf: Any, option: str, value: str) -> Iterator[None]:
    """Set ``[ml_lineage] option`` in Airflow's loaded config for a while."""
    conf.set(config.SECTION, option, value)
    try:
        yield
    finally:
        conf.remove_option(config.SECTION, option)


def test_locate_in_order_url_connection_option_default(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = locate()
    assert (where.source, where.url) == (Source.DEFAULT, f"sqlite:///{home / 'lineage.db'}")
    assert "no connection 'lineage_default', no [ml_lineage] store_url" in where.reason
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__STORE_URL", "sqlite:///opt.db")
    _clear()
    assert (locate().source, locate().url) == (Source.CONFIG, "sqlite:///opt.db")
    conn = {"conn_type": "lineage", "extra": {"url": "sqlite:///conn.db", "account": "1" * 12}}
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT", json.dumps(conn))
    where = locate()
    assert (where.source, where.url, where.account) == (
        Source.CONNECTION,
        "sqlite:///conn.db",
        "1" * 12,
    )
    assert where.reason == "the connection 'lineage_default'"
    assert locate("sqlite:///x.db").source is Source.EXPLICIT
    # The configured connection id, and a connection named explicitly, which must exist.
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__CONN_ID", "team_store")
    _clear()
    assert locate().source is Source.CONFIG
    with pytest.raises(ValueError, match="the lineage connection 'nope' does not exist"):
        locate(conn_id="nope")


@pytest.mark.parametrize(
    ("conn", "match"),
    [
        ({"extra": {"url": "postgresql://u:secret@db/lineage"}}, "holds a password"),
        ({"host": "db", "schema": "lineage"}, "has no login"),
        ({"extra": {}}, "names no store"),
        ({"extra": {"backend": "dynamo"}}, "backend 'dynamo' is not available"),
        ({"extra": {"url": "sqlite:///x.db"}, "login": "me"}, "takes no login or password"),
        (
            {"host": "db", "login": "lineage_acct_222222222222", "extra": {"account": "1" * 12}},
            "an account is its login",
        ),
    ],
)
def test_connections_that_name_no_usable_store_are_refused(
    home: Path, monkeypatch: pytest.MonkeyPatch, conn: dict[str, object], match: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT", json.dumps({"conn_type": "lineage", **conn}))
    with pytest.raises(ValueError, match=match):
        locate()


def test_a_postgres_connection_is_built_from_its_fields(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = {
        "conn_type": "lineage",
        "host": "db.internal",
        "port": 5433,
        "schema": "lineage",
        "login": "lineage_acct_222222222222",
        "password": "p@ss word",
        "extra": {"search_path": "team_b", "region": "eu-west-1"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT", json.dumps(conn))
    where = locate()
    assert (where.account, where.region) == ("222222222222", "eu-west-1")
    from sqlalchemy.engine import make_url

    url = make_url(where.url)
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg",
        "lineage_acct_222222222222",
        "p@ss word",
        "db.internal",
        5433,
        "lineage",
    )
    assert url.query == {"options": "-csearch_path=team_b"}
    assert "p@ss" not in where.describe() and "***" in where.describe()
    assert "p@ss" not in repr(where)


def test_the_admin_connection_comes_first_for_migrating_and_admin_access(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = {"conn_type": "lineage", "host": "db", "login": "lineage_acct_222222222222"}
    owner = {"conn_type": "lineage", "host": "db", "login": "lineage_owner"}
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_DEFAULT", json.dumps(account))
    assert locate(admin=True).reason == "the connection 'lineage_default'"  # no admin one
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_ADMIN", json.dumps(owner))
    assert locate().account == "222222222222"  # opening: the lineage connection
    where = locate(admin=True)
    assert (where.reason, where.account) == ("the admin connection 'lineage_admin'", None)
    assert "lineage_owner@db" in where.url
    assert locate("sqlite:///x.db", admin=True).source is Source.EXPLICIT
    monkeypatch.setenv("AIRFLOW_CONN_LINEAGE_ADMIN", json.dumps(account))
    with pytest.raises(ValueError, match="admin connection but logs in as lineage_acct_"):
        locate(admin=True)
