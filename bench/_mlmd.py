"""The ml-metadata worker: builds an MLMD SQLite store of the generated graph, runs the plan.

Runs in ``bench/.venv-mlmd`` (ml-metadata 1.17.1 pins protobuf<5 and attrs<24), with the
repository on ``PYTHONPATH``; it imports only the standard library, :mod:`bench._common`
and :mod:`bench.generate` (which needs nothing of airflow-lineage beyond its model module).

Mapping of our graph to MLMD's (MLMD's lineage graph is bipartite: artifacts and
executions joined by events; contexts hang off it and are not walked):

* Artifact → MLMD Artifact (type = our type, name = the ARN's 32-hex id, properties as
  custom properties); Action → Execution (name = action name; COMPLETE or FAILED);
  Context → Context.
* artifact→action (ContributedTo) → INPUT event; action→artifact (Produced) → OUTPUT event.
* action→context → Association; artifact→context → Attribution; context→context →
  ParentContext (child = source). These are not walked by ``get_lineage_subgraph``.
* artifact→artifact (DerivedFrom, model ContributedTo package) → a synthetic
  ``bench.Link`` execution with an INPUT and an OUTPUT event; action→action (approval
  AssociatedWith deployment) → a synthetic ``bench.Link`` artifact. Each such edge is two
  hops in MLMD, one in ours, so walks through them reach less far at the same depth.

Starting nodes are found by type and name; ``max_num_hops`` = our depth; direction
Ascendants/Descendants/Both = UPSTREAM/DOWNSTREAM/BIDIRECTIONAL.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import dump_json, load_json, peak_rss, reset_peak, rss_now, run_plan

MAX_HOPS = 100
"""ml-metadata's own limit on ``max_num_hops`` (rdbms_metadata_access_object.cc)."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _store(db: Path) -> Any:
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    cfg = metadata_store_pb2.ConnectionConfig()
    cfg.sqlite.filename_uri = str(db)
    cfg.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    return metadata_store.MetadataStore(cfg)


def build(db: Path, size: int, seed: int, batch_size: int) -> dict[str, Any]:
    """Write the generated graph into a new MLMD store; return ingest figures."""
    from ml_metadata.proto import metadata_store_pb2 as pb

    from bench.generate import ACTION, ARTIFACT, generate

    t0 = time.perf_counter()
    g = generate(size, seed)
    log(f"  mlmd: generated in {time.perf_counter() - t0:.1f} s; building {db.name}")
    store = _store(db)
    types: dict[tuple[str, str], int] = {}

    def type_id(kind: str, name: str) -> int:
        key = (kind, name)
        if key not in types:
            if kind == ARTIFACT:
                types[key] = store.put_artifact_type(pb.ArtifactType(name=name))
            elif kind == ACTION:
                types[key] = store.put_execution_type(pb.ExecutionType(name=name))
            else:
                types[key] = store.put_context_type(pb.ContextType(name=name))
        return types[key]

    link_x = type_id(ACTION, "bench.Link")
    link_a = type_id(ARTIFACT, "bench.Link")
    ids: dict[str, tuple[str, int]] = {}  # arn -> (lineage type, MLMD id)
    Event = pb.Event
    build_s = put_s = 0.0
    n_assoc = n_batches = 0
    n0 = e0 = 0
    run_ends = g.run_ends
    for n1, e1 in run_ends:
        if e1 - e0 < batch_size and (n1, e1) != run_ends[-1]:
            continue
        tb = time.perf_counter()
        arts, arts_arn, execs, execs_arn, ctxs, ctxs_arn = [], [], [], [], [], []
        for arn, lt, typ, uri, name, _created, status, props, _st in g.nodes[n0:n1]:
            if lt == ARTIFACT:
                a = pb.Artifact(type_id=type_id(lt, typ), uri=uri, name=arn.rsplit("/", 1)[1],
                                state=pb.Artifact.LIVE)
                node = a
                arts.append(a)
                arts_arn.append(arn)
            elif lt == ACTION:
                x = pb.Execution(
                    type_id=type_id(lt, typ), name=name,
                    last_known_state=pb.Execution.FAILED if status == "Failed"
                    else pb.Execution.COMPLETE,
                )
                node = x
                execs.append(x)
                execs_arn.append(arn)
            else:
                c = pb.Context(type_id=type_id(lt, typ), name=name)
                node = c
                ctxs.append(c)
                ctxs_arn.append(arn)
            if props:
                for k, v in props.items():
                    node.custom_properties[k].string_value = v
        # Synthetic link nodes for edges MLMD's bipartite graph cannot hold.
        edges = g.edges[e0:e1]
        kinds: list[str] = []
        lt_of = {arn: lt for arn, lt, *_ in g.nodes[n0:n1]}
        for i, (src, dst, _t, _c) in enumerate(edges):
            s = lt_of.get(src) or ids[src][0]
            d = lt_of.get(dst) or ids[dst][0]
            kinds.append(s[1] + d[1])  # 'r'=Artifact, 'c'=Action, 'o'=Context
            if s == ARTIFACT and d == ARTIFACT:
                execs.append(pb.Execution(type_id=link_x, name=f"link-{e0 + i}",
                                          last_known_state=pb.Execution.COMPLETE))
                execs_arn.append(f"link-{e0 + i}")
            elif s == ACTION and d == ACTION:
                arts.append(pb.Artifact(type_id=link_a, name=f"link-{e0 + i}",
                                        state=pb.Artifact.LIVE))
                arts_arn.append(f"link-{e0 + i}")
        tp = time.perf_counter()
        build_s += tp - tb
        for arn, id_ in zip(arts_arn, store.put_artifacts(arts), strict=True):
            ids[arn] = (ARTIFACT, id_)
        for arn, id_ in zip(execs_arn, store.put_executions(execs), strict=True):
            ids[arn] = (ACTION, id_)
        for arn, id_ in zip(ctxs_arn, store.put_contexts(ctxs), strict=True):
            ids[arn] = ("Context", id_)
        put_s += time.perf_counter() - tp
        tb = time.perf_counter()
        events, attributions, associations, parents = [], [], [], []
        for i, ((src, dst, _t, _c), kind) in enumerate(zip(edges, kinds, strict=True)):
            s, d = ids[src][1], ids[dst][1]
            if kind == "rc":
                events.append(Event(artifact_id=s, execution_id=d, type=Event.INPUT))
            elif kind == "cr":
                events.append(Event(artifact_id=d, execution_id=s, type=Event.OUTPUT))
            elif kind == "rr":
                link = ids[f"link-{e0 + i}"][1]
                events.append(Event(artifact_id=s, execution_id=link, type=Event.INPUT))
                events.append(Event(artifact_id=d, execution_id=link, type=Event.OUTPUT))
            elif kind == "cc":
                link = ids[f"link-{e0 + i}"][1]
                events.append(Event(artifact_id=link, execution_id=s, type=Event.OUTPUT))
                events.append(Event(artifact_id=link, execution_id=d, type=Event.INPUT))
            elif kind == "co":
                associations.append(pb.Association(context_id=d, execution_id=s))
            elif kind == "ro":
                attributions.append(pb.Attribution(context_id=d, artifact_id=s))
            elif kind == "oo":
                parents.append(pb.ParentContext(child_id=s, parent_id=d))
            elif kind == "oc":
                associations.append(pb.Association(context_id=s, execution_id=d))
            elif kind == "or":
                attributions.append(pb.Attribution(context_id=s, artifact_id=d))
        tp = time.perf_counter()
        build_s += tp - tb
        store.put_events(events)
        if attributions or associations:
            store.put_attributions_and_associations(attributions, associations)
        if parents:
            store.put_parent_contexts(parents)
        put_s += time.perf_counter() - tp
        n_assoc += len(edges)
        n_batches += 1
        if n_batches % 50 == 0:
            log(f"    {n1} entities, {n_assoc} associations, {n_assoc / put_s:.0f} assoc/s")
        n0, e0 = n1, e1
    return {
        "batch_size": batch_size,
        "batches": n_batches,
        "entities": len(g.nodes),
        "associations": n_assoc,
        "synthetic_link_nodes": sum(1 for k in ids if k.startswith("link-")),
        "build_values_s": build_s,
        "write_s": put_s,
        "assoc_per_s_write": n_assoc / put_s,
        "assoc_per_s_end_to_end": n_assoc / (build_s + put_s),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--fingerprint", required=True)
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--budget", type=float, default=20.0)
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--cases", nargs="+")
    args = ap.parse_args()

    import ml_metadata
    from ml_metadata.proto import metadata_store_pb2 as pb

    plan = load_json(Path(args.plan))
    if args.cases:
        plan["cases"] = [c for c in plan["cases"] if c["name"] in args.cases]
    db = Path(args.db)
    marker = Path(str(db) + ".json")
    meta = load_json(marker) if marker.exists() and db.exists() else {}
    if args.rebuild or meta.get("fingerprint") != args.fingerprint:
        db.unlink(missing_ok=True)
        stats = build(db, plan["size"], plan["seed"], args.batch_size)
        meta = {"fingerprint": args.fingerprint, "ingest": stats}
        dump_json(marker, meta)
    else:
        log(f"  mlmd: cached {db.name}")

    reset_peak()
    rss_start = rss_now()
    store = _store(db)
    node_ids: dict[str, tuple[bool, int]] = {}
    for arn, (lt, typ) in plan["entities"].items():
        name = arn.rsplit("/", 1)[1]
        if lt == "Artifact":
            node = store.get_artifact_by_type_and_name(typ, name)
        elif lt == "Action":
            node = store.get_execution_by_type_and_name(typ, name)
        else:
            continue
        node_ids[arn] = (lt == "Artifact", node.id)
    direction = {
        "Ascendants": pb.LineageSubgraphQueryOptions.UPSTREAM,
        "Descendants": pb.LineageSubgraphQueryOptions.DOWNSTREAM,
        "Both": pb.LineageSubgraphQueryOptions.BIDIRECTIONAL,
    }

    def query(case: dict[str, Any], start: str) -> tuple[int, int]:
        is_artifact, id_ = node_ids[start]
        # MLMD caps max_num_hops at 100 (it logs and uses 100 for more).
        opts = pb.LineageSubgraphQueryOptions(
            max_num_hops=min(case["depth"], MAX_HOPS), direction=direction[case["direction"]]
        )
        nodes = opts.starting_artifacts if is_artifact else opts.starting_executions
        nodes.filter_query = f"id = {id_}"
        mask = ["artifacts", "executions"] + (["events"] if case["include_edges"] else [])
        graph = store.get_lineage_subgraph(opts, mask)
        return len(graph.artifacts) + len(graph.executions), len(graph.events)

    rss_open = rss_now()
    results = run_plan(plan, query, None, budget_s=args.budget, log=log)
    dump_json(
        Path(args.out),
        {
            "version": ml_metadata.__version__,
            "rss_start": rss_start,
            "rss_open": rss_open,
            "store_bytes": db.stat().st_size,
            "ingest": meta.get("ingest"),
            "cases": results,
            "peak_rss": peak_rss(),
        },
    )


if __name__ == "__main__":
    main()
