"""The fault DAG (an Airflow DAG) for a run in its own process: ``use`` writes a marker, then pauses
(``$FAULTS_PAUSE`` seconds) so a test can break the store before its capture starts."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.faults.dag import fault_dag

DATA = Path(os.environ.get("FAULTS_DATA", "/tmp/faults-data"))


def _pause() -> None:
    (DATA / "use.done").write_text("the step ran; its capture comes next")
    time.sleep(float(os.environ.get("FAULTS_PAUSE", "0")))


dag = fault_dag(DATA, during={"use": _pause})
