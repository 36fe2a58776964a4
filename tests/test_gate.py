"""The deployment gate against a corpus of adversarial lineage: each must be rejected
for the right reason, and the honest case must pass. Runs on every store backend."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import (
    Action,
    Artifact,
    Association,
    LineageStore,
    connect,
)
from airflow_lineage.gate import evaluate
from airflow_lineage.model import utcnow
from airflow_lineage.policy import Policy
from airflow_lineage.verify import digest_local

TRUSTED = "000000000000"
OTHER = "111111111111"

POLICY = Policy.from_yaml(
    """
required:
  - {type: DataSet, properties: {approved: true}}
  - {lineage_type: Action, type: Training, status: Completed}
  - {lineage_type: Action, type: Approval, status: Completed, name: a human review}
metrics:
  - {step_type: Evaluation, metric: accuracy, min: 0.9}
forbidden:
  - {type: DataSet, properties: {pii: true}}
max_age: P7D
verify_digests: true
"""
)


@dataclass
class Pipeline:
    """An honest pipeline's lineage and the files behind it."""

    store: LineageStore
    dir: Path
    arn: dict[str, str]

    @property
    def model(self) -> str:
        return self.arn["registered"]


def build(
    store: LineageStore,
    folder: Path,
    *,
    training_status: str = "Completed",
    accuracy: str = "0.95",
    evaluation_age: timedelta = timedelta(0),
    with_training: bool = True,
    with_review: bool = True,
) -> Pipeline:
    """Record raw → prep → features → train → model → evaluate → report; model, report,
    review → register → registered model (the model the gate checks)."""
    now = utcnow()
    files = {
        "raw": "a,b\n1,2\n",
        "features": "0.1,0.2\n",
        "model": "weights",
        "report": '{"accuracy": 0.95}',
        "registered": "weights",
    }
    paths = {}
    for name, text in files.items():
        paths[name] = folder / f"{name}.dat"
        paths[name].write_text(text)

    def artifact(name: str, kind: str, **props: str) -> Artifact:
        uri = paths[name].as_uri()
        return Artifact.new(
            uri, kind, source_types=digest_local(uri), properties=props, created=now
        )

    a = {
        "raw": artifact("raw", "DataSet", approved="true"),
        "features": artifact("features", "DataSet"),
        "model": artifact("model", "Model"),
        "report": artifact("report", "Report"),
        "registered": artifact("registered", "Model"),
        "prep": Action.new("prep", "DataPreparation", "u", status="Completed", created=now),
        "train": Action.new("train", "Training", "u", status=training_status, created=now),
        "evaluate": Action.new(
            "evaluate",
            "Evaluation",
            "u",
            status="Completed",
            properties={"metric:accuracy": accuracy},
            created=now - evaluation_age,
        ),
        "review": Action.new("review", "Approval", "u", status="Completed", created=now),
        "register": Action.new("register", "Registration", "u", status="Completed", created=now),
    }
    edges = [
        ("raw", "prep"),
        ("prep", "features"),
        ("model", "evaluate"),
        ("evaluate", "report"),
        ("model", "register"),
        ("report", "register"),
        ("register", "registered"),
    ]
    if with_training:
        edges += [("features", "train"), ("train", "model")]
    else:
        edges += [("prep", "model")]
    if with_review:
        edges += [("review", "register")]
    if not with_review:
        del a["review"]
    kinds = {"Artifact": "ContributedTo", "Action": "Produced"}
    assocs = [Association(a[s].arn, a[d].arn, kinds[a[s].lineage_type.value]) for s, d in edges]
    store.write(list(a.values()), assocs)
    return Pipeline(store, folder, {k: v.arn for k, v in a.items()})


def failed_rules(verdict: Any) -> set[str]:
    return {o.rule for o in verdict.outcomes if not o.passed}


def local(folder: Path, name: str, text: str = "x\n") -> tuple[str, Any]:
    """Write a file; return its URI and its digests (as capture records them)."""
    path = folder / name
    path.write_text(text)
    return path.as_uri(), digest_local(path.as_uri())


def test_the_honest_pipeline_passes(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path)
    verdict = evaluate(store, p.model, POLICY)
    assert verdict.passed, verdict.reasons
    assert verdict.digests_checked == 5
    assert "PASSED" in verdict.to_markdown()
    assert verdict.to_json()["verdict"] == "passed"


def test_no_lineage_at_all_is_rejected(store: LineageStore, tmp_path: Path) -> None:
    lonely = store.create_artifact((tmp_path / "m.pkl").as_uri(), "Model")
    verdict = evaluate(store, lonely.arn, POLICY)
    assert not verdict.passed
    assert failed_rules(verdict) == {"lineage recorded"}
    unknown = lonely.arn[:-4] + "0000"
    assert failed_rules(evaluate(store, unknown, POLICY)) == {"lineage recorded"}


def test_data_changed_after_training_is_rejected(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path)
    (tmp_path / "features.dat").write_text("0.1,0.2\n9,9\n")  # tampered after training
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"content digests verified"}
    assert "features.dat changed" in " ".join(verdict.reasons)


def test_unreadable_data_is_rejected(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path)
    (tmp_path / "raw.dat").unlink()
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"content digests verified"}
    assert "no longer exists" in " ".join(verdict.reasons)


def test_a_data_set_from_an_untrusted_account_is_rejected(
    store: LineageStore, tmp_path: Path
) -> None:
    p = build(store, tmp_path)
    # The other team's data set, shared with us: we see it and may link it in.
    with connect(store.url, account=OTHER) as other:  # type: ignore[attr-defined]
        uri, digests = local(tmp_path, "other-team.csv")
        foreign = other.create_artifact(uri, "DataSet", source_types=digests)
        other.share(store.account)
    store.accept(OTHER)
    store.write(associations=[Association(foreign.arn, p.arn["prep"], "ContributedTo")])
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"trusted accounts only"}
    assert foreign.arn in " ".join(verdict.reasons)


def test_an_edge_forged_by_another_account_is_rejected(store_url: str, tmp_path: Path) -> None:
    with connect(store_url) as store:
        p = build(store, tmp_path)
        # A data set of our own, that was never used, linked in by someone else.
        uri, digests = local(tmp_path, "unvetted.csv")
        unused = store.create_artifact(uri, "DataSet", source_types=digests)
        store.share(OTHER)  # a team we share with may associate our entities
    with connect(store_url, account=OTHER) as forger:
        forger.accept(store.account)
        forger.add_association(unused.arn, p.arn["train"], "ContributedTo")
    with connect(store_url) as store:
        verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"edges added by trusted accounts only"}
    assert f"added by {OTHER}" in " ".join(verdict.reasons)


def test_failed_training_is_rejected(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path, training_status="Failed")
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"requires Action Training with status Completed"}


def test_missing_training_is_rejected(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path, with_training=False)
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"requires Action Training with status Completed"}


def test_evaluation_below_threshold_is_rejected(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path, accuracy="0.81")
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"Evaluation metric accuracy >= 0.9"}
    assert "accuracy=0.81 is outside the bound" in " ".join(verdict.reasons)


def test_stale_evaluation_is_rejected(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path, evaluation_age=timedelta(days=30))
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"Evaluation metric accuracy >= 0.9"}
    assert "stale" in " ".join(verdict.reasons)


def test_a_forbidden_ancestor_is_rejected(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path)
    uri, digests = local(tmp_path, "customers.csv")
    pii = Artifact.new(uri, "DataSet", source_types=digests, properties={"pii": "true"})
    store.write([pii], [Association(pii.arn, p.arn["prep"], "ContributedTo")])
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"forbids DataSet with pii=true"}


def test_an_approval_forged_by_another_account_is_rejected(store_url: str, tmp_path: Path) -> None:
    with connect(store_url) as store:
        p = build(store, tmp_path, with_review=False)
        store.share(OTHER)
    with connect(store_url, account=OTHER) as forger:
        forger.accept(store.account)
        fake = forger.create_action("review", "Approval", "u", status="Completed")
        forger.add_association(fake.arn, p.arn["register"], "ContributedTo")
        forger.share(store.account)
    with connect(store_url) as store:
        # Unless we accept the other account's lineage, its approval is invisible to us,
        # and the gate says that lineage was hidden rather than judge what it saw.
        hidden = evaluate(store, p.model, POLICY)
        assert failed_rules(hidden) == {
            "requires a human review",
            "lineage not cut off",
            "forbids DataSet with pii=true",
        }
        assert "lineage hidden by account visibility" in " ".join(hidden.reasons)
        assert fake.arn not in json.dumps(hidden.to_json())
        store.accept(OTHER)
        verdict = evaluate(store, p.model, POLICY)
    assert not verdict.passed
    assert {"trusted accounts only", "edges added by trusted accounts only"} <= failed_rules(
        verdict
    )
    # Without the forged approval the requirement would not be met either.
    assert fake.arn.split(":")[4] == OTHER


def test_a_cycle_is_rejected(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path)
    store.add_association(p.arn["features"], p.arn["prep"], "DerivedFrom")
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"no cycles"}


def test_every_rule_is_explained(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path)
    report = evaluate(store, p.model, POLICY).to_json()
    rules = [r["rule"] for r in report["rules"]]
    assert rules == [
        "the model is a model artifact",
        "lineage recorded",
        "lineage not cut off",
        "trusted accounts only",
        "edges added by trusted accounts only",
        "no cycles",
        "inputs recorded by the step's own try",
        "requires DataSet with approved=true",
        "requires Action Training with status Completed",
        "requires a human review",
        "Evaluation metric accuracy >= 0.9",
        "forbids DataSet with pii=true",
        "every artifact has a content digest",
        "content digests verified",
    ]
    assert all(r["detail"] for r in report["rules"])


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ({"required": [{}]}, "at least one of"),
        ({"required": [{"type": "DataSet", "colour": "red"}]}, "unknown field"),
        ({"metrics": [{"step_type": "Evaluation", "metric": "accuracy"}]}, "needs min or max"),
        ({"max_age": "thirty days"}, "ISO-8601"),
        ({"trusted_accounts": ["123"]}, "12 digits"),
        ({"max_depth": 0}, "between 1 and 1000"),
        ({"shiny": True}, "unknown field"),
        ({"required": [{"lineage_type": "Model"}]}, "lineage_type must be one of"),
    ],
)
def test_bad_policies_name_what_is_wrong(policy: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        Policy.from_dict(policy)
