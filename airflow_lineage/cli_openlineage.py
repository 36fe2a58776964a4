"""``airflow-lineage openlineage export|import``: lineage as OpenLineage run events.

::

    airflow-lineage openlineage export --uri s3://b/model.tar.gz --direction ascendants -o up.jsonl
    airflow-lineage openlineage export -o everything.jsonl   # no start: the whole store
    airflow-lineage openlineage import events.jsonl          # e.g. the file transport's

Each line written is one run event, checked with ``openlineage-python``'s event model
before it is written; each line read is checked the same way, and a file with an invalid
line imports nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from airflow_lineage.exceptions import LineageError

__all__ = ["add_openlineage_parser"]


def _require() -> None:
    try:
        import openlineage.client  # noqa: F401
    except ImportError as e:
        raise LineageError(
            "openlineage-python is not installed: pip install 'airflow-lineage[openlineage]'"
        ) from e


def add_openlineage_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``openlineage`` command and its ``export`` and ``import`` to ``sub``."""
    from airflow_lineage.cli import _add_walk_options

    ol = sub.add_parser(
        "openlineage",
        help="export lineage as OpenLineage run events, or import such events",
        description="Exchange lineage with OpenLineage (Marquez, DataHub, Amazon DataZone).",
    )
    actions = ol.add_subparsers(dest="openlineage_command", metavar="ACTION", required=True)
    ex = actions.add_parser(
        "export",
        parents=[common],
        help="write a lineage graph as OpenLineage run events, one JSON object a line",
        description="Run the same query as 'query' (same start, direction, depth and filter "
        "options) and write one run event per action of the graph it reaches; without a "
        "start, the whole store. Each event is checked with openlineage-python's model.",
    )
    _add_walk_options(ex, include_edges=False)
    ex.add_argument(
        "--namespace",
        default="default",
        help="the namespace of the jobs (default: 'default', as the OpenLineage provider's)",
    )
    ex.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")
    ex.set_defaults(func=_cmd_export)
    im = actions.add_parser(
        "import",
        parents=[common],
        help="record OpenLineage run events (e.g. the file transport's output) as lineage",
        description="Read OpenLineage run events, one JSON object a line, and record them: "
        "runs become actions, jobs and DAG runs contexts, data sets artifacts. Every line is "
        "checked first; an invalid one imports nothing.",
    )
    im.add_argument("file", nargs="?", metavar="FILE", help="the file to read (default: stdin)")
    im.set_defaults(func=_cmd_import)


def _graph(store: Any, args: argparse.Namespace) -> tuple[dict[str, Any], list[Any]]:
    """Return the entities (by ARN) and associations of the graph the options select."""
    from airflow_lineage.cli import _build_query, _collect, _resolve_starts
    from airflow_lineage.model import Association

    if not args.starts and not args.lookups:
        items = list(store.export())
        links = [i for i in items if isinstance(i, Association)]
        return {i.arn: i for i in items if not isinstance(i, Association)}, links
    args.include_edges = True
    args.format = None
    outcome = _collect(store, _build_query(args, _resolve_starts(store, args)))
    arns = list(dict.fromkeys([*outcome.starts, *(v.arn for v in outcome.vertices)]))
    return store.get_many(arns), store.associations_among(arns)


def _cmd_export(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage openlineage export``."""
    _require()
    from airflow_lineage.cli import _note, _open_store
    from airflow_lineage.openlineage.export import run_events
    from airflow_lineage.openlineage.facets import to_json, validate

    with _open_store(args) as store:
        entities, links = _graph(store, args)
    lines = []
    for event in run_events(entities, links, namespace=args.namespace):
        line = to_json(event)
        validate(line)  # what is written is what openlineage-python reads back
        lines.append(line)
    text = "".join(line + "\n" for line in lines)
    if args.output in (None, "-"):
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        path = Path(args.output)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        _note(f"wrote {len(lines)} OpenLineage run events to {path}")
    if not lines:
        _note("the graph has no action, so no run: nothing was exported")
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage openlineage import``."""
    _require()
    from airflow_lineage.cli import _note, _open_store
    from airflow_lineage.openlineage.ingest import (
        events_from_lines,
        parent_action_in,
        to_lineage,
        write,
    )

    if args.file in (None, "-"):
        source, events = "standard input", list(events_from_lines(sys.stdin))
    else:
        source = str(args.file)
        with open(source, encoding="utf-8") as fh:
            events = list(events_from_lines(fh))
    with _open_store(args) as store:
        lineage = to_lineage(
            events,
            account=store.account,
            region=store.region,
            parent_action=parent_action_in(store),
        )
        write(store, lineage)
    kinds: dict[str, int] = {}
    for entity in lineage.entities:
        kinds[entity.lineage_type.value] = kinds.get(entity.lineage_type.value, 0) + 1
    counts = ", ".join(f"{n} {kind.lower()}s" for kind, n in sorted(kinds.items()))
    _note(
        f"imported {len(events)} OpenLineage run events from {source}: "
        f"{counts or 'no entities'} and {len(lineage.associations)} associations"
    )
    return 0
