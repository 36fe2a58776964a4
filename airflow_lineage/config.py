"""Every configuration option airflow-lineage reads, one cached function per option.

Options live in Airflow's ``[lineage]`` section, so they can be set in ``airflow.cfg``
or, as for any Airflow option, as ``AIRFLOW__LINEAGE__<OPTION>`` environment variables.
The core library reads the environment only, so it runs without Airflow installed.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

__all__ = ["airflow_home", "default_store_url"]


def _option(name: str) -> str | None:
    value = os.environ.get(f"AIRFLOW__LINEAGE__{name.upper()}")
    return value if value else None


@cache
def airflow_home() -> Path:
    """Return ``$AIRFLOW_HOME``, or Airflow's own default ``~/airflow``."""
    return Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()


@cache
def default_store_url() -> str:
    """Return ``[lineage] store_url``, or the embedded SQLite file under AIRFLOW_HOME."""
    return _option("store_url") or f"sqlite:///{airflow_home() / 'lineage.db'}"
