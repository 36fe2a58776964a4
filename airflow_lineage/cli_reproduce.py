"""The ``reproduce``, ``diff`` and ``impact`` commands of ``airflow-lineage``.

    airflow-lineage reproduce MODEL [-o manifest.json] [--trigger [--local]]
    airflow-lineage reproduce --from manifest.json --trigger
    airflow-lineage diff MODEL_A MODEL_B [--format json]
    airflow-lineage impact DATASET [--format json]

Exit status, beyond the command's usual 0/1/2: ``reproduce`` 3 when an input the run
does not rebuild is missing or changed (``--trigger`` then starts nothing unless
``--force``), 4 when the new run's model is missing or its digest differs, 1 when the
new run failed; ``impact`` 3 when an endpoint serves an affected model now.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_lineage import cli
from airflow_lineage.compare import ModelDiff, diff
from airflow_lineage.impact import Impact, impact, resolve_datasets
from airflow_lineage.recipe import provenance, resolve_subject
from airflow_lineage.reproduce import (
    InputCheck,
    Rerun,
    build_manifest,
    check_inputs,
    load_manifest,
    missing,
    rerun,
)

__all__ = ["add_commands"]

INPUTS_UNAVAILABLE = 3
NOT_REPRODUCED = 4
DEPLOYED_AFFECTED = 3


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``reproduce``, ``diff`` and ``impact`` to the command's sub-parsers."""
    r = sub.add_parser(
        "reproduce",
        parents=[common],
        help="write what rebuilds a model, check its inputs, optionally rerun its DAG",
        description="Write the manifest of a model or endpoint (its DAG run, configuration, "
        "DAG and bundle version, code version, parameters, images, every input with URI, "
        "version and digest), check that every input is still there with the same digest, "
        "and with --trigger start a new run of the DAG with the same configuration, link "
        "each new model to the old one (DerivedFrom) and say whether their digests are equal.",
    )
    r.add_argument(
        "model", nargs="?", metavar="MODEL", help="the model's (or endpoint's) ARN or source URI"
    )
    r.add_argument(
        "--from",
        dest="manifest",
        metavar="MANIFEST",
        help="a manifest written earlier, instead of MODEL",
    )
    r.add_argument("-o", "--output", metavar="FILE", help="write the manifest to FILE")
    r.add_argument(
        "--trigger",
        action="store_true",
        help="start a new run of the DAG with the recorded configuration",
    )
    r.add_argument(
        "--local",
        action="store_true",
        help="with --trigger: run the DAG in this process, as 'airflow dags test' "
        "does, instead of queueing it for the scheduler",
    )
    r.add_argument(
        "--timeout",
        type=float,
        default=3600.0,
        metavar="SECONDS",
        help="with --trigger: how long to wait for the scheduler's run",
    )
    r.add_argument(
        "--force",
        action="store_true",
        help="with --trigger: rerun even when inputs are missing or changed",
    )
    r.add_argument("--format", choices=["text", "json"], default="text")
    r.set_defaults(func=_cmd_reproduce)

    d = sub.add_parser(
        "diff",
        parents=[common],
        help="what differs between two models' lineage",
        description="Compare two models' (or endpoints') lineage: inputs added, removed or "
        "with another digest, parameters, code version, steps and their statuses, metrics.",
    )
    d.add_argument("a", metavar="MODEL_A", help="ARN or source URI")
    d.add_argument("b", metavar="MODEL_B", help="ARN or source URI")
    d.add_argument("--format", choices=["table", "json"], default="table")
    d.set_defaults(func=_cmd_diff)

    i = sub.add_parser(
        "impact",
        parents=[common],
        help="every model, approval and endpoint downstream of a data set",
        description="List every model, approval and endpoint downstream of a data set (every "
        "recorded version of it when named by URI), the DAG runs that made them and the "
        "deployments serving them now. Exits 3 when an endpoint serves an affected model.",
    )
    i.add_argument("dataset", metavar="DATASET", help="the data set's ARN or source URI")
    i.add_argument("--format", choices=["table", "json"], default="table")
    i.set_defaults(func=_cmd_impact)


# -- reproduce -------------------------------------------------------------------------


def _reproduce_text(manifest: Mapping[str, Any], checks: list[InputCheck]) -> list[str]:
    dag, code = manifest["dag"], manifest["code"]
    lines = [f"Subject     {manifest['subject']['uri']} ({manifest['subject']['type']})"]
    lines += [
        f"Model       {m['uri']} ({m['type']}, task {m.get('task_id')})" for m in manifest["models"]
    ]
    lines.append(f"DAG run     {dag.get('dag_id')} / {dag.get('run_id')}")
    if dag.get("airflow") == "recorded":
        lines.append(
            f"DAG version {dag.get('dag_version')}, bundle {dag.get('bundle_name')} "
            f"(version {dag.get('bundle_version') or 'none'})"
        )
        lines.append(f"Conf        {json.dumps(dag.get('conf') or {}, sort_keys=True)}")
    else:
        lines.append(f"Airflow     {dag.get('airflow')}")
    version = code.get("version") or ", ".join(sorted(set(code["steps"].values()))) or "unknown"
    lines.append(f"Code        {version}{' (dirty work tree)' if code.get('dirty') else ''}")
    if manifest["parameters"]:
        lines.append("Parameters")
        lines += cli._table((), sorted(manifest["parameters"].items()), "  ")
    if manifest["images"]:
        lines.append("Images")
        lines += [f"  {i['uri']}" for i in manifest["images"]]
    lines.append(f"Inputs ({len(checks)})")
    rows = [
        (
            "ok" if c.ok else ("REBUILT" if c.produced_in_run else "MISSING"),
            c.type,
            c.uri,
            "" if c.ok else c.reason,
        )
        for c in checks
    ]
    lines += cli._table((), rows, "  ")
    return lines


def _rerun_text(result: Rerun) -> list[str]:
    lines = [f"New run     {result.dag_id} / {result.run_id}: {result.state}"]
    for m in result.models:
        if m.new_arn is None:
            lines.append(f"  {m.old_uri}: not reproduced ({m.reason})")
        else:
            lines.append(f"  {m.new_uri} DerivedFrom {m.old_uri}")
            lines.append(f"    digest equal: {'yes' if m.identical else 'no'} ({m.reason})")
    return lines


def _cmd_reproduce(args: argparse.Namespace) -> int:
    if bool(args.model) == bool(args.manifest):
        raise ValueError("name a MODEL or give --from MANIFEST (one of the two)")
    if (args.local or args.force) and not args.trigger:
        raise ValueError("--local and --force apply to --trigger")
    with cli._open_store(args) as store:
        if args.manifest:
            manifest = load_manifest(args.manifest)
        else:
            manifest = build_manifest(store, resolve_subject(store, args.model))
        checks = check_inputs(manifest)
        if args.output:
            Path(args.output).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        lines = _reproduce_text(manifest, checks)
        if args.output:
            lines.append(f"Manifest    {args.output}")
        unavailable = missing(checks)
        code = 0
        result = None
        if unavailable:
            code = INPUTS_UNAVAILABLE
            lines.append(
                f"{len(unavailable)} input(s) the run does not rebuild are not "
                "available as recorded: " + "; ".join(f"{c.uri} ({c.reason})" for c in unavailable)
            )
        if args.trigger and (not unavailable or args.force):
            result = rerun(store, manifest, local=args.local, timeout=args.timeout)
            lines += _rerun_text(result)
            if result.state != "success":
                code = 1
            elif not result.identical:
                code = NOT_REPRODUCED
        elif args.trigger:
            lines.append("Not triggered: use --force to rerun all the same")
    if args.format == "json":
        cli._out(
            json.dumps(
                {
                    "manifest": manifest,
                    "inputs": [vars_of(c) for c in checks],
                    "rerun": None
                    if result is None
                    else {
                        "dag_id": result.dag_id,
                        "run_id": result.run_id,
                        "state": result.state,
                        "identical": result.identical,
                        "models": [vars_of(m) for m in result.models],
                    },
                },
                indent=2,
                sort_keys=True,
            )
        )
    else:
        for line in lines:
            cli._out(line)
    return code


def vars_of(value: Any) -> dict[str, Any]:
    """Return a slotted dataclass's fields as a dict."""
    return {name: getattr(value, name) for name in value.__slots__}


# -- diff ------------------------------------------------------------------------------


def _diff_table(d: ModelDiff) -> list[str]:
    data = d.as_dict()
    lines = [
        f"A  {data['a']['uri']}  ({data['a']['dag_id']} / {data['a']['run_id']})",
        f"B  {data['b']['uri']}  ({data['b']['dag_id']} / {data['b']['run_id']})",
    ]
    if d.same:
        return [*lines, "", "No differences in inputs, parameters, code, steps or metrics."]
    rows: list[tuple[str, str, str, str]] = []
    for item in d.inputs_added:
        rows.append(
            ("input added", f"{item['uri']} ({item['type']})", "-", _digests(item["digests"]))
        )
    for item in d.inputs_removed:
        rows.append(
            ("input removed", f"{item['uri']} ({item['type']})", _digests(item["digests"]), "-")
        )
    for item in d.inputs_changed:
        rows.append(
            (
                "input changed",
                f"{item['uri']} ({item['type']})",
                _digests(item["a"]),
                _digests(item["b"]),
            )
        )
    for section, values in (
        ("parameter", d.parameters),
        ("code version", d.code),
        ("step", d.steps),
        ("metric", d.metrics),
    ):
        for key, pair in values.items():
            rows.append((section, key, pair["a"] or "-", pair["b"] or "-"))
    return [*lines, "", *cli._table(("what", "name", "A", "B"), rows)]


def _digests(values: Mapping[str, str]) -> str:
    return ", ".join(f"{v}" for _, v in sorted(values.items())) or "(no digest)"


def _cmd_diff(args: argparse.Namespace) -> int:
    with cli._open_store(args) as store:
        result = diff(
            provenance(store, resolve_subject(store, args.a)),
            provenance(store, resolve_subject(store, args.b)),
        )
    if args.format == "json":
        cli._out(json.dumps(result.as_dict(), indent=2, sort_keys=True))
    else:
        for line in _diff_table(result):
            cli._out(line)
    return 0


# -- impact ----------------------------------------------------------------------------


def _impact_table(found: Impact) -> list[str]:
    lines = [f"Data set  {d.source_uri} ({d.type}, {d.arn})" for d in found.datasets]
    lines.append(f"Models ({len(found.models)})")
    lines += cli._table(
        (), [(m["type"], m["uri"], f"{m['dag_id']} / {m['run_id']}") for m in found.models], "  "
    )
    lines.append(f"Approvals ({len(found.approvals)})")
    lines += cli._table(
        (),
        [(a["status"], a["arn"], f"{a['dag_id']} / {a['run_id']}") for a in found.approvals],
        "  ",
    )
    lines.append(f"Endpoints ({len(found.endpoints)})")
    lines += cli._table(
        (),
        [
            (
                "SERVING AFFECTED" if e["serving_affected"] else "replaced",
                e["uri"],
                f"deployment {e['deployment']} ({e['dag_id']} / {e['run_id']})",
            )
            for e in found.endpoints
        ],
        "  ",
    )
    if found.deployed:
        lines.append("Something deployed is affected.")
    return lines


def _cmd_impact(args: argparse.Namespace) -> int:
    with cli._open_store(args) as store:
        found = impact(store, resolve_datasets(store, args.dataset))
    if args.format == "json":
        cli._out(json.dumps(found.as_dict(), indent=2, sort_keys=True))
    else:
        for line in _impact_table(found):
            cli._out(line)
    return DEPLOYED_AFFECTED if found.deployed else 0
