"""Link a run that Asset events started to the task tries that produced those events.

A DAG scheduled on an Asset runs when another DAG's task updates it. Airflow hands the
run the events that started it (``triggering_asset_events`` in the task context: the
source DAG, run, task and map index of each event). Each try of the started run is
linked to the producing task's try (the newest Completed try of that task run, found
through its task-run context): producer action ``AssociatedWith`` this try's action. So
an upstream walk from what the started run made crosses into the producing DAG, with
no need for the two DAGs to share a URI convention for their data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from airflow_lineage.capture.record import TaskRun
from airflow_lineage.model import Action, ActionStatus, Arn, AssociationType
from airflow_lineage.store.base import LineageStore

__all__ = ["producing_actions", "sources"]

log = logging.getLogger(__name__)

_Source = tuple[str, str, str, int]


def sources(context: Mapping[str, Any]) -> list[_Source]:
    """Return (dag_id, run_id, task_id, map_index) of each task whose Asset event
    started this run, in a stable order; [] for a run no event started."""
    events = context.get("triggering_asset_events") or {}
    found: set[_Source] = set()
    for per_asset in events.values() if hasattr(events, "values") else ():
        for event in per_asset or ():
            dag_id = getattr(event, "source_dag_id", None)
            run_id = getattr(event, "source_run_id", None)
            task_id = getattr(event, "source_task_id", None)
            if not (dag_id and run_id and task_id):
                continue  # an event posted through the API, by no task
            index = getattr(event, "source_map_index", None)
            found.add((dag_id, run_id, task_id, -1 if index is None else int(index)))
    return sorted(found)


def _completed_try(store: LineageStore, source: _Source) -> str | None:
    dag_id, run_id, task_id, map_index = source
    name = TaskRun(dag_id, task_id, run_id, map_index).task_run_context_name
    context_arn = str(Arn(store.region, store.account, "context", name))
    linked = store.list_associations(
        destination_arn=context_arn, association_type=AssociationType.ASSOCIATED_WITH
    ).items
    tries = [
        e
        for e in store.get_many([a.source_arn for a in linked]).values()
        if isinstance(e, Action) and e.status is ActionStatus.COMPLETED
    ]
    if not tries:
        return None

    def try_number(action: Action) -> int:
        value = action.properties.get("airflow:try_number", "0")
        return int(value) if value.isdigit() else 0

    return max(tries, key=lambda a: (try_number(a), a.created)).arn


def producing_actions(
    context: Mapping[str, Any], open_store: Callable[[], LineageStore]
) -> tuple[str, ...]:
    """Return the ARNs of the recorded tries that produced the Asset events which started
    this run; () when no event started it (without opening the store).

    Never raises: a store that cannot answer leaves the try unlinked (and logged), and
    the rest of its lineage is recorded as usual.
    """
    try:
        found: Iterable[_Source] = sources(context)
        if not found:
            return ()
        store = open_store()
        arns = []
        for source in found:
            arn = _completed_try(store, source)
            if arn is None:
                log.info("No Completed try of %s recorded: this run is not linked to it", source)
            else:
                arns.append(arn)
        return tuple(arns)
    except Exception as e:  # linking is an addition; it never costs the try its record
        log.warning("Could not link the Asset events that started this run: %s", e)
        return ()
