"""A real Airflow auth manager with per-DAG read rules, for the UI tests.

Airflow's default SimpleAuthManager has global roles only (a viewer reads every DAG; its
only finer rule is multi-team mode, which needs teams bound to DAG bundles). This
subclass keeps everything of it (users, passwords file, JWTs from ``POST /auth/token``,
the login page) and adds one rule: ``AIRFLOW_LINEAGE_TEST_DENIED`` lists
``user:dag_id`` pairs that user may not access (``user:*`` denies every DAG, including
the "all DAGs" question). It is configured as ``[core] auth_manager`` in the tests.
"""

from __future__ import annotations

import os
from typing import Any

from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import SimpleAuthManager

DENIED_ENV = "AIRFLOW_LINEAGE_TEST_DENIED"


def _denied() -> set[tuple[str, str]]:
    pairs = set()
    for item in os.environ.get(DENIED_ENV, "").split(","):
        user, sep, dag_id = item.strip().partition(":")
        if sep:
            pairs.add((user, dag_id))
    return pairs


class DagScopedAuthManager(SimpleAuthManager):
    """SimpleAuthManager plus per-user, per-DAG denials."""

    def is_authorized_dag(
        self, *, method: Any, user: Any, access_entity: Any = None, details: Any = None
    ) -> bool:
        denied = _denied()
        dag_id = getattr(details, "id", None)
        if (user.username, "*") in denied:
            return False
        if dag_id is None and any(u == user.username for u, _ in denied):
            return False  # a user with any denial cannot read "all DAGs"
        if dag_id is not None and (user.username, dag_id) in denied:
            return False
        return super().is_authorized_dag(
            method=method, user=user, access_entity=access_entity, details=details
        )
