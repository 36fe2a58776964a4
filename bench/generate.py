"""A deterministic generator of realistic ML lineage graphs, for benchmarks.

``generate(target, seed)`` simulates an organisation's ML platform over time until the
graph holds ``target`` entities (it stops at the end of the run that reaches it):

* **Teams** own raw data **sources** in a data lake; a few **org-wide sources** are shared
  by pipelines of many teams. Every source is refreshed on its own schedule: each refresh
  is a new ``DataSet`` artifact, and the association ``old --DerivedFrom--> new`` links the
  versions (SageMaker: "the destination is a modification of the source").
* **Pipelines** (a ``Pipeline`` context each) belong to a team, read 1-3 of its sources
  (sometimes one org-wide source too) and run many times. A bounded number of pipelines
  is active at once, so the graph's local shape does not change with its size: a 1M
  graph is many more pipelines and runs, not bigger hubs.
* Each **run** (a ``PipelineExecution`` context, ``AssociatedWith`` its pipeline) is:
  latest raw versions + processing code ``ContributedTo`` a ``ProcessingJob`` action that
  ``Produced`` a features ``DataSet`` (and sometimes a test split); the features feed
  1-3 ``TrainingJob`` actions (fan-out; with the framework's current ``Image`` and the
  training ``Code``), each ``Produced`` a ``Model``; the model (and test split)
  ``ContributedTo`` an ``EvaluationJob`` that ``Produced`` a ``Metrics`` report; most
  models are registered: model ``ContributedTo`` a ``ModelPackage`` artifact, which is
  ``AssociatedWith`` the pipeline's ``ModelPackageGroup`` context and, with the report,
  ``ContributedTo`` a ``ModelApproval`` action; approved models get a ``ModelDeployment``
  action (model ``ContributedTo`` it, approval ``AssociatedWith`` it) that is
  ``AssociatedWith`` an ``Endpoint`` context. Every action is ``AssociatedWith`` its run.
* Code artifacts get new commits (``DerivedFrom`` the previous one); framework images
  get new versions; a few training jobs fail (no model).

The graph is held as plain tuples (``nodes``, ``edges``) whose ARNs are computed the way
:mod:`airflow_lineage.model` computes them, so the same graph can be fed to:

* our stores: :meth:`LineageGraph.batches` builds validated ``Artifact``/``Action``/
  ``Context``/``Association`` values (that is where the model's validation cost is) and
  yields them in batches, cut at run boundaries, for ``LineageStore.write``;
* networkx: :meth:`LineageGraph.to_networkx` (a ``DiGraph`` keyed by ARN, node attributes
  ``type`` and ``lineage_type``, edge attribute ``association_type``);
* ml-metadata: ``bench/_mlmd.py`` maps the same tuples to MLMD artifacts, executions,
  contexts and events.

Run ``python -m bench.generate --size 100000`` for the graph's statistics and timings.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from airflow_lineage.model import DEFAULT_ACCOUNT, LOCAL_REGION, SourceIdType, artifact_id

__all__ = [
    "ACTION",
    "ARTIFACT",
    "CONTEXT",
    "LineageGraph",
    "generate",
]

ARTIFACT = "Artifact"
ACTION = "Action"
CONTEXT = "Context"

CONTRIBUTED_TO = "ContributedTo"
ASSOCIATED_WITH = "AssociatedWith"
DERIVED_FROM = "DerivedFrom"
PRODUCED = "Produced"

# Node tuple fields.
N_ARN, N_LT, N_TYPE, N_URI, N_NAME, N_CREATED, N_STATUS, N_PROPS, N_SOURCE_TYPES = range(9)
# Edge tuple fields.
E_SRC, E_DST, E_TYPE, E_CREATED = range(4)

_ARN_PREFIX = f"arn:aws:sagemaker:{LOCAL_REGION}:{DEFAULT_ACCOUNT}:"
_ARTIFACT_PREFIX = _ARN_PREFIX + "artifact/"
_ACTION_PREFIX = _ARN_PREFIX + "action/"
_CONTEXT_PREFIX = _ARN_PREFIX + "context/"
_BASE_US = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000
_STEP_US = 60_000_000  # one run a minute, across the organisation

ACTIVE_PIPELINES = 24
"""Pipelines running at the same time; keeps the graph's local shape independent of size."""

class _SourceTypeKey(NamedTuple):
    """What ``artifact_id`` reads of a ``SourceType``, without its (botocore) validation.

    ``LineageGraph.batches`` builds the real, validated ``SourceType`` and checks that the
    model computes the same ARN, so a change to the model's keying cannot go unnoticed.
    """

    id_type: SourceIdType
    value: str


_FRAMEWORKS = ("xgboost", "pytorch", "sklearn", "tensorflow", "lightgbm")
_ECR = "763104351884.dkr.ecr.us-east-1.amazonaws.com"


@dataclass(slots=True)
class _Source:
    sid: int
    team: int
    refresh: int  # steps between refreshes
    last_refresh: int
    version: int = 0
    arn: str = ""


@dataclass(slots=True)
class _Code:
    repo: str
    commit: int = 0
    arn: str = ""


@dataclass(slots=True)
class _Image:
    framework: str
    version: int = 0
    uses_left: int = 0
    arn: str = ""


@dataclass(slots=True)
class _Pipeline:
    pid: int
    team: int
    framework: str
    sources: list[_Source]
    remaining: int
    fanout: tuple[int, ...]
    has_test_split: bool
    ctx: str
    model_group: str
    proc_code: _Code
    train_code: _Code
    endpoints: dict[int, str] = field(default_factory=dict)
    package_version: int = 0


@dataclass
class LineageGraph:
    """A generated lineage graph as plain tuples, plus what the benchmarks need to pick from.

    ``nodes``: ``(arn, lineage_type, type, source_uri, name, created_us, status,
    properties, source_types)``; ``edges``: ``(source_arn, destination_arn,
    association_type, created_us)``. ``run_ends`` holds ``(len(nodes), len(edges))``
    after each simulation step: every edge refers to nodes of its own step or earlier
    ones, so batches cut there can be written in order.
    """

    target: int
    seed: int
    nodes: list[tuple[Any, ...]] = field(default_factory=list)
    edges: list[tuple[str, str, str, int]] = field(default_factory=list)
    run_ends: list[tuple[int, int]] = field(default_factory=list)
    roles: dict[str, list[int]] = field(default_factory=dict)
    """Node indexes by role: model, raw, training, processing, pipeline, endpoint, …"""

    # -- views ------------------------------------------------------------------------

    def arns(self, role: str) -> list[str]:
        """Return the ARNs of the nodes with this role, in creation order."""
        nodes = self.nodes
        return [nodes[i][N_ARN] for i in self.roles.get(role, ())]

    def stats(self) -> dict[str, Any]:
        """Return counts by lineage type, entity type and association type."""
        return {
            "entities": len(self.nodes),
            "associations": len(self.edges),
            "runs": len(self.run_ends),
            "by_lineage_type": dict(Counter(n[N_LT] for n in self.nodes)),
            "by_type": dict(Counter(n[N_TYPE] for n in self.nodes).most_common()),
            "by_association_type": dict(Counter(e[E_TYPE] for e in self.edges)),
            "roles": {k: len(v) for k, v in self.roles.items()},
        }

    # -- our stores ---------------------------------------------------------------------

    def batches(self, batch_size: int = 5000) -> Iterator[tuple[list[Any], list[Any]]]:
        """Yield ``(entities, associations)`` of validated model values, for ``store.write``.

        A batch holds whole simulation steps and at least ``batch_size`` associations
        (except the last). Each entity is built with ``Artifact.new``/``Action.new``/
        ``Context.new`` — the validating constructors — and its ARN is checked against
        the one this generator computed.
        """
        from airflow_lineage.model import (
            Action,
            ActionStatus,
            Artifact,
            Association,
            AssociationType,
            Context,
            SourceType,
        )

        assoc_types = {t.value: t for t in AssociationType}
        statuses = {s.value: s for s in ActionStatus}

        def when(us: int) -> datetime:
            return datetime.fromtimestamp(us / 1_000_000, UTC)

        def entity(n: tuple[Any, ...]) -> Any:
            arn, lt, typ, uri, name, created, status, props, stypes = n
            if lt == ARTIFACT:
                e = Artifact.new(
                    uri,
                    typ,
                    name=name,
                    source_types=[SourceType(*st) for st in stypes] if stypes else (),
                    properties=props,
                    created=when(created),
                )
            elif lt == ACTION:
                e = Action.new(
                    name, typ, uri, status=statuses[status], properties=props, created=when(created)
                )
            else:
                e = Context.new(name, typ, uri, properties=props, created=when(created))
            if e.arn != arn:
                raise AssertionError(f"generator ARN {arn} != model ARN {e.arn}")
            return e

        n0 = e0 = 0
        nodes, edges = self.nodes, self.edges
        for n1, e1 in self.run_ends:
            if e1 - e0 < batch_size and (n1, e1) != self.run_ends[-1]:
                continue
            ents = [entity(nodes[i]) for i in range(n0, n1)]
            assocs = [
                Association(s, d, assoc_types[t], when(c)) for s, d, t, c in edges[e0:e1]
            ]
            yield ents, assocs
            n0, e0 = n1, e1

    # -- networkx -------------------------------------------------------------------------

    def to_networkx(self) -> Any:
        """Return the graph as a networkx ``DiGraph`` keyed by ARN.

        Node attributes ``type`` and ``lineage_type``; edge attribute ``association_type``.
        """
        import networkx as nx

        g = nx.DiGraph()
        g.add_nodes_from(
            (n[N_ARN], {"type": n[N_TYPE], "lineage_type": n[N_LT]}) for n in self.nodes
        )
        g.add_edges_from((e[E_SRC], e[E_DST], {"association_type": e[E_TYPE]}) for e in self.edges)
        return g

    def adjacency(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        """Return plain successor and predecessor lists (for picking query starts)."""
        succ: dict[str, list[str]] = {}
        pred: dict[str, list[str]] = {}
        for s, d, _, _ in self.edges:
            succ.setdefault(s, []).append(d)
            pred.setdefault(d, []).append(s)
        return succ, pred


class _Builder:
    """The simulation: appends nodes and edges in creation order."""

    def __init__(self, target: int, seed: int) -> None:
        self.g = LineageGraph(target=target, seed=seed)
        self.rng = random.Random(seed)
        self.nodes = self.g.nodes
        self.edges = self.g.edges
        self.roles: dict[str, list[int]] = self.g.roles
        self.teams: list[list[_Source]] = []
        self.org_sources: list[_Source] = []
        self.images: dict[str, _Image] = {}
        self.next_source = 0
        self.next_pipeline = 0
        self.step = 0
        self.now = _BASE_US

    # -- primitives (ARNs exactly as airflow_lineage.model builds them) -----------------

    def _role(self, role: str) -> None:
        self.roles.setdefault(role, []).append(len(self.nodes) - 1)

    def artifact(
        self,
        uri: str,
        typ: str,
        role: str,
        props: dict[str, str] | None = None,
        digest: bool = False,
    ) -> str:
        if digest:
            value = f"sha256:{self.rng.getrandbits(256):064x}"
            key = _SourceTypeKey(SourceIdType.CUSTOM, value)
            arn = _ARTIFACT_PREFIX + artifact_id(uri, typ, (key,))
            stypes: tuple[tuple[str, str], ...] | None = (("Custom", value),)
        else:
            arn = _ARTIFACT_PREFIX + artifact_id(uri, typ)
            stypes = None
        self.nodes.append((arn, ARTIFACT, typ, uri, None, self.now, None, props, stypes))
        self._role(role)
        return arn

    def action(
        self, name: str, typ: str, uri: str, role: str, status: str = "Completed",
        props: dict[str, str] | None = None,
    ) -> str:
        arn = _ACTION_PREFIX + name
        self.nodes.append((arn, ACTION, typ, uri, name, self.now, status, props, None))
        self._role(role)
        return arn

    def context(
        self, name: str, typ: str, uri: str, role: str, props: dict[str, str] | None = None
    ) -> str:
        arn = _CONTEXT_PREFIX + name
        self.nodes.append((arn, CONTEXT, typ, uri, name, self.now, None, props, None))
        self._role(role)
        return arn

    def edge(self, src: str, dst: str, typ: str) -> None:
        self.edges.append((src, dst, typ, self.now))

    def tick(self) -> None:
        """Advance the clock a little: creation times are distinct and increasing."""
        self.now += 1000

    # -- the organisation -----------------------------------------------------------------

    def new_source(self, team: int, org: bool) -> _Source:
        rng = self.rng
        s = _Source(self.next_source, team, refresh=rng.randint(8, 60), last_refresh=self.step)
        self.next_source += 1
        self.refresh(s)
        return s

    def refresh(self, s: _Source) -> None:
        """Publish a new version of a source; it DerivedFrom the previous version."""
        s.version += 1
        prefix = "org" if s.team < 0 else f"team{s.team}"
        uri = f"s3://datalake/{prefix}/source-{s.sid}/v{s.version}/"
        arn = self.artifact(
            uri, "DataSet", "raw", {"stage": "raw", "version": str(s.version)}, digest=True
        )
        if s.arn:
            self.edge(s.arn, arn, DERIVED_FROM)
        s.arn = arn
        s.last_refresh = self.step

    def commit(self, code: _Code) -> None:
        """A new commit of a pipeline's code; it DerivedFrom the previous commit."""
        code.commit += 1
        sha = f"{self.rng.getrandbits(160):040x}"
        arn = self.artifact(f"git+https://git.example.com/{code.repo}.git@{sha}", "Code", "code")
        if code.arn:
            self.edge(code.arn, arn, DERIVED_FROM)
        code.arn = arn

    def image(self, framework: str) -> str:
        img = self.images.get(framework)
        if img is None:
            img = self.images[framework] = _Image(framework)
        if img.uses_left <= 0:
            img.version += 1
            img.uses_left = self.rng.randint(100, 500)
            uri = f"{_ECR}/{framework}-training:1.{img.version}-cpu-py3"
            img.arn = self.artifact(uri, "Image", "image")
        img.uses_left -= 1
        return img.arn

    def new_pipeline(self) -> _Pipeline:
        rng = self.rng
        if not self.teams or rng.random() < 1 / 6:
            team = len(self.teams)
            self.teams.append([self.new_source(team, False) for _ in range(rng.randint(3, 8))])
            if not self.org_sources or rng.random() < 0.2:
                self.org_sources.append(self.new_source(-1, True))
        team = rng.randrange(max(0, len(self.teams) - 5), len(self.teams))
        own = self.teams[team]
        sources = rng.sample(own, k=min(len(own), rng.randint(1, 3)))
        if rng.random() < 0.3:
            # Org-wide sources: the recent ones are the popular ones.
            pool = self.org_sources[-8:]
            sources.append(pool[int(len(pool) * rng.random() ** 2)])
        pid = self.next_pipeline
        self.next_pipeline += 1
        runs = int(rng.lognormvariate(math.log(80), 0.9))
        framework = rng.choice(_FRAMEWORKS)
        fanout = rng.choice(((1,), (1, 1, 2), (1, 2, 3), (2, 3), (3,)))
        ctx = self.context(
            f"pipeline-{pid}", "Pipeline",
            f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/pipeline-{pid}", "pipeline",
            {"team": str(team), "framework": framework},
        )
        group = self.context(
            f"model-group-{pid}", "ModelPackageGroup",
            f"arn:aws:sagemaker:us-east-1:123456789012:model-package-group/models-{pid}",
            "model_group",
        )
        p = _Pipeline(
            pid=pid, team=team, framework=framework, sources=sources,
            remaining=min(max(runs, 3), 1200), fanout=fanout,
            has_test_split=rng.random() < 0.5, ctx=ctx, model_group=group,
            proc_code=_Code(f"team{team}/pipeline-{pid}-processing"),
            train_code=_Code(f"team{team}/pipeline-{pid}-training"),
        )
        self.commit(p.proc_code)
        self.commit(p.train_code)
        return p

    def run(self, p: _Pipeline) -> None:
        rng, rid, pid = self.rng, self.step, p.pid
        bucket = f"s3://ml-pipeline-{pid}/runs/{rid}"
        run_ctx = self.context(
            f"pipeline-{pid}-run-{rid}", "PipelineExecution",
            f"arn:aws:sagemaker:us-east-1:123456789012:pipeline/pipeline-{pid}/execution/{rid}",
            "run",
        )
        self.edge(run_ctx, p.ctx, ASSOCIATED_WITH)
        for s in p.sources:
            if self.step - s.last_refresh >= s.refresh:
                self.refresh(s)
        if rng.random() < 0.08:
            self.commit(p.proc_code)
        if rng.random() < 0.08:
            self.commit(p.train_code)
        self.tick()

        proc = self.action(
            f"run-{rid}-processing", "ProcessingJob",
            f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/run-{rid}-processing",
            "processing",
        )
        for s in p.sources:
            self.edge(s.arn, proc, CONTRIBUTED_TO)
        self.edge(p.proc_code.arn, proc, CONTRIBUTED_TO)
        self.edge(proc, run_ctx, ASSOCIATED_WITH)
        self.tick()
        features = self.artifact(
            f"{bucket}/features/", "DataSet", "features", {"stage": "features"}
        )
        self.edge(proc, features, PRODUCED)
        test = features
        if p.has_test_split:
            test = self.artifact(f"{bucket}/test/", "DataSet", "test_split", {"stage": "test"})
            self.edge(proc, test, PRODUCED)

        for j in range(rng.choice(p.fanout)):
            self.tick()
            failed = rng.random() < 0.04
            train = self.action(
                f"run-{rid}-training-{j}", "TrainingJob",
                f"arn:aws:sagemaker:us-east-1:123456789012:training-job/run-{rid}-training-{j}",
                "training", "Failed" if failed else "Completed",
                {"instance_type": "ml.m5.xlarge", "variant": str(j)},
            )
            self.edge(features, train, CONTRIBUTED_TO)
            self.edge(self.image(p.framework), train, CONTRIBUTED_TO)
            self.edge(p.train_code.arn, train, CONTRIBUTED_TO)
            self.edge(train, run_ctx, ASSOCIATED_WITH)
            if failed:
                continue
            self.tick()
            model = self.artifact(
                f"{bucket}/training-{j}/output/model.tar.gz", "Model", "model",
                {"framework": p.framework, "variant": str(j)}, digest=True,
            )
            self.edge(train, model, PRODUCED)
            evaluation = self.action(
                f"run-{rid}-evaluation-{j}", "EvaluationJob",
                f"arn:aws:sagemaker:us-east-1:123456789012:processing-job/run-{rid}-evaluation-{j}",
                "evaluation",
            )
            self.edge(model, evaluation, CONTRIBUTED_TO)
            self.edge(test, evaluation, CONTRIBUTED_TO)
            self.edge(evaluation, run_ctx, ASSOCIATED_WITH)
            auc = 0.6 + 0.39 * rng.random()
            report = self.artifact(
                f"{bucket}/evaluation-{j}/evaluation.json", "Metrics", "report",
                {"auc": f"{auc:.4f}"},
            )
            self.edge(evaluation, report, PRODUCED)
            if rng.random() >= 0.7:
                continue
            self.tick()
            p.package_version += 1
            package = self.artifact(
                f"arn:aws:sagemaker:us-east-1:123456789012:model-package/models-{pid}/{p.package_version}",
                "ModelPackage", "package",
            )
            self.edge(model, package, CONTRIBUTED_TO)
            self.edge(package, p.model_group, ASSOCIATED_WITH)
            approved = auc >= 0.75
            approval = self.action(
                f"run-{rid}-approval-{j}", "ModelApproval", f"{bucket}/approval-{j}", "approval",
                props={"verdict": "Approved" if approved else "Rejected"},
            )
            self.edge(package, approval, CONTRIBUTED_TO)
            self.edge(report, approval, CONTRIBUTED_TO)
            self.edge(approval, run_ctx, ASSOCIATED_WITH)
            if not approved:
                continue
            self.tick()
            endpoint = p.endpoints.get(j)
            if endpoint is None:
                endpoint = p.endpoints[j] = self.context(
                    f"endpoint-{pid}-{j}", "Endpoint",
                    f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/endpoint-{pid}-{j}",
                    "endpoint",
                )
            deploy = self.action(
                f"run-{rid}-deployment-{j}", "ModelDeployment",
                f"arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/run-{rid}-{j}",
                "deployment",
            )
            self.edge(model, deploy, CONTRIBUTED_TO)
            self.edge(approval, deploy, ASSOCIATED_WITH)
            self.edge(deploy, endpoint, ASSOCIATED_WITH)
            self.edge(deploy, run_ctx, ASSOCIATED_WITH)

    def build(self) -> LineageGraph:
        rng = self.rng
        active: list[_Pipeline] = []
        target = self.g.target
        while len(self.nodes) < target:
            self.now = _BASE_US + self.step * _STEP_US
            while len(active) < ACTIVE_PIPELINES:
                active.append(self.new_pipeline())
            i = rng.randrange(len(active))
            p = active[i]
            self.run(p)
            p.remaining -= 1
            if p.remaining <= 0:
                active[i] = active[-1]
                active.pop()
            self.g.run_ends.append((len(self.nodes), len(self.edges)))
            self.step += 1
        return self.g


def generate(target: int, seed: int = 42) -> LineageGraph:
    """Generate a lineage graph of about ``target`` entities (deterministic in ``seed``)."""
    if target < 100:
        raise ValueError("target must be at least 100 entities")
    return _Builder(target, seed).build()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--entities", action="store_true", help="also time building model values")
    ap.add_argument("--networkx", action="store_true", help="also time the networkx export")
    args = ap.parse_args()
    t0 = time.perf_counter()
    g = generate(args.size, args.seed)
    t1 = time.perf_counter()
    import json

    print(json.dumps(g.stats(), indent=1))
    per = (t1 - t0) / len(g.nodes) * 1e6
    print(f"generate (plain tuples): {t1 - t0:.2f} s, {per:.2f} µs/entity")
    if args.entities:
        from airflow_lineage.apispec import service_model

        service_model()  # load botocore's model outside the timing
        t0 = time.perf_counter()
        ne = na = 0
        for ents, assocs in g.batches():
            ne += len(ents)
            na += len(assocs)
        t1 = time.perf_counter()
        print(
            f"model values: {t1 - t0:.2f} s for {ne} entities + {na} associations "
            f"({(t1 - t0) / (ne + na) * 1e6:.2f} µs/value)"
        )
    if args.networkx:
        t0 = time.perf_counter()
        nxg = g.to_networkx()
        t1 = time.perf_counter()
        print(
            f"networkx DiGraph: {t1 - t0:.2f} s "
            f"({nxg.number_of_nodes()} nodes, {nxg.number_of_edges()} edges)"
        )


if __name__ == "__main__":
    main()
