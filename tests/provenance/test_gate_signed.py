"""``require_signed``: honest lineage passes; each kind of tampering is a rejection that
names the step, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from airflow_lineage import connect
from airflow_lineage.gate import Verdict, evaluate
from airflow_lineage.model import Artifact
from airflow_lineage.policy import Policy
from airflow_lineage.provenance import dsse
from airflow_lineage.provenance.attestation import Attestation
from airflow_lineage.provenance.keys import SigningKey
from airflow_lineage.store.base import LineageStore
from airflow_lineage.store.sql import normalize_url
from tests.provenance.conftest import FEATURES, honest_pipeline, sha

POLICY = Policy.from_dict(
    {
        "required": [{"lineage_type": "Action", "type": "Training"}],
        "verify_digests": False,
        "require_signed": True,
    }
)
RULE = "signed provenance verified"


@pytest.fixture
def store(store_url: str) -> Iterator[LineageStore]:
    with connect(store_url) as s:
        yield s


def _raw(url: str, sql: str, **params: object) -> None:
    """Change the database behind the library's back (a writer with database access)."""
    engine = sa.create_engine(normalize_url(url))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql), params)
    finally:
        engine.dispose()


def _signed(verdict: Verdict) -> tuple[bool, str, tuple[str, ...]]:
    (outcome,) = [o for o in verdict.outcomes if o.rule == RULE]
    return outcome.passed, outcome.detail, outcome.evidence


def test_honest_lineage_passes(store: LineageStore) -> None:
    arns = honest_pipeline(store)
    verdict = evaluate(store, arns["model"], POLICY)
    ok, detail, _ = _signed(verdict)
    assert ok, detail
    assert verdict.passed, verdict.reasons
    assert detail.startswith("2 step(s) signed by trusted key(s)")


def test_off_by_default_and_reported(store: LineageStore) -> None:
    arns = honest_pipeline(store)
    unsigned = Policy.from_dict({**POLICY_DICT, "require_signed": False})
    assert not [o for o in evaluate(store, arns["model"], unsigned).outcomes if o.rule == RULE]


POLICY_DICT = {"required": [{"lineage_type": "Action", "type": "Training"}],
               "verify_digests": False}  # fmt: skip


def _poison(store: LineageStore, target: str) -> tuple[dict[str, str], str]:
    """Record honest lineage, then add an edge from a new data set to ``target``."""
    arns = honest_pipeline(store)
    poison = store.create_artifact("file:///data/poison.csv", "DataSet")
    store.add_association(poison.arn, arns[target], "ContributedTo")
    return arns, poison.arn


def test_edge_added_in_the_database_is_rejected(store: LineageStore) -> None:
    arns, poison = _poison(store, "train")
    ok, detail, failed = _signed(evaluate(store, arns["model"], POLICY))
    assert not ok
    assert f"step pipe.train try 1 ({arns['train']})" in detail
    assert f"input {poison} is in the graph but not in the signed dependencies" in detail
    assert arns["train"] in failed


def test_digest_rewritten_with_the_artifact_arn_is_rejected(
    store: LineageStore, store_url: str
) -> None:
    arns = honest_pipeline(store)
    swapped = (sha("poisoned features"),)
    new_arn = Artifact.new(FEATURES.uri, FEATURES.artifact_type, source_types=swapped).arn
    source = json.dumps([[st.id_type.value, st.value] for st in swapped])
    _raw(
        store_url,
        "UPDATE lineage_entities SET arn = :new, source = :source WHERE arn = :old",
        new=new_arn, source=source, old=arns["features"],
    )  # fmt: skip
    ok, detail, failed = _signed(evaluate(store, arns["model"], POLICY))
    assert not ok
    assert f"step pipe.train try 1 ({arns['train']})" in detail
    assert f"signed input {arns['features']} is not in the graph" in detail
    assert f"input {new_arn} is in the graph but not in the signed dependencies" in detail
    assert f"step pipe.prepare try 1 ({arns['prepare']})" in detail
    assert {arns["train"], arns["prepare"]} <= set(failed)


def test_property_of_an_action_changed_is_rejected(store: LineageStore) -> None:
    arns = honest_pipeline(store)
    store.update(arns["train"], properties={"param:max_depth": "30"})
    ok, detail, failed = _signed(evaluate(store, arns["model"], POLICY))
    assert not ok
    assert f"step pipe.train try 1 ({arns['train']}): the stored action differs" in detail
    assert "properties.param:max_depth" in detail
    assert failed == (arns["train"],)


def test_envelope_signed_by_an_untrusted_key_is_rejected(store: LineageStore) -> None:
    arns = honest_pipeline(store)
    honest = store.attestations([arns["train"]])[arns["train"]]
    payload = dsse.Envelope.from_json(honest.envelope).payload
    forged = dsse.sign(payload, SigningKey.generate())
    store.write(attestations=[Attestation(arns["train"], forged.to_json(), honest.modified)])
    ok, detail, failed = _signed(evaluate(store, arns["model"], POLICY))
    assert not ok
    assert f"step pipe.train try 1 ({arns['train']}): signed by an untrusted key" in detail
    assert failed == (arns["train"],)


def test_changed_payload_under_a_trusted_signature_is_rejected(store: LineageStore) -> None:
    arns = honest_pipeline(store)
    honest = store.attestations([arns["train"]])[arns["train"]]
    envelope = json.loads(honest.envelope)
    envelope["payload"] = dsse.Envelope(b"{}", dsse.IN_TOTO_PAYLOAD_TYPE, ()).to_dict()["payload"]
    store.write(attestations=[Attestation(arns["train"], json.dumps(envelope), honest.modified)])
    ok, detail, _ = _signed(evaluate(store, arns["model"], POLICY))
    assert not ok
    assert "does not match the envelope" in detail


def test_truncated_chain_missing_envelope_is_rejected(store: LineageStore, store_url: str) -> None:
    arns = honest_pipeline(store)
    _raw(store_url, "DELETE FROM lineage_attestations WHERE arn = :a", a=arns["prepare"])
    ok, detail, failed = _signed(evaluate(store, arns["model"], POLICY))
    assert not ok
    assert (
        f"step pipe.prepare try 1 ({arns['prepare']}): no signed provenance (envelope missing)"
        in detail
    )
    assert failed == (arns["prepare"],)


def test_truncated_chain_cut_edge_is_rejected(store: LineageStore) -> None:
    arns = honest_pipeline(store)
    store.delete_association(arns["features"], arns["train"])
    verdict = evaluate(store, arns["model"], POLICY)
    ok, detail, _ = _signed(verdict)
    assert not ok
    assert f"step pipe.train try 1 ({arns['train']}): signed input {arns['features']}" in detail
    assert "(lineage truncated)" in detail


def test_unvouched_edge_between_artifacts_is_rejected(store: LineageStore) -> None:
    arns, poison = _poison(store, "model")
    ok, detail, _ = _signed(evaluate(store, arns["model"], POLICY))
    assert not ok
    assert f"edge {poison} -> {arns['model']}: no signed step vouches for it" in detail


def test_trusted_keys_exclude_our_own_key(store: LineageStore) -> None:
    arns = honest_pipeline(store)
    other = SigningKey.generate().public
    verdict = evaluate(store, arns["model"], POLICY, trusted_keys=[other])
    ok, detail, _ = _signed(verdict)
    assert not ok and "untrusted key" in detail
    assert not verdict.passed


def test_sagemaker_keeps_no_envelopes_and_a_signed_gate_rejects() -> None:
    from tests.store.test_sagemaker_contract import make_fake, make_store

    fake = make_fake()
    store = make_store(fake)
    arns = honest_pipeline(store)  # capture signs; SageMaker has nowhere to keep it
    assert not store.keeps_attestations
    assert store.attestations([arns["train"]]) == {}
    ok, detail, _ = _signed(evaluate(store, arns["model"], POLICY))
    assert not ok
    assert detail == "SageMakerStore keeps no signed provenance"


def test_a_step_removed_whole_is_caught_by_a_required_rule(
    store: LineageStore, store_url: str
) -> None:
    arns = honest_pipeline(store)
    store.delete(arns["prepare"], disassociate=True)
    _raw(store_url, "DELETE FROM lineage_attestations WHERE arn = :a", a=arns["prepare"])
    # The signatures left agree with the graph left: features now looks like source data.
    ok, _, _ = _signed(evaluate(store, arns["model"], POLICY))
    assert ok
    both = Policy.from_dict(
        {**POLICY_DICT, "required": [{"lineage_type": "Action", "type": "Processing"}],
         "require_signed": True}
    )  # fmt: skip
    verdict = evaluate(store, arns["model"], both)
    assert not verdict.passed
    assert "requires Action Processing: no such ancestor" in verdict.reasons
