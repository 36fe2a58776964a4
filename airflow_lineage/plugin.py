"""The Airflow plugin: registers the capture listener, turns on hook-level lineage and
adds the lineage page to the Airflow UI.

Declared only through the ``airflow.plugins`` entry point (not in the provider info), so
the Task SDK's plugin loader never sees it twice.

The page is a FastAPI app mounted at ``/lineage`` (built on its first request, so task
processes never import FastAPI), linked from every DAG run ("ML lineage") and from the
Browse menu ("ML lineage").
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk.lineage import HookLineageReader

from airflow_lineage.capture import listener
from airflow_lineage.ui import URL_PREFIX, lineage_app

_PAGE = URL_PREFIX.lstrip("/") + "/ui"


class AirflowLineagePlugin(AirflowPlugin):
    """Record every task run as SageMaker-compatible lineage and show it in the UI."""

    name = "airflow_lineage"
    listeners = [listener]  # noqa: RUF012 - AirflowPlugin declares these as plain attributes
    hook_lineage_readers = [HookLineageReader]  # noqa: RUF012
    fastapi_apps = [  # noqa: RUF012
        {"app": lineage_app, "url_prefix": URL_PREFIX, "name": "ML lineage"},
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "ML lineage",
            "href": _PAGE + "?dag_id={DAG_ID}&run_id={RUN_ID}",
            "destination": "dag_run",
            "url_route": "ml_lineage_run",
        },
        {
            "name": "ML lineage",
            "href": _PAGE,
            "destination": "nav",
            "category": "browse",
            "url_route": "ml_lineage",
        },
    ]
