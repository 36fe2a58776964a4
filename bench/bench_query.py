"""Query and ingest benchmark: our SQLite and PostgreSQL stores vs networkx vs ml-metadata.

    python -m bench.bench_query --sizes 10000 100000 1000000 \\
        --backends sqlite postgres networkx mlmd

For each size the same generated graph (:mod:`bench.generate`, seeded) is loaded into
every backend once and cached (SQLite files and the ml-metadata store under
``bench/.data/``, PostgreSQL in a database of its own per size and seed); a rerun skips
building. Ingest is timed while building. Then each backend runs in a fresh worker
process the same query plan (the same start entities, drawn deterministically): p50/p95
latency, result sizes, and the worker's peak RSS per case. Results go to
``bench/results/<date>-query.json`` (merged with earlier runs of the same day) and a
Markdown summary is printed (and written beside the JSON).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench._common import (
    DATA_DIR,
    PAGE_SIZE,
    REPO_DIR,
    RESULTS_DIR,
    dump_json,
    load_json,
    loadavg,
    peak_rss,
    reset_peak,
    rss_now,
    run_plan,
)

PLAN_VERSION = 4
"""Bumped when the plan's cases change (4: the client case runs second)."""
BIG_TARGET = 30_000
"""The result size the large-result query aims at."""
BIG_DEPTH = 1000
"""Depth of the large-result query: a full downstream impact analysis."""
BACKENDS = ("sqlite", "postgres", "networkx", "mlmd")
MLMD_VENV = REPO_DIR / "bench" / ".venv-mlmd"
MLMD_VERSION = "1.17.1"

# name, start role, direction, depth, include_edges
LATENCY_CASES: list[tuple[str, str, str, int, bool]] = [
    ("up_model_d10", "model", "Ascendants", 10, True),
    ("up_model_d10_vonly", "model", "Ascendants", 10, False),
    ("up_model_d4", "model", "Ascendants", 4, True),
    ("up_model_d50", "model", "Ascendants", 50, True),
    ("down_raw_d10", "raw", "Descendants", 10, True),
    ("down_raw_d50", "raw", "Descendants", 50, True),
    ("both_train_d10", "training", "Both", 10, True),
    ("both_train_d50", "training", "Both", 50, True),
]
CASE_NOTES = {
    "up_model_d10": "upstream (Ascendants) of a model, depth 10, with edges",
    "up_model_d10_vonly": "same, vertices only (IncludeEdges=False)",
    "up_model_d10_facade": "up_model_d10 through the boto3-shaped client (query_lineage)",
    "up_model_d4": "upstream of a model, depth 4: model→training→data→processing→raw; "
    "same shape at every size",
    "up_model_d50": "upstream of a model, depth 50, with edges",
    "down_raw_d10": "downstream (Descendants) of a raw data set version, depth 10, with edges",
    "down_raw_d50": "same, depth 50",
    "both_train_d10": "Both (undirected) from a training action, depth 10, with edges",
    "both_train_d50": "same, depth 50",
    "big_30k": f"Descendants of one raw data set, depth {BIG_DEPTH} (full impact), "
    "result ~30k vertices, vertices only, one page",
    "big_30k_edges": "same, with edges",
    "pages_30k": f"the big_30k query read in {PAGE_SIZE}-vertex pages vs one page",
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- the graph and the plan ---------------------------------------------------------------


def fingerprint(g: Any) -> str:
    """Return a short digest identifying a generated graph (cache key for stores)."""
    h = hashlib.sha256(f"{len(g.nodes)}:{len(g.edges)}".encode())
    for n in g.nodes[::1009]:
        h.update(n[0].encode())
    for e in g.edges[::1013]:
        h.update(f"{e[0]}>{e[1]}:{e[2]}".encode())
    return h.hexdigest()[:16]


def _bfs_size(succ: dict[str, list[str]], start: str, depth: int) -> int:
    dist = {start: 0}
    frontier = [start]
    d = 0
    while frontier and d < depth:
        nxt = []
        for u in frontier:
            for v in succ.get(u, ()):
                if v not in dist:
                    dist[v] = d + 1
                    nxt.append(v)
        frontier = nxt
        d += 1
    return len(dist) - 1


def _pick_big(g: Any, succ: dict[str, list[str]]) -> tuple[str, int]:
    """Pick the raw data set whose full downstream is closest to BIG_TARGET vertices.

    Along a chain of versions (old DerivedFrom→ new) the downstream of a version holds
    that of every later one, so the size falls along the chain: binary search each of
    the longest chains.
    """
    from bench.generate import DERIVED_FROM, E_DST, E_SRC, E_TYPE

    raw = set(g.arns("raw"))
    nxt: dict[str, str] = {}
    has_prev: set[str] = set()
    for e in g.edges:
        if e[E_TYPE] == DERIVED_FROM and e[E_SRC] in raw:
            nxt[e[E_SRC]] = e[E_DST]
            has_prev.add(e[E_DST])
    chains = []
    for root in g.arns("raw"):
        if root in has_prev:
            continue
        chain = [root]
        while chain[-1] in nxt:
            chain.append(nxt[chain[-1]])
        chains.append(chain)
    chains.sort(key=lambda c: (-len(c), c[0]))
    best: tuple[int, str, int] | None = None
    memo: dict[str, int] = {}

    def size(arn: str) -> int:
        if arn not in memo:
            memo[arn] = _bfs_size(succ, arn, BIG_DEPTH)
        return memo[arn]

    for chain in chains[:40]:
        lo, hi = 0, len(chain) - 1
        if size(chain[0]) >= BIG_TARGET:
            while lo < hi:  # last index with size >= target
                mid = (lo + hi + 1) // 2
                if size(chain[mid]) >= BIG_TARGET:
                    lo = mid
                else:
                    hi = mid - 1
            cands = [chain[lo]] + ([chain[lo + 1]] if lo + 1 < len(chain) else [])
        else:
            cands = [chain[0]]
        for c in cands:
            key = (abs(size(c) - BIG_TARGET), c, size(c))
            if best is None or key < best:
                best = key
        if best is not None and best[0] <= BIG_TARGET * 0.02:
            break
    assert best is not None
    return best[1], best[2]


def make_plan(g: Any, seed: int, n_starts: int, n_both: int, big_reps: int) -> dict[str, Any]:
    """Choose, deterministically, the start entities of every query case."""
    from bench.generate import CONTRIBUTED_TO, E_SRC, E_TYPE, N_ARN, N_LT, N_TYPE

    rng = random.Random(seed * 7919 + 1)
    succ, _ = g.adjacency()
    consumed = {e[E_SRC] for e in g.edges if e[E_TYPE] == CONTRIBUTED_TO}
    pools = {
        "model": g.arns("model"),
        "raw": [a for a in g.arns("raw") if a in consumed],
        "training": g.arns("training"),
    }
    starts = {
        role: rng.sample(pool, min(len(pool), n_both if role == "training" else n_starts))
        for role, pool in pools.items()
    }
    t0 = time.perf_counter()
    big, big_size = _pick_big(g, succ)
    log(f"  big query: start {big} reaches {big_size} vertices ({time.perf_counter() - t0:.1f} s)")
    cases: list[dict[str, Any]] = []
    for name, role, direction, depth, edges in LATENCY_CASES:
        cases.append(
            {
                "name": name,
                "kind": "latency",
                "direction": direction,
                "depth": depth,
                "include_edges": edges,
                "starts": starts[role],
                "warmup": 1 if direction == "Both" else 5,
                # A Both walk reaches a large part of the graph; at 1M one query can take
                # minutes, so two timed runs may have to do.
                "min_reps": 2 if direction == "Both" else 3,
            }
        )
    # The same upstream query through the boto3-shaped client (QueryLineage's request and
    # response shapes, validated), as code written for SageMaker calls it. It runs right
    # after the store case it repeats, on the same store pages: run after the Both cases,
    # it met pages the machine's memory reclaim had evicted meanwhile (its first 50
    # queries had a median of 0.41 ms, its last 50 0.31 ms).
    cases.insert(1, {**cases[0], "name": "up_model_d10_facade", "via": "facade"})
    for name, edges in (("big_30k", False), ("big_30k_edges", True)):
        cases.append(
            {
                "name": name,
                "kind": "big",
                "direction": "Descendants",
                "depth": BIG_DEPTH,
                "include_edges": edges,
                "starts": [big] * big_reps,
                "warmup": 1,
            }
        )
    cases.append(
        {
            "name": "pages_30k",
            "kind": "pages",
            "direction": "Descendants",
            "depth": BIG_DEPTH,
            "include_edges": False,
            "starts": [big],
            "reps": big_reps,
        }
    )
    wanted = {a for c in cases for a in c["starts"]}
    info = {n[N_ARN]: [n[N_LT], n[N_TYPE]] for n in g.nodes if n[N_ARN] in wanted}
    return {
        "version": PLAN_VERSION,
        "size": g.target,
        "seed": g.seed,
        "big_expected_vertices": big_size,
        "entities": info,
        "cases": cases,
    }


# -- building the stores -----------------------------------------------------------------


def ingest(store: Any, g: Any, batch_size: int) -> dict[str, Any]:
    """Write the graph into ``store`` in batches; time building values and writing apart."""
    from airflow_lineage.apispec import service_model

    service_model()  # botocore's model loads once per process; not part of the rate
    build_s = write_s = 0.0
    n_ent = n_assoc = 0
    batch_rates: list[float] = []
    load = loadavg()
    it = g.batches(batch_size)
    with store.bulk_load():  # SQLite: the WAL is checkpointed once, at the end
        while True:
            t0 = time.perf_counter()
            try:
                ents, assocs = next(it)
            except StopIteration:
                break
            t1 = time.perf_counter()
            store.write(ents, assocs)
            t2 = time.perf_counter()
            build_s += t1 - t0
            write_s += t2 - t1
            n_ent += len(ents)
            n_assoc += len(assocs)
            batch_rates.append(len(assocs) / (t2 - t1))
            if len(batch_rates) % 50 == 0:
                rate = n_assoc / write_s
                log(f"    {n_ent} entities, {n_assoc} associations, {rate:.0f} assoc/s")
        done = time.perf_counter()
    checkpoint_s = time.perf_counter() - done
    write_s += checkpoint_s  # the last checkpoint is part of the load
    tenth = max(1, len(batch_rates) // 10)
    return {
        "batch_size": batch_size,
        "batches": len(batch_rates),
        "entities": n_ent,
        "associations": n_assoc,
        "build_values_s": build_s,
        "write_s": write_s,
        "final_checkpoint_s": checkpoint_s,
        "assoc_per_s_write": n_assoc / write_s,
        "assoc_per_s_end_to_end": n_assoc / (build_s + write_s),
        "entities_per_s_write": n_ent / write_s,
        "build_us_per_value": build_s / (n_ent + n_assoc) * 1e6,
        "assoc_per_s_first_10pct": sum(batch_rates[:tenth]) / tenth,
        "assoc_per_s_last_10pct": sum(batch_rates[-tenth:]) / tenth,
        "loadavg": [load, loadavg()],
    }


def sqlite_path(size: int, seed: int) -> Path:
    return DATA_DIR / f"sqlite-{size}-s{seed}.db"


def _remove_sqlite(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", ".json"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    path.with_suffix(".migrate.lock").unlink(missing_ok=True)


def ensure_sqlite(g: Any, fp: str, batch_size: int, rebuild: bool) -> tuple[str, dict[str, Any]]:
    from airflow_lineage import connect

    path = sqlite_path(g.target, g.seed)
    marker = Path(str(path) + ".json")
    if not rebuild and path.exists() and marker.exists():
        meta = load_json(marker)
        if meta.get("fingerprint") == fp:
            log(f"  sqlite: cached {path.name}")
            return f"sqlite:///{path}", meta
    _remove_sqlite(path)
    log(f"  sqlite: building {path.name}")
    store = connect(f"sqlite:///{path}", create=True)
    stats = ingest(store, g, batch_size)
    store.close()
    import sqlite3

    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    meta = {"fingerprint": fp, "ingest": stats, "built": dt.datetime.now(dt.UTC).isoformat()}
    dump_json(marker, meta)
    return f"sqlite:///{path}", meta


def pg_admin_url(explicit: str | None) -> str:
    """Return a working ``postgresql://user@host:port/`` base (trying postgres, then root)."""
    import psycopg

    candidates = [explicit] if explicit else [
        "postgresql://postgres@127.0.0.1:5432/",
        "postgresql://root@127.0.0.1:5432/",
    ]
    errors = []
    for base in candidates:
        assert base is not None
        for db in ("test", "postgres"):
            try:
                with psycopg.connect(base.rstrip("/") + "/" + db, connect_timeout=5):
                    return base.rstrip("/") + "/"
            except Exception as e:
                errors.append(f"{base}{db}: {e}")
    raise RuntimeError("no PostgreSQL server answers: " + "; ".join(errors))


def _pg_admin(base: str, sql: str) -> None:
    import psycopg

    for db in ("test", "postgres"):
        try:
            with psycopg.connect(base + db, autocommit=True) as conn:
                conn.execute(sql)
                return
        except psycopg.OperationalError:
            continue
    raise RuntimeError(f"cannot run {sql!r} on {base}")


def ensure_postgres(
    g: Any, fp: str, batch_size: int, rebuild: bool, base: str
) -> tuple[str, dict[str, Any]]:
    import psycopg


    db = f"lineage_bench_{g.target}_s{g.seed}"
    url = base + db
    marker = DATA_DIR / f"postgres-{g.target}-s{g.seed}.json"
    if not rebuild and marker.exists():
        meta = load_json(marker)
        if meta.get("fingerprint") == fp and meta.get("url") == url:
            try:
                with psycopg.connect(url) as conn:
                    n = conn.execute("SELECT count(*) FROM lineage_associations").fetchone()
                if n and n[0] == len(g.edges):
                    log(f"  postgres: cached database {db}")
                    return url, meta
            except psycopg.Error:
                pass
    log(f"  postgres: building database {db}")
    _pg_admin(base, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    _pg_admin(base, f'CREATE DATABASE "{db}"')
    from airflow_lineage.store import connect_admin, upgrade

    upgrade(url)
    store = connect_admin(url)  # a bulk load of several accounts' lineage
    stats = ingest(store, g, batch_size)
    store.close()
    # What autovacuum does by itself a little after a bulk load; done now so that every
    # run queries with the same planner statistics.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    meta = {
        "fingerprint": fp,
        "url": url,
        "ingest": stats,
        "built": dt.datetime.now(dt.UTC).isoformat(),
    }
    dump_json(marker, meta)
    return url, meta


# -- workers (each backend in its own process) --------------------------------------------


def _read_through(path: Path) -> None:
    """Read a store's files once, untimed, into the OS's file cache, as a store in use
    is: a cached store opened cold would charge its first case for disk reads."""
    for p in (path, Path(f"{path}-wal")):
        if p.exists():
            with p.open("rb") as fh:
                while fh.read(1 << 20):
                    pass


def _sql_worker(url: str, plan: dict[str, Any], budget: float) -> dict[str, Any]:
    from airflow_lineage import LineageQuery, connect

    rss_start = rss_now()
    if url.startswith("sqlite"):
        store = connect(url)
    else:  # as the superuser (row-level security bypassed), as the published figures were
        from airflow_lineage.store import connect_admin

        store = connect_admin(url)

    client = store.as_boto3_client()

    def query(case: dict[str, Any], start: str) -> tuple[int, int]:
        if case.get("via") == "facade":
            answer = client.query_lineage(
                StartArns=[start],
                Direction=case["direction"],
                MaxDepth=case["depth"],
                IncludeEdges=case["include_edges"],
            )
            return len(answer["Vertices"]), len(answer["Edges"])
        r = store.query(
            LineageQuery(
                start_arns=(start,),
                direction=case["direction"],
                max_depth=case["depth"],
                include_edges=case["include_edges"],
            )
        )
        return len(r.vertices), len(r.edges)

    def all_pages(case: dict[str, Any], start: str, size: int) -> tuple[int, int, int]:
        token = None
        nv = ne = pages = 0
        while True:
            r = store.query(
                LineageQuery(
                    start_arns=(start,),
                    direction=case["direction"],
                    max_depth=case["depth"],
                    include_edges=case["include_edges"],
                    max_results=size,
                    next_token=token,
                )
            )
            nv += len(r.vertices)
            ne += len(r.edges)
            pages += 1
            token = r.next_token
            if token is None:
                return nv, ne, pages

    rss_open = rss_now()
    if url.startswith("sqlite:///"):
        _read_through(Path(url[len("sqlite:///") :]))
    results = run_plan(plan, query, all_pages, budget_s=budget, log=log)
    rss_after = rss_now()

    # Check pagination once, untimed, after the timed cases (it leaves a cached result
    # behind): the pages hold the one-page result, in order, without repeats.
    checks = {}
    for case in plan["cases"]:
        if case["kind"] != "pages":
            continue
        start = case["starts"][0]
        q = {k: case[k] for k in ("direction", "include_edges")}
        whole = store.query(LineageQuery(start_arns=(start,), max_depth=case["depth"], **q))
        seen: list[str] = []
        token = None
        while True:
            r = store.query(
                LineageQuery(
                    start_arns=(start,), max_depth=case["depth"], max_results=PAGE_SIZE,
                    next_token=token, **q,
                )
            )
            seen.extend(r.arns())
            token = r.next_token
            if token is None:
                break
        checks[case["name"]] = seen == whole.arns() and len(set(seen)) == len(seen)

    store_bytes = None
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        store_bytes = sum(
            p.stat().st_size for p in (path, Path(str(path) + "-wal")) if p.exists()
        )
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            store_bytes = row[0] if row else None
    store.close()
    return {
        "rss_start": rss_start,
        "rss_open": rss_open,
        "store_bytes": store_bytes,
        "pages_check": checks,
        "rss_after_cases": rss_after,
        "cases": results,
    }


def nx_walk(
    g: Any, start: str, direction: str, depth: int, include_edges: bool
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """The floor: a depth-limited BFS over networkx's adjacency dicts, same result shape.

    Returns vertices sorted by (distance, ARN) as (arn, type, lineage_type) — without the
    start unless ``include_edges``, as the store does — and the walked edges.
    """
    succ, pred, nodes = g._succ, g._pred, g._node
    down = direction != "Ascendants"
    up = direction != "Descendants"
    both = down and up
    dist = {start: 0}
    frontier = [start]
    edges: list[tuple[str, str, str]] = []
    d = 0
    while frontier and d < depth:
        nxt = []
        for u in frontier:
            if down:
                for v, attr in succ[u].items():
                    if v not in dist:
                        dist[v] = d + 1
                        nxt.append(v)
                    if include_edges and (not both or dist[v] >= d):
                        edges.append((u, v, attr["association_type"]))
            if up:
                for v, attr in pred[u].items():
                    if v not in dist:
                        dist[v] = d + 1
                        nxt.append(v)
                    if include_edges and (not both or dist[v] >= d):
                        edges.append((v, u, attr["association_type"]))
        frontier = nxt
        d += 1
    if both and include_edges:
        edges = list(dict.fromkeys(edges))
    keys = list(dist) if include_edges else [k for k in dist if k != start]
    keys.sort(key=lambda k: (dist[k], k))
    vertices = [(k, nodes[k]["type"], nodes[k]["lineage_type"]) for k in keys]
    return vertices, edges


def _nx_worker(size: int, seed: int, plan: dict[str, Any], budget: float) -> dict[str, Any]:
    from bench.generate import generate

    rss_start = rss_now()
    t0 = time.perf_counter()
    lg = generate(size, seed)
    graph = lg.to_networkx()
    del lg
    gc.collect()
    build_s = time.perf_counter() - t0
    rss_open = rss_now()

    def query(case: dict[str, Any], start: str) -> tuple[int, int]:
        v, e = nx_walk(graph, start, case["direction"], case["depth"], case["include_edges"])
        return len(v), len(e)

    results = run_plan(plan, query, None, budget_s=budget, log=log)
    return {
        "rss_start": rss_start,
        "rss_open": rss_open,
        "build_s": build_s,
        "store_bytes": None,
        "cases": results,
    }


def worker_main(args: argparse.Namespace) -> None:
    plan = load_json(Path(args.plan))
    if args.cases:
        plan["cases"] = [c for c in plan["cases"] if c["name"] in args.cases]
    reset_peak()
    if args.worker in ("sqlite", "postgres"):
        out = _sql_worker(args.url, plan, args.budget)
    elif args.worker == "networkx":
        out = _nx_worker(plan["size"], plan["seed"], plan, args.budget)
    else:
        raise SystemExit(f"unknown worker {args.worker}")
    out["peak_rss"] = peak_rss()
    out["package"] = _package_version()
    for res in out["cases"].values():  # partial reruns merge case by case
        res["package"] = out["package"]
    dump_json(Path(args.out), out)


def _package_version() -> dict[str, Any]:
    """Return the commit the worker ran and whether airflow_lineage/ had local changes."""

    def git(*a: str) -> str:
        p = subprocess.run(["git", *a], cwd=REPO_DIR, capture_output=True, text=True, check=False)
        return p.stdout.strip()

    return {
        "commit": git("rev-parse", "HEAD"),
        # The whole tree, not the package only: the figures are of this commit exactly
        # (but for the results files, which the run itself writes).
        "clean": not git(
            "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"
        ),
        "dirty": bool(git("status", "--porcelain", "--", "airflow_lineage")),
    }


# -- ml-metadata ---------------------------------------------------------------------------


def mlmd_unavailable() -> str | None:
    """Return why the ml-metadata backend cannot run here, or None when it can."""
    py = MLMD_VENV / "bin" / "python"
    if not py.exists():
        return (
            f"no {MLMD_VENV.relative_to(REPO_DIR)}: run bench/setup-mlmd.sh (ml-metadata "
            f"{MLMD_VERSION} pins protobuf<5 and attrs<24, which conflict with Airflow 3's "
            "protobuf and attrs, so it lives in a virtualenv of its own)"
        )
    proc = subprocess.run(
        [str(py), "-c", "import ml_metadata, sys; print(ml_metadata.__version__)"],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        return f"ml_metadata does not import in {MLMD_VENV.name}: {proc.stderr.strip()[-500:]}"
    if proc.stdout.strip() != MLMD_VERSION:
        return f"{MLMD_VENV.name} has ml-metadata {proc.stdout.strip()}, want {MLMD_VERSION}"
    return None


# -- orchestration --------------------------------------------------------------------------


def _run_worker(cmd: list[str], out: Path, timeout: float) -> dict[str, Any] | None:
    env = dict(os.environ, PYTHONPATH=str(REPO_DIR))
    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO_DIR, env=env, timeout=timeout, check=False)
    if proc.returncode != 0 or not out.exists():
        log(f"  worker failed ({proc.returncode}): {' '.join(cmd)}")
        return None
    res = load_json(out)
    res["worker_wall_s"] = time.perf_counter() - t0
    return res


def _check_counts(size_res: dict[str, Any]) -> dict[str, Any]:
    """Compare result sizes per start across backends with the same semantics."""
    backends = size_res.get("backends", {})
    ref = backends.get("networkx") or backends.get("sqlite")
    if not ref or "cases" not in ref:
        return {}
    out: dict[str, Any] = {}
    for name in ("sqlite", "postgres"):
        b = backends.get(name)
        if not b or "cases" not in b or b is ref:
            continue
        mismatches = []
        for case, res in b["cases"].items():
            other = ref["cases"].get(case)
            if not other or "counts" not in res or "counts" not in other:
                continue
            ref_counts = {c[0]: c[1:] for c in other["counts"]}
            for i, nv, ne in res["counts"]:
                if i in ref_counts and ref_counts[i] != [nv, ne]:
                    mismatches.append([case, i, [nv, ne], ref_counts[i]])
        out[name] = {"against": "networkx" if "networkx" in backends else "sqlite",
                     "mismatches": mismatches[:20], "n_mismatches": len(mismatches)}
    return out


def run_size(size: int, args: argparse.Namespace, results: dict[str, Any]) -> None:
    from bench.generate import generate

    log(f"== size {size}")
    t0 = time.perf_counter()
    g = generate(size, args.seed)
    gen_s = time.perf_counter() - t0
    # The generated graph is millions of long-lived objects; keep the cyclic GC from
    # walking them while the stores are built (they are not part of what is measured).
    gc.freeze()
    fp = fingerprint(g)
    log(f"  generated {len(g.nodes)} entities, {len(g.edges)} associations in {gen_s:.1f} s")
    size_res = results["sizes"].setdefault(str(size), {})
    size_res["graph"] = g.stats()
    size_res["generate_s"] = gen_s
    size_res["fingerprint"] = fp

    plan_path = DATA_DIR / (
        f"plan-{size}-s{args.seed}-v{PLAN_VERSION}-n{args.starts}-b{args.both_starts}"
        f"-r{args.big_reps}.json"
    )
    plan = load_json(plan_path) if plan_path.exists() else None
    if plan is None or plan.get("fingerprint") != fp:
        plan = make_plan(g, args.seed, args.starts, args.both_starts, args.big_reps)
        plan["fingerprint"] = fp
        dump_json(plan_path, plan)
    size_res["big_expected_vertices"] = plan["big_expected_vertices"]
    backends = size_res.setdefault("backends", {})
    out = DATA_DIR / f"worker-{size}.json"

    for backend in args.backends:
        log(f"  -- {backend}")
        try:
            if backend == "sqlite":
                url, meta = ensure_sqlite(g, fp, args.batch_size, args.rebuild)
                cmd = [sys.executable, "-m", "bench.bench_query", "--worker", "sqlite",
                       "--url", url]
            elif backend == "postgres":
                base = pg_admin_url(args.pg_url)
                url, meta = ensure_postgres(g, fp, args.batch_size, args.rebuild, base)
                cmd = [sys.executable, "-m", "bench.bench_query", "--worker", "postgres",
                       "--url", url]
            elif backend == "networkx":
                meta = {}
                cmd = [sys.executable, "-m", "bench.bench_query", "--worker", "networkx"]
            elif backend == "mlmd":
                reason = mlmd_unavailable()
                if reason:
                    log(f"  mlmd skipped: {reason}")
                    backends["mlmd"] = {"skipped": reason}
                    continue
                meta = {}
                db = DATA_DIR / f"mlmd-{size}-s{args.seed}.sqlite"
                cmd = [str(MLMD_VENV / "bin" / "python"), "-m", "bench._mlmd", "--db", str(db),
                       "--fingerprint", fp, "--batch-size", str(args.batch_size)]
                if args.rebuild:
                    cmd.append("--rebuild")
            else:
                raise SystemExit(f"unknown backend {backend}")
        except RuntimeError as e:
            log(f"  {backend} skipped: {e}")
            backends[backend] = {"skipped": str(e)}
            continue
        cmd += ["--plan", str(plan_path), "--out", str(out), "--budget", str(args.budget)]
        if args.cases:
            cmd += ["--cases", *args.cases]
        res = _run_worker(cmd, out, args.worker_timeout)
        if res is None:
            backends[backend] = {"failed": "worker failed; see the log"}
            continue
        if meta.get("ingest"):
            res["ingest"] = meta["ingest"]
        if args.cases and "cases" in backends.get(backend, {}):
            # A partial run updates the cases it ran and keeps the others.
            merged = backends[backend]
            merged["cases"].update(res.pop("cases"))
            merged.update(res)
            res = merged
        backends[backend] = res
        dump_json(args.json_path, results)
    size_res["checks"] = _check_counts(size_res)
    for name, chk in size_res["checks"].items():
        if chk["n_mismatches"]:
            log(f"  !! {name}: {chk['n_mismatches']} result sizes differ from {chk['against']}")
    del g
    gc.unfreeze()
    gc.collect()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="lineage query benchmark")
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--starts", type=int, default=200, help="start entities per latency case")
    ap.add_argument("--both-starts", type=int, default=20, help="start entities for Both cases")
    ap.add_argument("--big-reps", type=int, default=10)
    ap.add_argument("--budget", type=float, default=20.0, help="seconds per case and backend")
    ap.add_argument("--batch-size", type=int, default=5000, help="associations a write batch")
    ap.add_argument("--rebuild", action="store_true", help="rebuild cached stores")
    ap.add_argument("--pg-url", help="postgresql://user@host:port/ (default: try postgres, root)")
    ap.add_argument("--worker-timeout", type=float, default=3 * 3600)
    ap.add_argument("--no-merge", action="store_true", help="do not merge with today's results")
    ap.add_argument("--cases", nargs="+", help="run only these cases (default: all)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--plan", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker_main(args)
        return

    from bench import report

    DATA_DIR.mkdir(parents=True, exist_ok=True)
    today = dt.date.today().isoformat()
    args.json_path = RESULTS_DIR / f"{today}-query.json"
    results: dict[str, Any] = {}
    if args.json_path.exists() and not args.no_merge:
        results = load_json(args.json_path)
        if results.get("meta", {}).get("seed") != args.seed:
            results = {}
    results.setdefault("sizes", {})
    results["meta"] = _meta(args)
    for size in args.sizes:
        run_size(size, args, results)
        dump_json(args.json_path, results)
    md = report.markdown(results)
    args.json_path.with_suffix(".md").write_text(md)
    print(md)
    log(f"results: {args.json_path}")


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    def git(*a: str) -> str:
        p = subprocess.run(["git", *a], cwd=REPO_DIR, capture_output=True, text=True, check=False)
        return p.stdout.strip()

    import networkx
    import sqlalchemy

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "HEAD"),
        # The whole tree, not the package only: the figures are of this commit exactly
        # (but for the results files, which the run itself writes).
        "clean": not git(
            "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"
        ),
        "dirty": bool(git("status", "--porcelain", "--", "airflow_lineage")),
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB",
        "sqlite": __import__("sqlite3").sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "networkx": networkx.__version__,
        "seed": args.seed,
        "starts": args.starts,
        "both_starts": args.both_starts,
        "budget_s": args.budget,
        "batch_size": args.batch_size,
        "case_notes": CASE_NOTES,
        "shutil_disk_free_gb": shutil.disk_usage(DATA_DIR).free / 2**30,
    }


if __name__ == "__main__":
    main()
