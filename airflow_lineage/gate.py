"""Evaluate a provenance policy on a model's upstream lineage: the deployment gate.

One query fetches the model's whole upstream graph (with edges); every rule of the
:class:`~airflow_lineage.policy.Policy` is then checked against it and explained. The
gate fails closed: a model with no recorded lineage, an ancestor or edge from an
untrusted account, a cycle, a digest that no longer matches or cannot be recomputed,
all reject.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow_lineage.model import Action, Arn, Artifact, Association, Direction, Entity, utcnow
from airflow_lineage.policy import AncestorRule, MetricRule, Policy
from airflow_lineage.query import LineageQuery
from airflow_lineage.store.base import LineageStore
from airflow_lineage.verify import check

__all__ = ["RuleOutcome", "Verdict", "evaluate"]


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One rule's result, its explanation and the entities it rests on."""

    rule: str
    passed: bool
    detail: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gate's decision on one model, rule by rule."""

    model_arn: str
    passed: bool
    outcomes: tuple[RuleOutcome, ...]
    checked_at: datetime
    ancestors: int = 0
    digests_checked: int = 0
    policy: Mapping[str, Any] = field(default_factory=dict)

    @property
    def reasons(self) -> list[str]:
        """Return the explanations of the rules that failed."""
        return [f"{o.rule}: {o.detail}" for o in self.outcomes if not o.passed]

    def to_json(self) -> dict[str, Any]:
        """Return the report for machines."""
        return {
            "model": self.model_arn,
            "verdict": "passed" if self.passed else "rejected",
            "checked_at": self.checked_at.isoformat(),
            "ancestors": self.ancestors,
            "digests_checked": self.digests_checked,
            "rules": [
                {
                    "rule": o.rule,
                    "passed": o.passed,
                    "detail": o.detail,
                    "evidence": list(o.evidence),
                }
                for o in self.outcomes
            ],
            "policy": dict(self.policy),
        }

    def to_markdown(self) -> str:
        """Return the report for people."""
        head = "PASSED" if self.passed else "REJECTED"
        lines = [
            f"# Deployment gate: {head}",
            "",
            f"- model: `{self.model_arn}`",
            f"- checked: {self.checked_at.isoformat()} on {self.ancestors} upstream entities, "
            f"{self.digests_checked} content digests recomputed",
            "",
            "| | rule | detail |",
            "|---|---|---|",
        ]
        for o in self.outcomes:
            mark = "pass" if o.passed else "**FAIL**"
            lines.append(f"| {mark} | {o.rule} | {o.detail.replace('|', '/')} |")
        return "\n".join(lines) + "\n"


def _matches(entity: Entity, rule: AncestorRule) -> bool:
    if rule.type is not None and entity.type != rule.type:
        return False
    if rule.lineage_type is not None and entity.lineage_type is not rule.lineage_type:
        return False
    if rule.status is not None and not (
        isinstance(entity, Action) and entity.status is rule.status
    ):
        return False
    return all(entity.properties.get(k) == v for k, v in rule.properties.items())


def _find_cycle(edges: Iterable[Association]) -> list[str] | None:
    """Return the ARNs of one directed cycle among the edges, or None."""
    out: dict[str, list[str]] = {}
    for e in edges:
        out.setdefault(e.source_arn, []).append(e.destination_arn)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for root in sorted(out):
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            nexts = out.get(node, [])
            if i < len(nexts):
                stack.append((node, i + 1))
                nxt = nexts[i]
                if state.get(nxt) == 1:
                    return [*path[path.index(nxt) :], nxt]
                if not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return None


def _recent(entity: Entity, max_age: timedelta | None, now: datetime) -> bool:
    if max_age is None:
        return True
    when = entity.modified or entity.created
    return now - when <= max_age


def _metric(
    rule: MetricRule, actions: list[Action], max_age: timedelta | None, now: datetime
) -> RuleOutcome:
    candidates = [a for a in actions if a.type == rule.step_type]
    if not candidates:
        return RuleOutcome(rule.describe(), False, f"no upstream {rule.step_type} step")
    newest = max(candidates, key=lambda a: (a.created, a.arn))
    if newest.status.value != "Completed":
        return RuleOutcome(
            rule.describe(),
            False,
            f"the newest {rule.step_type} step did not complete ({newest.status.value})",
            (newest.arn,),
        )
    if not _recent(newest, max_age, now):
        return RuleOutcome(
            rule.describe(),
            False,
            f"the newest {rule.step_type} step is stale: {newest.created.isoformat()} is older "
            f"than {max_age}",
            (newest.arn,),
        )
    raw = newest.properties.get(f"metric:{rule.metric}")
    if raw is None:
        return RuleOutcome(
            rule.describe(),
            False,
            f"{rule.step_type} step recorded no metric {rule.metric}",
            (newest.arn,),
        )
    try:
        value = float(raw)
    except ValueError:
        return RuleOutcome(
            rule.describe(), False, f"metric {rule.metric}={raw!r} is not a number", (newest.arn,)
        )
    low_ok = rule.min is None or value >= rule.min
    high_ok = rule.max is None or value <= rule.max
    ok = low_ok and high_ok
    relation = "meets" if ok else "is outside"
    return RuleOutcome(
        rule.describe(), ok, f"{rule.metric}={value:g} {relation} the bound", (newest.arn,)
    )


def evaluate(
    store: LineageStore, model_arn: str, policy: Policy, *, now: datetime | None = None
) -> Verdict:
    """Check ``policy`` against the upstream lineage of ``model_arn``.

    Never raises for what the lineage says; only bad arguments raise (``ValueError``).
    A store failure propagates (the caller fails closed).
    """
    Arn.parse(model_arn, field_name="model")
    if not isinstance(policy, Policy):
        raise TypeError(f"policy must be a Policy, not {type(policy).__name__}")
    now = now or utcnow()
    summary: dict[str, Any] = {
        "max_depth": policy.max_depth,
        "verify_digests": policy.verify_digests,
    }
    model = store.get_many([model_arn]).get(model_arn)
    if model is None:
        outcome = RuleOutcome(
            "lineage recorded", False, f"no lineage entity has the ARN {model_arn}"
        )
        return Verdict(model_arn, False, (outcome,), now, policy=summary)

    result = store.query(
        LineageQuery(
            start_arns=(model_arn,),
            direction=Direction.ASCENDANTS,
            include_edges=True,
            max_depth=policy.max_depth,
        )
    )
    upstream_arns = [v.arn for v in result.vertices if v.arn != model_arn]
    entities = store.get_many(upstream_arns)
    upstream = [entities[a] for a in upstream_arns if a in entities]
    outcomes: list[RuleOutcome] = []
    if not upstream:
        outcomes.append(
            RuleOutcome("lineage recorded", False, "the model has no recorded upstream lineage")
        )
        return Verdict(model_arn, False, tuple(outcomes), now, policy=summary)
    outcomes.append(RuleOutcome("lineage recorded", True, f"{len(upstream)} upstream entities"))

    # Trust: every entity and every edge on the model's lineage from a trusted account.
    trusted = set(policy.trusted_accounts or (store.account,))
    edges = store.associations_among([model_arn, *upstream_arns])
    wanted = {(e.source_arn, e.destination_arn) for e in result.edges}
    edges = [e for e in edges if (e.source_arn, e.destination_arn) in wanted]
    foreign = [e.arn for e in [model, *upstream] if Arn.parse(e.arn).account not in trusted]
    forged = [
        f"{e.source_arn} -> {e.destination_arn} (added by {e.account})"
        for e in edges
        if e.account not in trusted
    ]
    outcomes.append(
        RuleOutcome(
            "trusted accounts only",
            not foreign,
            f"entities from untrusted accounts: {', '.join(foreign)}"
            if foreign
            else f"every entity belongs to {', '.join(sorted(trusted))}",
            tuple(foreign),
        )
    )
    outcomes.append(
        RuleOutcome(
            "edges added by trusted accounts only",
            not forged,
            f"edges added by untrusted accounts: {'; '.join(forged)}"
            if forged
            else f"all {len(edges)} edges added by trusted accounts",
        )
    )

    cycle = _find_cycle(edges)
    outcomes.append(
        RuleOutcome(
            "no cycles",
            cycle is None,
            "lineage is acyclic" if cycle is None else f"lineage loops: {' -> '.join(cycle)}",
            tuple(cycle or ()),
        )
    )

    for rule in policy.required:
        found = [e for e in upstream if _matches(e, rule)]
        fresh = [e for e in found if _recent(e, policy.max_age, now)]
        if not found:
            outcomes.append(RuleOutcome(f"requires {rule.describe()}", False, "no such ancestor"))
        elif not fresh:
            outcomes.append(
                RuleOutcome(
                    f"requires {rule.describe()}",
                    False,
                    f"only stale matches (older than {policy.max_age})",
                    tuple(e.arn for e in found),
                )
            )
        else:
            outcomes.append(
                RuleOutcome(
                    f"requires {rule.describe()}",
                    True,
                    f"{len(fresh)} matching ancestor(s)",
                    tuple(e.arn for e in fresh),
                )
            )

    actions = [e for e in upstream if isinstance(e, Action)]
    outcomes.extend(_metric(rule, actions, policy.max_age, now) for rule in policy.metrics)

    for rule in policy.forbidden:
        hits = [e.arn for e in upstream if _matches(e, rule)]
        outcomes.append(
            RuleOutcome(
                f"forbids {rule.describe()}",
                not hits,
                f"found {len(hits)} forbidden ancestor(s)" if hits else "none found",
                tuple(hits),
            )
        )

    checked = 0
    if policy.verify_digests:
        bad: list[str] = []
        for entity in [model, *upstream]:
            if not isinstance(entity, Artifact):
                continue
            for st in entity.source_types:
                checked += 1
                ok, detail = check(entity.source_uri, st)
                if not ok:
                    bad.append(detail)
        outcomes.append(
            RuleOutcome(
                "content digests verified",
                not bad,
                "; ".join(bad) if bad else f"{checked} digest(s) recomputed and matching",
            )
        )

    summary["required"] = [r.describe() for r in policy.required]
    summary["metrics"] = [r.describe() for r in policy.metrics]
    summary["forbidden"] = [r.describe() for r in policy.forbidden]
    summary["trusted_accounts"] = sorted(trusted)
    summary["max_age"] = str(policy.max_age) if policy.max_age else None
    passed = all(o.passed for o in outcomes)
    return Verdict(
        model_arn,
        passed,
        tuple(outcomes),
        now,
        len(upstream),
        checked,
        json.loads(json.dumps(summary)),
    )
