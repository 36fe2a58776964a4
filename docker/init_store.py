"""Set up the lineage store for the team deployment (run once by compose's airflow-init).

Creates the store's tables as ``lineage_owner`` (today: opening the store migrates it;
later ``airflow-lineage db upgrade``), then gives each account role in
``LINEAGE_ACCOUNTS`` (``<account>=<password>,...``; roles made by postgres/init.sql) the
table privileges its row-level security needs.
"""

from __future__ import annotations

import os

from airflow_lineage.store.sql import SqlStore

store = SqlStore(os.environ["LINEAGE_OWNER_URL"])
try:
    for entry in os.environ["LINEAGE_ACCOUNTS"].split(","):
        account = entry.split("=", 1)[0].strip()
        print(f"lineage store: account role {store.provision_account_role(account)} ready")
finally:
    store.close()
