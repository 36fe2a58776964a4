"""Provider metadata for Airflow (``apache_airflow_provider`` entry point)."""

from __future__ import annotations

from typing import Any

from airflow_lineage import __version__
from airflow_lineage.config import OPTIONS, SECTION

__all__ = ["get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """Return the provider info Airflow's providers manager reads."""
    return {
        "package-name": "airflow-lineage",
        "name": "ML Lineage",
        "description": "SageMaker-compatible ML lineage: automatic capture of every task run, "
        "one-query lineage, and deployment gates on verified provenance.",
        "versions": [__version__],
        "connection-types": [
            {
                "connection-type": "lineage",
                "hook-class-name": "airflow_lineage.hooks.lineage.LineageHook",
                "hook-name": "ML Lineage",
                "conn-fields": {
                    "backend": {
                        "label": "Backend",
                        "schema": {
                            "type": ["string", "null"],
                            "enum": ["sql", "sagemaker", None],
                            "default": "sql",
                        },
                    },
                    "search_path": {
                        "label": "PostgreSQL schema of the lineage tables",
                        "schema": {"type": ["string", "null"]},
                    },
                    "url": {
                        "label": "Store URL without a password (e.g. a SQLite file)",
                        "schema": {"type": ["string", "null"]},
                    },
                    "account": {
                        "label": "Account (SQLite, SageMaker; PostgreSQL: the login's)",
                        "schema": {"type": ["string", "null"], "pattern": "^[0-9]{12}$"},
                    },
                    "region": {"label": "Region", "schema": {"type": ["string", "null"]}},
                    "aws_conn_id": {
                        "label": "AWS connection (sagemaker backend)",
                        "schema": {"type": ["string", "null"]},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["extra"],
                    "relabeling": {
                        "host": "PostgreSQL host",
                        "schema": "Database",
                        "login": "Login (the account's role, lineage_acct_<account>)",
                    },
                    "placeholders": {
                        "login": "lineage_acct_111111111111",
                        "url": "sqlite:////opt/airflow/lineage.db",
                    },
                },
            }
        ],
        "hooks": [
            {"integration-name": "ML Lineage", "python-modules": ["airflow_lineage.hooks.lineage"]}
        ],
        "integrations": [
            {
                "integration-name": "ML Lineage",
                "external-doc-url": "https://github.com/airflow-lineage/airflow-lineage",
                "tags": ["software"],
            }
        ],
        "db-managers": ["airflow_lineage.store.db_manager.LineageDBManager"],
        "config": {
            SECTION: {
                "description": "Automatic ML lineage capture (airflow-lineage).",
                "options": {
                    name: {
                        "description": spec["description"],
                        "version_added": "0.1.0",
                        "type": spec["type"],
                        "example": None,
                        "default": spec["default"],
                    }
                    for name, spec in OPTIONS.items()
                },
            }
        },
    }
