"""Every configuration option airflow-lineage reads, one cached function per option.

Options live in Airflow's ``[lineage]`` section, so they can be set in ``airflow.cfg``
or, as for any Airflow option, as ``AIRFLOW__LINEAGE__<OPTION>`` environment variables.
The core library reads the environment only, so it runs without Airflow installed.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

__all__ = [
    "OPTIONS",
    "airflow_home",
    "capture_timeout",
    "conn_id",
    "default_store_url",
    "enabled",
    "max_digest_bytes",
    "outbox_dir",
    "push_xcom",
    "strict",
]

OPTIONS: dict[str, dict[str, str]] = {
    "enabled": {
        "description": "Record lineage for every task run.",
        "type": "boolean",
        "default": "True",
    },
    "conn_id": {
        "description": "The lineage connection; without it the embedded SQLite store is used.",
        "type": "string",
        "default": "lineage_default",
    },
    "store_url": {
        "description": "SQLAlchemy URL of the store used when the connection does not exist.",
        "type": "string",
        "default": "sqlite:///{AIRFLOW_HOME}/lineage.db",
    },
    "strict": {
        "description": "Fail the task when its lineage cannot be recorded (default: log it, "
        "keep the record in the outbox and let the task succeed).",
        "type": "boolean",
        "default": "False",
    },
    "capture_timeout": {
        "description": "Seconds a capture may spend writing to the store before the record "
        "goes to the outbox instead.",
        "type": "float",
        "default": "10",
    },
    "push_xcom": {
        "description": "When to push a task's lineage ARNs to XCom (key 'lineage'): "
        "'auto' when a downstream task consumes them (e.g. the lineage gate), 'always', "
        "or 'never'. An XCom write costs about as much as the whole capture.",
        "type": "string",
        "default": "auto",
    },
    "max_digest_bytes": {
        "description": "Local files and folders larger than this many bytes are not hashed "
        "in the task; they are recorded without a digest (the gate then rejects them as "
        "unverifiable unless another digest, such as an S3 ETag, exists).",
        "type": "integer",
        "default": "1073741824",
    },
    "outbox_dir": {
        "description": "Where records that could not be written wait to be replayed.",
        "type": "string",
        "default": "{AIRFLOW_HOME}/lineage-outbox",
    },
}
"""Every ``[lineage]`` option, documented once (the provider info reuses this)."""


def _option(name: str) -> str | None:
    """Return an option from the environment, else from Airflow's config when loaded."""
    value = os.environ.get(f"AIRFLOW__LINEAGE__{name.upper()}")
    if value:
        return value
    import sys

    if "airflow.configuration" in sys.modules:  # never import Airflow just to read config
        from airflow.configuration import conf

        got = conf.get("lineage", name, fallback=None)
        return str(got) if got not in (None, "") else None
    return None


def _bool(name: str) -> bool:
    raw = _option(name)
    if raw is None:
        return OPTIONS[name]["default"] == "True"
    if raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"[lineage] {name} must be a boolean, got {raw!r}")


@cache
def enabled() -> bool:
    """Return ``[lineage] enabled``: whether task runs are recorded."""
    return _bool("enabled")


@cache
def strict() -> bool:
    """Return ``[lineage] strict``: whether a capture failure fails the task."""
    return _bool("strict")


@cache
def push_xcom() -> str:
    """Return ``[lineage] push_xcom``: ``auto``, ``always`` or ``never``."""
    raw = (_option("push_xcom") or OPTIONS["push_xcom"]["default"]).strip().lower()
    aliases = {"true": "always", "false": "never"}
    value = aliases.get(raw, raw)
    if value not in ("auto", "always", "never"):
        raise ValueError(f"[lineage] push_xcom must be auto, always or never; got {raw!r}")
    return value


@cache
def conn_id() -> str:
    """Return ``[lineage] conn_id``."""
    return _option("conn_id") or OPTIONS["conn_id"]["default"]


@cache
def capture_timeout() -> float:
    """Return ``[lineage] capture_timeout`` in seconds."""
    raw = _option("capture_timeout") or OPTIONS["capture_timeout"]["default"]
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"[lineage] capture_timeout must be a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"[lineage] capture_timeout must be positive, got {value}")
    return value


@cache
def max_digest_bytes() -> int:
    """Return ``[lineage] max_digest_bytes``: the largest local data hashed in a task."""
    raw = _option("max_digest_bytes") or OPTIONS["max_digest_bytes"]["default"]
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"[lineage] max_digest_bytes must be an integer, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"[lineage] max_digest_bytes must not be negative, got {value}")
    return value


@cache
def outbox_dir() -> Path:
    """Return ``[lineage] outbox_dir``."""
    raw = _option("outbox_dir")
    return Path(raw).expanduser() if raw else airflow_home() / "lineage-outbox"


@cache
def airflow_home() -> Path:
    """Return ``$AIRFLOW_HOME``, or Airflow's own default ``~/airflow``."""
    return Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()


@cache
def default_store_url() -> str:
    """Return ``[lineage] store_url``, or the embedded SQLite file under AIRFLOW_HOME."""
    return _option("store_url") or f"sqlite:///{airflow_home() / 'lineage.db'}"
