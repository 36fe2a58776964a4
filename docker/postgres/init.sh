#!/usr/bin/env bash
# Run once by the postgres image on an empty data directory (docker-entrypoint-initdb.d):
# the databases and roles of init.sql, with the names and passwords from the environment.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v airflow_db="${AIRFLOW_DB:-airflow}" \
  -v airflow_user="${AIRFLOW_DB_USER:-airflow}" \
  -v airflow_password="${AIRFLOW_DB_PASSWORD:?set AIRFLOW_DB_PASSWORD}" \
  -v lineage_db="${LINEAGE_DB:-lineage}" \
  -v lineage_owner="${LINEAGE_OWNER:-lineage_owner}" \
  -v lineage_owner_password="${LINEAGE_OWNER_PASSWORD:?set LINEAGE_OWNER_PASSWORD}" \
  -f /lineage/init.sql
