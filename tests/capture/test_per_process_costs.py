"""What capture costs a task process: nothing it does not need is created or imported.

A task whose hooks report no lineage never creates Airflow's hook-lineage collector
(creating one imports every provider's asset factories, boto3 among them), and the
long-lived components preload what task processes' capture imports, so the task
processes they fork inherit it. ``bench/bench_capture_scheduler.py`` measures the effect.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

from airflow_lineage.capture import runtime
from airflow_lineage.capture.record import TaskRun
from airflow_lineage.model import utcnow
from airflow_lineage.verify import sha256_digest


def test_no_hook_lineage_collector_is_created_for_a_task_that_reports_none(
    tmp_path: Path,
) -> None:
    from airflow.sdk.lineage import HookLineageCollector, get_hook_lineage_collector

    get_hook_lineage_collector.cache_clear()
    state = runtime._Run(TaskRun("d", "t", "r"), utcnow(), None)
    runtime._watch_hook_lineage(state)
    assert get_hook_lineage_collector.cache_info().currsize == 0
    assert runtime._hook_lineage() == ([], [])
    assert get_hook_lineage_collector.cache_info().currsize == 0

    # A hook that does report an input gets it digested when it reports it.
    data = tmp_path / "in.csv"
    data.write_text("a\n")
    as_read = sha256_digest(data)
    collector = HookLineageCollector()
    collector.add_input_asset(object(), uri=data.as_uri())
    assert set(state.digested) == {data.as_uri()}
    data.write_text("changed after the hook read it\n")
    (digest,) = state.digested[data.as_uri()]
    assert digest.value == as_read  # the data as the hook read it, not as it is now


def _not_preloaded(env: dict[str, str]) -> list[str]:
    """Return the preloadable modules a fresh process still lacks after on_starting."""
    code = (
        "import sys\n"
        "from airflow_lineage.capture import listener\n"
        "assert 'airflow_lineage.store.sql' not in sys.modules\n"
        "listener.on_starting(None)\n"
        "print('MISSING', sorted(m for m in listener._WARM_MODULES if m not in sys.modules))\n"
    )
    return _printed(code, "MISSING", env)


def _printed(code: str, label: str, env: dict[str, str] | None = None) -> list[str]:
    """Run ``code`` in a fresh Python process; return the list it printed after ``label``."""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith(f"{label} "))
    return list(ast.literal_eval(line.removeprefix(f"{label} ")))


def test_long_lived_components_preload_what_capture_imports() -> None:
    assert _not_preloaded(dict(os.environ)) == []
    # With capture off nothing is loaded for it.
    off = _not_preloaded({**os.environ, "AIRFLOW__ML_LINEAGE__ENABLED": "False"})
    assert "airflow_lineage.store.sql" in off


def test_a_record_built_after_on_starting_imports_nothing(tmp_path: Path) -> None:
    # What a task process builds (digests, validated entities, the relay's JSON) is all
    # loaded by the component that forks it; a module imported here is compiled or read
    # again by every task (the SageMaker limits module alone took 4 ms a task).
    data = tmp_path / "in.csv"
    data.write_text("a\n")
    code = (
        "import sys\n"
        "from airflow_lineage.capture import listener, runtime\n"
        "from airflow_lineage.capture.lineage import DataRef, StepLineage\n"
        "from airflow_lineage.capture.record import TaskRun, build_record\n"
        "from airflow_lineage.model import ActionStatus, utcnow\n"
        "listener.on_starting(None)\n"
        "before = set(sys.modules)\n"
        f"refs = runtime._with_digests([DataRef({data.as_uri()!r})], None, {{}})\n"
        "assert refs[0].digests, refs\n"
        "lineage = StepLineage(inputs=refs, outputs=refs, parameters={'n': '1'},\n"
        "                      metrics={'rows': 2.0}, step_type='Training')\n"
        "run = TaskRun('d', 't', 'r', operator='m.Op')\n"
        "build_record(run, lineage, ActionStatus.COMPLETED, now=utcnow(), sign=False).as_json()\n"
        "print('NEW', sorted(set(sys.modules) - before))\n"
    )
    assert _printed(code, "NEW") == []
