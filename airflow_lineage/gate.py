"""Evaluate a provenance policy on a model's upstream lineage: the deployment gate.

One query fetches the model's whole upstream graph (with edges); every rule of the
:class:`~airflow_lineage.policy.Policy` is then checked against it and explained. The
gate passes only what it verified. These reject:

- a subject that is not an artifact of a model type (:data:`MODEL_TYPES`);
- no recorded lineage; a walk cut off at ``max_depth`` or by account visibility
  (unless the policy's ``allow_cut_off`` names it);
- an ancestor or edge from an untrusted account; a cycle;
- an input edge of an Airflow step older than the step's try (a stale try's input);
- with ``verify_digests``: an artifact with no content digest (unless ``unverified_ok``
  exempts it), and a digest that no longer matches or cannot be recomputed;
- with ``require_signed``: a step whose signed provenance is missing, signed by an
  untrusted key, or differs from its record and edges (``provenance.chain``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from airflow_lineage.exceptions import EntityNotFoundError
from airflow_lineage.model import (
    Action,
    ActionStatus,
    Arn,
    Artifact,
    Association,
    AssociationType,
    Direction,
    Entity,
    utcnow,
)
from airflow_lineage.policy import AncestorRule, MetricRule, Policy
from airflow_lineage.provenance.keys import PublicKey
from airflow_lineage.query import LineageQuery
from airflow_lineage.store.base import LineageStore
from airflow_lineage.verify import check

__all__ = [
    "MODEL_TYPES",
    "RuleOutcome",
    "Verdict",
    "evaluate",
    "find_model",
    "model_of_task_run",
]

MODEL_TYPES = ("Model", "ModelPackage")
"""The artifact types a gate accepts as the model: model data (``Model``, which is also
what SageMaker records for a model package version and a created model) and
``ModelPackage``."""

_AIRFLOW_KEYS = ("airflow:dag_id", "airflow:task_id", "airflow:run_id")


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
    artifacts_verified: int = 0
    """Artifacts whose every content digest was recomputed and matched."""
    artifacts_exempted: int = 0
    """Artifacts without a digest that the policy's ``unverified_ok`` exempts."""
    artifacts_unverifiable: int = 0
    """Artifacts without a digest and without an exemption (each one a rejection)."""
    depth_cut_off: bool = False
    visibility_cut_off: bool = False

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
            "artifacts": {
                "verified": self.artifacts_verified,
                "exempted": self.artifacts_exempted,
                "unverifiable": self.artifacts_unverifiable,
            },
            "cut_off": {"depth": self.depth_cut_off, "visibility": self.visibility_cut_off},
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
            f"- artifacts: {self.artifacts_verified} verified, {self.artifacts_exempted} "
            f"exempted, {self.artifacts_unverifiable} unverifiable"
            + ("" if self.policy.get("verify_digests", True) else " (verify_digests is off)"),
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
    # Its creation, not its last change: writing an old record again must not freshen it.
    # A time in the future is not recent either.
    return timedelta(0) <= now - entity.created <= max_age


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


def _step_label(action: Action) -> str:
    """Return how a person names an Airflow step's try: dag.task[map] try n."""
    p = action.properties
    label = f"{p.get('airflow:dag_id')}.{p.get('airflow:task_id')}"
    if "airflow:map_index" in p:
        label += f"[{p['airflow:map_index']}]"
    return f"{label} try {p.get('airflow:try_number', '?')} ({action.arn})"


def _stale_inputs(edges: Iterable[Association], entities: Mapping[str, Entity]) -> list[str]:
    """Return the input edges of Airflow steps recorded before the step's try started.

    Capture records one action per try, created when the try starts, and its inputs at
    or after that moment; an input edge older than its action was recorded by another,
    earlier try and does not describe the try that ran.
    """
    stale = []
    for e in edges:
        if e.association_type is not AssociationType.CONTRIBUTED_TO:
            continue
        action = entities.get(e.destination_arn)
        if not isinstance(action, Action) or not all(k in action.properties for k in _AIRFLOW_KEYS):
            continue
        if e.created < action.created:
            source = entities.get(e.source_arn)
            what = source.source_uri if source is not None else e.source_arn
            stale.append(
                f"step {_step_label(action)} has input {what} ({e.source_arn}) recorded at "
                f"{e.created.isoformat()}, before the try started at "
                f"{action.created.isoformat()}"
            )
    return stale


@dataclass(slots=True)
class _Digests:
    checked: int = 0
    verified: int = 0
    exempted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    bad: list[str] = field(default_factory=list)


def _verify_digests(artifacts: Iterable[Artifact], policy: Policy) -> _Digests:
    """Recompute every digest of every artifact; sort the artifacts by what it showed."""
    out = _Digests()
    for artifact in artifacts:
        if not artifact.source_types:
            exemption = policy.exemption(artifact.type, artifact.source_uri)
            if exemption is not None:
                out.exempted.append(f"{artifact.source_uri} ({exemption.describe()})")
            else:
                out.missing.append(f"{artifact.type} {artifact.source_uri} ({artifact.arn})")
            continue
        ok_all = True
        for st in artifact.source_types:
            out.checked += 1
            ok, detail = check(artifact.source_uri, st)
            if not ok:
                ok_all = False
                out.bad.append(detail)
        out.verified += ok_all
    return out


def _cut_off(policy: Policy, depth: bool, hidden: bool, blind: bool = False) -> RuleOutcome:
    """Judge a bounded walk; ``blind``: the store cannot tell whether lineage is hidden."""
    problems: list[str] = []
    allowed: list[str] = []
    if depth:
        text = f"lineage cut off at depth {policy.max_depth}: ancestors lie beyond max_depth"
        (allowed if "depth" in policy.allow_cut_off else problems).append(text)
    if hidden:
        text = "lineage hidden by account visibility: an ancestor belongs to an account "
        text += "that did not share its lineage with this one"
        (allowed if "visibility" in policy.allow_cut_off else problems).append(text)
    elif blind:
        text = "this store cannot tell whether account visibility hides ancestors (its "
        text += "queries return only what this account may see, e.g. SageMaker)"
        (allowed if "visibility" in policy.allow_cut_off else problems).append(text)
    if problems:
        return RuleOutcome("lineage not cut off", False, "; ".join(problems))
    if allowed:
        return RuleOutcome(
            "lineage not cut off", True, "; ".join(allowed) + " (allowed by allow_cut_off)"
        )
    return RuleOutcome("lineage not cut off", True, "the whole upstream lineage was walked")


def evaluate(
    store: LineageStore,
    model_arn: str,
    policy: Policy,
    *,
    now: datetime | None = None,
    model_types: Collection[str] = MODEL_TYPES,
    trusted_keys: Sequence[PublicKey] | None = None,
) -> Verdict:
    """Check ``policy`` against the upstream lineage of ``model_arn``.

    :param model_types: the artifact types the subject may have.
    :param trusted_keys: the keys whose signatures ``require_signed`` accepts (default:
        the deployment's, see ``provenance.keys.trusted_keys``).
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
        "require_signed": policy.require_signed,
        "unverified_ok": [e.describe() for e in policy.unverified_ok],
        "allow_cut_off": list(policy.allow_cut_off),
    }
    model = store.get_many([model_arn]).get(model_arn)
    if model is None:
        outcome = RuleOutcome(
            "lineage recorded", False, f"no lineage entity has the ARN {model_arn}"
        )
        return Verdict(model_arn, False, (outcome,), now, policy=summary)
    outcomes: list[RuleOutcome] = []
    is_model = isinstance(model, Artifact) and model.type in model_types
    outcomes.append(
        RuleOutcome(
            "the model is a model artifact",
            is_model,
            f"an artifact of type {model.type}"
            if is_model
            else f"{model.arn} is {'an' if isinstance(model, Artifact) else 'a'} "
            f"{model.lineage_type.value} of type {model.type}, not an artifact of a model "
            f"type ({', '.join(model_types)})",
            (model.arn,),
        )
    )

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
    cut_flags = {
        "depth_cut_off": result.depth_cut_off,
        "visibility_cut_off": result.visibility_cut_off,
    }
    if not upstream:
        outcomes.append(
            RuleOutcome("lineage recorded", False, "the model has no recorded upstream lineage")
        )
        if result.cut_off:
            outcomes.append(_cut_off(policy, result.depth_cut_off, result.visibility_cut_off))
        return Verdict(model_arn, False, tuple(outcomes), now, policy=summary, **cut_flags)
    outcomes.append(RuleOutcome("lineage recorded", True, f"{len(upstream)} upstream entities"))
    # What the walk reached but the store would not hand over cannot be checked.
    unreadable = [a for a in upstream_arns if a not in entities]
    outcomes.append(
        RuleOutcome(
            "every ancestor readable",
            not unreadable,
            f"walked but not readable: {', '.join(unreadable)}"
            if unreadable
            else f"all {len(upstream)} ancestors read",
            tuple(unreadable),
        )
    )
    blind = not store.detects_hidden_lineage
    cut = _cut_off(policy, result.depth_cut_off, result.visibility_cut_off, blind)
    outcomes.append(cut)
    # What a cut-off walk did not see may hold what a rule looks for.
    unseen = "" if not result.cut_off else f" within the {policy.max_depth} levels walked"

    # Trust: every entity and every edge on the model's lineage from a trusted account.
    trusted = set(policy.trusted_accounts or (store.account,))
    edges = store.associations_among([model_arn, *upstream_arns])
    wanted = {(e.source_arn, e.destination_arn) for e in result.edges}
    edges = [e for e in edges if (e.source_arn, e.destination_arn) in wanted]
    unaccounted = wanted - {(e.source_arn, e.destination_arn) for e in edges}
    outcomes.append(
        RuleOutcome(
            "every walked edge readable",
            not unaccounted,
            "walked but not readable: "
            + "; ".join(f"{s} -> {d}" for s, d in sorted(unaccounted))
            if unaccounted
            else f"all {len(edges)} edges read with who added them",
        )
    )
    foreign = [a for a in [model_arn, *upstream_arns] if Arn.parse(a).account not in trusted]
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

    by_arn: dict[str, Entity] = {model.arn: model, **entities}
    stale = _stale_inputs(edges, by_arn)
    steps = sum(
        1
        for e in upstream
        if isinstance(e, Action) and all(k in e.properties for k in _AIRFLOW_KEYS)
    )
    outcomes.append(
        RuleOutcome(
            "inputs recorded by the step's own try",
            not stale,
            "stale inputs of an earlier try: " + "; ".join(stale)
            if stale
            else f"every input of the {steps} upstream Airflow step(s) was recorded by its try",
        )
    )

    for rule in policy.required:
        found = [e for e in upstream if _matches(e, rule)]
        fresh = [e for e in found if _recent(e, policy.max_age, now)]
        if not found:
            outcomes.append(
                RuleOutcome(f"requires {rule.describe()}", False, f"no such ancestor{unseen}")
            )
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
        if hits:
            detail, ok = f"found {len(hits)} forbidden ancestor(s)", False
        elif not result.cut_off:
            detail, ok = "none found in the whole upstream lineage", True
        elif cut.passed:  # the policy accepts a bounded walk: say what was not seen
            detail, ok = f"none found{unseen}; lineage beyond them was not checked", True
        else:
            detail, ok = f"cannot tell: none found{unseen}, and the walk was cut off", False
        outcomes.append(RuleOutcome(f"forbids {rule.describe()}", ok, detail, tuple(hits)))

    if policy.require_signed:
        outcomes.append(_signed(store, by_arn, edges, trusted_keys))

    digests = _Digests()
    if policy.verify_digests:
        artifacts = [e for e in [model, *upstream] if isinstance(e, Artifact)]
        digests = _verify_digests(artifacts, policy)
        exempt = (
            f"; {len(digests.exempted)} exempted by unverified_ok: {', '.join(digests.exempted)}"
            if digests.exempted
            else ""
        )
        outcomes.append(
            RuleOutcome(
                "every artifact has a content digest",
                not digests.missing,
                f"no content digest to verify (add one, or exempt it with unverified_ok): "
                f"{'; '.join(digests.missing)}{exempt}"
                if digests.missing
                else f"{len(artifacts) - len(digests.exempted)} artifact(s) carry a digest{exempt}",
            )
        )
        outcomes.append(
            RuleOutcome(
                "content digests verified",
                not digests.bad,
                "; ".join(digests.bad)
                if digests.bad
                else f"{digests.checked} digest(s) of {digests.verified} artifact(s) "
                "recomputed and matching",
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
        digests.checked,
        json.loads(json.dumps(summary)),
        artifacts_verified=digests.verified,
        artifacts_exempted=len(digests.exempted),
        artifacts_unverifiable=len(digests.missing),
        **cut_flags,
    )


def _signed(
    store: LineageStore,
    walked: Mapping[str, Entity],
    edges: Sequence[Association],
    trusted_keys: Sequence[PublicKey] | None,
) -> RuleOutcome:
    """Check the signed provenance of every step on the walked lineage."""
    from airflow_lineage.exceptions import AttestationError
    from airflow_lineage.provenance.chain import check_chain
    from airflow_lineage.provenance.keys import trusted_keys as configured

    name = "signed provenance verified"
    if not store.keeps_attestations:
        return RuleOutcome(name, False, f"{type(store).__name__} keeps no signed provenance")
    try:
        keys = configured() if trusted_keys is None else tuple(trusted_keys)
    except AttestationError as e:
        return RuleOutcome(name, False, f"the trusted keys cannot be read: {e}")
    actions = [a for a, e in walked.items() if isinstance(e, Action)]
    found = check_chain(walked, edges, store.attestations(actions), keys)
    if not found.passed:
        return RuleOutcome(name, False, "; ".join(found.problems), found.failed)
    signers = ", ".join(k[:16] for k in found.signers) or "no step to sign"
    return RuleOutcome(name, True, f"{found.steps} step(s) signed by trusted key(s) {signers}")


# -- which artifact is the model -----------------------------------------------------------


def _listing(artifacts: Sequence[Entity]) -> str:
    return "; ".join(
        f"{a.type} {a.arn} created {a.created.isoformat()}"
        for a in sorted(artifacts, key=lambda a: (a.created, a.arn))
    )


def find_model(
    store: LineageStore,
    source_uri: str,
    *,
    model_types: Collection[str] = MODEL_TYPES,
    among: Collection[str] | None = None,
) -> str:
    """Return the ARN of the one artifact of a model type with this source URI.

    :param among: when given, only these ARNs are candidates (e.g. what one task run
        produced).
    :raises EntityNotFoundError: no artifact of a model type has the URI (artifacts of
        other types with it are named).
    :raises ValueError: several do; they are listed, and the ARN picks one.
    """
    if not isinstance(source_uri, str) or not source_uri:
        raise ValueError("the model's source URI must be a non-empty string")
    found = store.list_entities("Artifact", source_uri=source_uri).items
    models = [a for a in found if a.type in model_types]
    if among is not None:
        others = [a for a in models if a.arn not in among]
        models = [a for a in models if a.arn in among]
        if others and not models:
            raise EntityNotFoundError(
                f"no artifact of a model type with the source URI {source_uri!r} was produced "
                f"by the task run; other runs recorded: {_listing(others)}"
            )
    if not models:
        others = [a for a in found if a.type not in model_types]
        hint = f"; it has artifacts of other types: {_listing(others)}" if others else ""
        raise EntityNotFoundError(
            f"no artifact of a model type ({', '.join(model_types)}) has the source URI "
            f"{source_uri!r}{hint}"
        )
    if len(models) > 1:
        raise ValueError(
            f"{len(models)} artifacts of a model type have the source URI {source_uri!r} "
            f"(versions with other content, or other model types): {_listing(models)}. "
            "Name the model by its ARN."
        )
    return models[0].arn


def model_of_task_run(
    store: LineageStore,
    dag_id: str,
    run_id: str,
    task_id: str,
    map_index: int = -1,
    *,
    model_types: Collection[str] = MODEL_TYPES,
) -> list[str]:
    """Return the ARNs of the artifacts of a model type that a task run produced.

    The run's actions are found through its DAG-run context; the newest Completed try
    (highest ``airflow:try_number``) is the one that counts. An empty list when the run
    recorded no Completed try or it produced no model.
    """
    from airflow_lineage.capture.record import TaskRun  # the one definition of the names

    name = TaskRun(dag_id, task_id, run_id, map_index).run_context_name
    contexts = store.list_entities("Context", name=name).items
    if not contexts:
        return []
    linked = [
        a.source_arn
        for ctx in contexts
        for a in store.list_associations(
            destination_arn=ctx.arn, association_type=AssociationType.ASSOCIATED_WITH
        ).items
    ]
    want = {"airflow:dag_id": dag_id, "airflow:run_id": run_id, "airflow:task_id": task_id}
    tries = []
    for entity in store.get_many(linked).values():
        # Only this account's own steps: a shared account's run of the same ids is not it.
        if not isinstance(entity, Action) or Arn.parse(entity.arn).account != store.account:
            continue
        props = entity.properties
        if any(props.get(k) != v for k, v in want.items()):
            continue
        if int(props.get("airflow:map_index", "-1")) != map_index:
            continue
        try_number = props.get("airflow:try_number", "0")
        tries.append((int(try_number) if try_number.isdigit() else 0, entity.created, entity))
    if not tries:
        return []
    newest = max(tries, key=lambda t: (t[0], t[1]))[2]
    if newest.status is not ActionStatus.COMPLETED:  # the latest try did not produce it
        return []
    produced = [
        a.destination_arn
        for a in store.list_associations(
            source_arn=newest.arn, association_type=AssociationType.PRODUCED
        ).items
    ]
    outputs = store.get_many(produced)
    return sorted(
        arn for arn, e in outputs.items() if isinstance(e, Artifact) and e.type in model_types
    )
