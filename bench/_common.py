"""What every benchmark worker shares: timing loops, percentiles, memory readings.

Standard library only: the ml-metadata worker imports it from its own virtualenv.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DATA_DIR = BENCH_DIR / ".data"
RESULTS_DIR = BENCH_DIR / "results"

PAGE_SIZE = 50
"""Vertices a page in the pagination benchmark (SageMaker's QueryLineage maximum)."""


def percentile(values: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0..100) of ``values`` by linear interpolation."""
    if not values:
        return float("nan")
    s = sorted(values)
    if len(s) == 1:
        return s[0]
    pos = (len(s) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def rss_now() -> int:
    """Return the process's resident set size in bytes."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) so the next reading covers what follows."""
    gc.collect()
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def peak_rss() -> int:
    """Return the peak resident set size in bytes since the last :func:`reset_peak`."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def loadavg() -> float:
    """Return the 1-minute load average (other work on the machine skews wall times)."""
    try:
        with open("/proc/loadavg") as fh:
            return float(fh.read().split()[0])
    except OSError:
        return float("nan")


def summarize(
    times_s: list[float], counts: list[list[int]], cpu_s: list[float] | None = None
) -> dict[str, Any]:
    """Return p50/p95/mean/min in milliseconds and the result sizes of a timed case.

    ``cpu_*`` is this process's CPU time (user+system) a query: unlike wall time it does
    not grow when other processes compete for the cores, but it leaves out the time
    spent in a database server.
    """
    ms = [t * 1000 for t in times_s]
    cpu_ms = [t * 1000 for t in cpu_s or ()]
    vertices = [c[1] for c in counts]
    edges = [c[2] for c in counts]
    p50 = percentile(ms, 50)
    v50 = percentile(vertices, 50) if vertices else 0
    return {
        "reps": len(ms),
        "p50_ms": p50,
        "p95_ms": percentile(ms, 95),
        "mean_ms": sum(ms) / len(ms) if ms else float("nan"),
        "min_ms": min(ms) if ms else float("nan"),
        "max_ms": max(ms) if ms else float("nan"),
        "vertices_p50": v50,
        "vertices_max": max(vertices) if vertices else 0,
        "edges_p50": percentile(edges, 50) if edges else 0,
        # Time per returned vertex, per query, then the median of that.
        "us_per_vertex_p50": percentile(
            [t * 1000 / max(c[1], 1) for t, c in zip(ms, counts, strict=True)], 50
        ),
        "v50_us_per_vertex": p50 * 1000 / v50 if v50 else None,
        "cpu_p50_ms": percentile(cpu_ms, 50) if cpu_ms else None,
        "cpu_p95_ms": percentile(cpu_ms, 95) if cpu_ms else None,
        "times_ms": [round(t, 4) for t in ms],
        "counts": counts,
    }


def time_case(
    run: Callable[[str], tuple[int, int]],
    starts: Sequence[str],
    *,
    warmup: int,
    budget_s: float,
    min_reps: int = 3,
) -> dict[str, Any]:
    """Time ``run(start)`` over ``starts`` in order, after ``warmup`` untimed runs.

    Stops early when ``budget_s`` is spent and at least ``min_reps`` runs are timed.
    ``run`` returns ``(vertices, edges)`` of the result; counts are kept per start index
    so that backends can be checked against each other.
    """
    for start in starts[:warmup]:
        run(start)
    times: list[float] = []
    cpu: list[float] = []
    counts: list[list[int]] = []
    load = loadavg()
    began = time.perf_counter()
    for i, start in enumerate(starts):
        c0 = time.process_time()
        t0 = time.perf_counter()
        nv, ne = run(start)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        counts.append([i, nv, ne])
        if len(times) >= min_reps and time.perf_counter() - began > budget_s:
            break
    out = summarize(times, counts, cpu)
    out["loadavg"] = [load, loadavg()]
    return out


def run_plan(
    plan: dict[str, Any],
    query: Callable[[dict[str, Any], str], tuple[int, int]],
    all_pages: Callable[[dict[str, Any], str, int], tuple[int, int, int]] | None,
    *,
    budget_s: float,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Run every case of a plan with one backend; return the results by case name."""
    out: dict[str, Any] = {}
    for case in plan["cases"]:
        reset_peak()
        rss_before = rss_now()

        def one(start: str, case: dict[str, Any] = case) -> tuple[int, int]:
            return query(case, start)

        t0 = time.perf_counter()
        if case["kind"] == "pages":
            if all_pages is None:
                continue
            start = case["starts"][0]
            reps = case["reps"]
            one_page = time_case(one, [start] * reps, warmup=1, budget_s=budget_s)

            def paged(s: str, case: dict[str, Any] = case) -> tuple[int, int]:
                nv, ne, pages = all_pages(case, s, PAGE_SIZE)
                paged.pages = pages  # type: ignore[attr-defined]
                return nv, ne

            every = time_case(paged, [start] * reps, warmup=1, budget_s=budget_s)
            res = {
                "one_page": one_page,
                "all_pages": every,
                "page_size": PAGE_SIZE,
                "pages": getattr(paged, "pages", None),
                "ratio_p50": every["p50_ms"] / one_page["p50_ms"],
            }
        else:
            res = time_case(
                one, case["starts"], warmup=case["warmup"], budget_s=budget_s,
                min_reps=case.get("min_reps", 3),
            )
        res["peak_rss"] = peak_rss()
        res["rss_before"] = rss_before
        res["wall_s"] = time.perf_counter() - t0
        out[case["name"]] = res
        summary = res if "p50_ms" in res else res["all_pages"]
        log(
            f"  {case['name']:<22} p50 {summary['p50_ms']:10.3f} ms"
            f"  p95 {summary['p95_ms']:10.3f} ms"
            f"  vertices p50 {summary['vertices_p50']:>9}  reps {summary['reps']:>4}"
            + (f"  pages/one {res['ratio_p50']:.2f}" if "ratio_p50" in res else "")
        )
    return out


def load_json(path: Path) -> Any:
    with open(path) as fh:
        return json.load(fh)


def dump_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w") as fh:
        json.dump(data, fh, indent=1, sort_keys=False, default=str)
    tmp.replace(path)
