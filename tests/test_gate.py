"""The deployment gate against a corpus of adversarial lineage: each must be rejected
for the right reason, and the honest case must pass. Runs on every store backend."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
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
from airflow_lineage.exceptions import EntityNotFoundError
from airflow_lineage.gate import evaluate, find_model
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
        "train": Action.new(
            "train",
            "Training",
            "u",
            status=training_status,
            created=now,
            # An Airflow task's try, as capture records it.
            properties={
                "airflow:dag_id": "ml",
                "airflow:task_id": "train",
                "airflow:run_id": "manual__1",
                "airflow:try_number": "2",
            },
        ),
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
        "every ancestor readable",
        "lineage not cut off",
        "every walked edge readable",
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


# -- fail closed on what cannot be verified --------------------------------------------------


def test_an_artifact_without_a_digest_is_rejected_by_name(
    store: LineageStore, tmp_path: Path
) -> None:
    p = build(store, tmp_path)
    image = Artifact.new("123456789012.dkr.ecr.us-east-1.amazonaws.com/train:1", "Image")
    notes = Artifact.new("https://wiki.example.com/dataset-notes", "DataSet")
    store.write(
        [image, notes],
        [
            Association(image.arn, p.arn["train"], "ContributedTo"),
            Association(notes.arn, p.arn["prep"], "ContributedTo"),
        ],
    )
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"every artifact has a content digest"}
    reasons = " ".join(verdict.reasons)
    assert image.arn in reasons and notes.arn in reasons
    assert verdict.artifacts_unverifiable == 2
    assert verdict.to_json()["artifacts"] == {"verified": 5, "exempted": 0, "unverifiable": 2}

    # Exempted explicitly, by type and by URI scheme, they pass and are counted as such.
    lenient = replace(
        POLICY,
        unverified_ok=(
            {"type": "Image", "reason": "pinned by tag"},
            {"uri_scheme": "https"},
        ),
    )
    verdict = evaluate(store, p.model, lenient)
    assert verdict.passed, verdict.reasons
    assert (verdict.artifacts_verified, verdict.artifacts_exempted) == (5, 2)
    assert verdict.artifacts_unverifiable == 0
    assert "5 verified, 2 exempted, 0 unverifiable" in verdict.to_markdown()
    # An exemption by type does not cover other types.
    only_images = replace(POLICY, unverified_ok=({"type": "Image"},))
    verdict = evaluate(store, p.model, only_images)
    assert failed_rules(verdict) == {"every artifact has a content digest"}
    assert notes.arn in " ".join(verdict.reasons)
    assert image.arn not in " ".join(verdict.reasons)


def test_the_model_itself_needs_a_digest(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path)
    bare = Artifact.new((tmp_path / "bare.pkl").as_uri(), "Model")  # no digest recorded
    store.write([bare], [Association(p.arn["register"], bare.arn, "Produced")])
    verdict = evaluate(store, bare.arn, POLICY)
    assert failed_rules(verdict) == {"every artifact has a content digest"}
    assert bare.arn in " ".join(verdict.reasons)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "verify_digests: true\n",
        "trusted_accounts: ['000000000000']\nmax_age: P1D\n",
        "required: []\nmetrics: []\nforbidden: []\n",
    ],
)
def test_a_policy_without_a_rule_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="at least one rule"):
        Policy.from_yaml(text)


def test_a_forbidden_ancestor_past_the_depth_limit_is_not_none_found(
    store: LineageStore, tmp_path: Path
) -> None:
    p = build(store, tmp_path)
    uri, digests = local(tmp_path, "customers.csv")
    pii = Artifact.new(uri, "DataSet", source_types=digests, properties={"pii": "true"})
    store.write([pii], [Association(pii.arn, p.arn["prep"], "ContributedTo")])
    # registered <- register <- model <- train <- features <- prep <- pii: 6 levels up.
    shallow = replace(
        POLICY,
        required=({"lineage_type": "Action", "type": "Training", "status": "Completed"},),
        max_depth=5,
    )
    verdict = evaluate(store, p.model, shallow)
    assert failed_rules(verdict) == {"lineage not cut off", "forbids DataSet with pii=true"}
    assert "lineage cut off at depth 5" in " ".join(verdict.reasons)
    forbid = next(o for o in verdict.outcomes if o.rule.startswith("forbids"))
    assert not forbid.detail.startswith("none found")
    assert verdict.depth_cut_off and verdict.to_json()["cut_off"]["depth"]
    # Deep enough, the forbidden ancestor is found.
    assert failed_rules(evaluate(store, p.model, replace(shallow, max_depth=6))) == {
        "forbids DataSet with pii=true"
    }
    # A policy may accept a bounded walk, explicitly; the report says what was not seen.
    bounded = evaluate(store, p.model, replace(shallow, allow_cut_off=("depth",)))
    assert bounded.passed, bounded.reasons
    forbid = next(o for o in bounded.outcomes if o.rule.startswith("forbids"))
    assert "not checked" in forbid.detail


def test_lineage_hidden_by_account_visibility_is_rejected(store_url: str, tmp_path: Path) -> None:
    with connect(store_url) as store:
        p = build(store, tmp_path)
        store.share(OTHER)  # the other team may link its lineage into ours
    with connect(store_url, account=OTHER) as other:
        other.accept(TRUSTED)
        uri, digests = local(tmp_path, "their-scrape.csv")
        theirs = other.create_artifact(
            uri, "DataSet", source_types=digests, properties={"pii": "true"}
        )
        other.add_association(theirs.arn, p.arn["prep"], "ContributedTo")
    with connect(store_url) as store:
        verdict = evaluate(store, p.model, POLICY)
        assert failed_rules(verdict) == {"lineage not cut off", "forbids DataSet with pii=true"}
        assert "lineage hidden by account visibility" in " ".join(verdict.reasons)
        assert theirs.arn not in json.dumps(verdict.to_json())  # never the hidden ARN
        assert verdict.visibility_cut_off and not verdict.depth_cut_off
        allowed = replace(POLICY, allow_cut_off=("visibility",))
        assert evaluate(store, p.model, allowed).passed


def test_a_subject_that_is_not_a_model_is_rejected(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path)
    verdict = evaluate(store, p.arn["features"], POLICY)
    assert "the model is a model artifact" in failed_rules(verdict)
    assert "not an artifact of a model type (Model, ModelPackage)" in " ".join(verdict.reasons)


def test_the_model_is_found_by_uri_among_model_types_only(
    store: LineageStore, tmp_path: Path
) -> None:
    p = build(store, tmp_path)
    uri = (tmp_path / "registered.dat").as_uri()
    # A newer artifact of another type at the same URI is not the model.
    store.create_artifact(uri, "Report")
    assert find_model(store, uri) == p.model
    features = (tmp_path / "features.dat").as_uri()
    with pytest.raises(EntityNotFoundError, match="no artifact of a model type") as e:
        find_model(store, features)
    assert p.arn["features"] in str(e.value)  # the artifacts it has are named
    # Several candidates (another version of the file, another model type) are an
    # explained error listing them, not the newest.
    store.create_artifact(uri, "ModelPackage")
    with pytest.raises(ValueError, match="2 artifacts of a model type") as e:
        find_model(store, uri)
    assert p.model in str(e.value) and "ModelPackage" in str(e.value)
    assert "by its ARN" in str(e.value)


def test_a_stale_tries_input_is_rejected(store: LineageStore, tmp_path: Path) -> None:
    p = build(store, tmp_path)
    assert evaluate(store, p.model, POLICY).passed
    # An input edge older than the try that holds it: an earlier try's input, carried
    # over into the try that produced the model.
    uri, digests = local(tmp_path, "bad-features.csv")
    bad = Artifact.new(uri, "DataSet", source_types=digests)
    train = store.get(p.arn["train"])
    earlier = train.created - timedelta(minutes=5)
    store.write([bad], [Association(bad.arn, p.arn["train"], "ContributedTo", earlier)])
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"inputs recorded by the step's own try"}
    reasons = " ".join(verdict.reasons)
    assert "ml.train try 2" in reasons and uri in reasons


@pytest.fixture
def s3() -> Any:
    """Yield a moto-backed S3 client (the gate reads S3 through the amazon provider)."""
    pytest.importorskip("airflow.providers.amazon")
    moto = pytest.importorskip("moto")
    import boto3

    with moto.mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="training-data")
        client.put_bucket_versioning(
            Bucket="training-data", VersioningConfiguration={"Status": "Enabled"}
        )
        yield client
    from airflow_lineage import verify

    verify._s3_clients.clear()  # clients made under this mock end with it


def test_an_s3_input_whose_etag_changed_is_rejected(
    store: LineageStore, tmp_path: Path, s3: Any
) -> None:
    p = build(store, tmp_path)
    put = s3.put_object(Bucket="training-data", Key="raw/labels.csv", Body=b"a,b\n1,0\n")
    labels = Artifact.new(
        "s3://training-data/raw/labels.csv",
        "DataSet",
        source_types=(("S3ETag", put["ETag"].strip('"')), ("S3Version", put["VersionId"])),
    )
    store.write([labels], [Association(labels.arn, p.arn["prep"], "ContributedTo")])
    honest = evaluate(store, p.model, POLICY)
    assert honest.passed, honest.reasons
    assert honest.artifacts_verified == 6 and honest.digests_checked == 7

    s3.put_object(Bucket="training-data", Key="raw/labels.csv", Body=b"a,b\n1,1\n")
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"content digests verified"}
    reasons = " ".join(verdict.reasons)
    assert "s3://training-data/raw/labels.csv changed: recorded S3ETag" in reasons
    assert "S3Version" in reasons


EXAMPLE_POLICIES = Path(__file__).resolve().parents[1] / "dags" / "policies"


def test_the_example_policies_load_and_exempt_only_what_has_no_content() -> None:
    local_policy = Policy.from_yaml(EXAMPLE_POLICIES / "ml_pipeline_local.yaml")
    assert local_policy.verify_digests and not local_policy.unverified_ok
    assert not local_policy.allow_cut_off
    sm = Policy.from_yaml(EXAMPLE_POLICIES / "ml_pipeline_sagemaker.yaml")
    assert sm.verify_digests and not sm.allow_cut_off
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn-iris:1.0"
    assert sm.exemption("Image", ecr) is not None
    model = "arn:aws:sagemaker:us-east-1:123456789012:model/iris-model-1"
    assert sm.exemption("Model", model) is not None
    # Data is never exempted: S3 objects need their ETag, local files their sha256.
    assert sm.exemption("Model", "s3://airflow-lineage-iris/iris/models/m/model.tar.gz") is None
    assert sm.exemption("DataSet", "s3://airflow-lineage-iris/iris/raw/iris.csv") is None
    assert sm.exemption("DataSet", "arn:aws:sagemaker:us-east-1:123456789012:model/x") is None


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"reason": "trust me"}, "at least one of type, uri_scheme or uri_prefix"),
        ({"uri_scheme": "s3 bucket"}, "is not a URI scheme"),
        ({"type": "Image", "why": "x"}, "unknown field"),
        ({"type": ""}, "non-empty string"),
    ],
)
def test_bad_exemptions_name_what_is_wrong(entry: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        Policy.from_dict({"required": [{"type": "DataSet"}], "unverified_ok": [entry]})


def test_exemptions_and_cut_off_allowances_are_validated() -> None:
    rule = {"required": [{"type": "DataSet"}]}
    with pytest.raises(ValueError, match="verify_digests, which is off"):
        Policy.from_dict({**rule, "verify_digests": False, "unverified_ok": [{"type": "Image"}]})
    with pytest.raises(ValueError, match="allow_cut_off 'everything' is not one of depth"):
        Policy.from_dict({**rule, "allow_cut_off": ["everything"]})
    with pytest.raises(TypeError, match="must be a list"):
        Policy.from_dict({**rule, "allow_cut_off": "depth"})
    scheme = Policy.from_dict({**rule, "unverified_ok": [{"uri_scheme": "HTTPS://"}]})
    assert scheme.exemption("DataSet", "https://example.com/x.csv") is not None
    assert scheme.exemption("DataSet", "http://example.com/x.csv") is None


def test_a_declared_model_is_the_version_its_task_run_produced(
    store: LineageStore, tmp_path: Path
) -> None:
    uri, digests = local(tmp_path, "model.pkl", "v1")
    first = store.create_artifact(uri, "Model", source_types=digests)
    uri, digests = local(tmp_path, "model.pkl", "v2")  # the same path, rewritten by a rerun
    second = store.create_artifact(uri, "Model", source_types=digests)
    with pytest.raises(ValueError, match="2 artifacts of a model type"):
        find_model(store, uri)
    assert find_model(store, uri, among={second.arn}) == second.arn
    elsewhere = {"arn:aws:sagemaker:local:000000000000:artifact/" + "0" * 32}
    with pytest.raises(EntityNotFoundError, match="by the task run; other runs recorded") as e:
        find_model(store, uri, among=elsewhere)
    assert first.arn in str(e.value) and second.arn in str(e.value)


def test_a_store_that_cannot_see_hidden_lineage_is_rejected_unless_allowed(
    tmp_path: Path,
) -> None:
    """SageMaker's QueryLineage returns only what the caller may see: a gate there cannot
    tell whether account visibility hid an ancestor, so it says so and rejects, unless
    the policy accepts that explicitly."""
    from tests.store.test_sagemaker_contract import make_fake, make_store

    store = make_store(make_fake(throttle_every=0))
    assert not store.detects_hidden_lineage
    p = build(store, tmp_path)
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"lineage not cut off"}
    assert "cannot tell whether account visibility hides ancestors" in verdict.reasons[0]
    allowed = replace(POLICY, allow_cut_off=("visibility",))
    assert evaluate(store, p.model, allowed).passed


def test_writing_an_old_step_again_does_not_make_it_fresh(
    store: LineageStore, tmp_path: Path
) -> None:
    """``max_age`` judges when a step ran (created), not when its record last changed."""
    p = build(store, tmp_path, evaluation_age=timedelta(days=30))
    store.update(p.arn["evaluate"], properties={"note": "touched"})  # modified: now
    verdict = evaluate(store, p.model, POLICY)
    assert failed_rules(verdict) == {"Evaluation metric accuracy >= 0.9"}


@pytest.mark.parametrize(
    ("uri", "exempt"),
    [
        ("s3://public-ref/train.csv", True),
        ("s3://public-ref", True),
        ("s3://public-ref-private/train.csv", False),  # another bucket, same letters
        ("s3://public-ref/../secret/pii.csv", False),  # no way out with ".."
        ("s3://public-ref/./x.csv", False),
    ],
)
def test_an_exemption_by_prefix_covers_whole_path_segments_only(uri: str, exempt: bool) -> None:
    from airflow_lineage.policy import DigestExemption

    rule = DigestExemption(uri_prefix="s3://public-ref", reason="reference data")
    assert rule.matches("DataSet", uri) is exempt
