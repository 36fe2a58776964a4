"""The Airflow plugin: registers the capture listener and turns on hook-level lineage.

Declared only through the ``airflow.plugins`` entry point (not in the provider info), so
the Task SDK's plugin loader never sees it twice.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from airflow.sdk.lineage import HookLineageReader

from airflow_lineage.capture import listener


class AirflowLineagePlugin(AirflowPlugin):
    """Record every task run as SageMaker-compatible lineage."""

    name = "airflow_lineage"
    listeners = [listener]  # noqa: RUF012 - AirflowPlugin declares these as plain attributes
    hook_lineage_readers = [HookLineageReader]  # noqa: RUF012
