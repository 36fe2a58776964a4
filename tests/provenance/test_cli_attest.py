"""``airflow-lineage attest`` and ``verify``: what a user sees, errors included."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from airflow_lineage import connect
from airflow_lineage.cli import main as cli
from airflow_lineage.provenance.keys import SigningKey
from tests.provenance.conftest import MODEL, honest_pipeline


def test_attest_then_verify(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with connect(store_url) as store:
        arns = honest_pipeline(store)
    bundle, pub = tmp_path / "chain.jsonl", tmp_path / "deploy.pub"
    code = cli(
        ["--store", store_url, "attest", MODEL.uri, "-o", str(bundle), "--public-key", str(pub)]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert f"wrote 2 step envelope(s) and the chain manifest of {arns['model']}" in out
    lines = bundle.read_text().splitlines()
    assert [json.loads(line)["payloadType"] for line in lines] == [
        "application/vnd.in-toto+json"
    ] * 3
    assert cli(["verify", str(bundle), "--key", str(pub)]) == 0
    assert capsys.readouterr().out.startswith(f"verified: 2 step(s) of {arns['model']}")
    # By ARN too; and a second trusted key changes nothing.
    other = tmp_path / "other.pub"
    other.write_text(SigningKey.generate().public.pem())
    assert cli(["--store", store_url, "attest", arns["model"], "-o", str(bundle)]) == 0
    assert cli(["verify", str(bundle), "--key", str(other), str(pub)]) == 0


def test_attest_refuses_a_chain_that_does_not_verify(
    store_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with connect(store_url) as store:
        arns = honest_pipeline(store)
        store.update(arns["prepare"], properties={"approved": "true"})
    bundle = tmp_path / "chain.jsonl"
    assert cli(["--store", store_url, "attest", MODEL.uri, "-o", str(bundle)]) == 3
    err = capsys.readouterr().err
    assert "not attested: the provenance chain does not verify in the store" in err
    assert f"step pipe.prepare try 1 ({arns['prepare']}): the stored action differs" in err
    assert not bundle.exists()


def test_verify_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pub = tmp_path / "k.pub"
    pub.write_text(SigningKey.generate().public.pem())
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert cli(["verify", str(empty), "--key", str(pub)]) == 3
    assert "holds 0 chain manifests" in capsys.readouterr().err
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("{not json\n")
    assert cli(["verify", str(garbage), "--key", str(pub)]) == 3
    assert "line 1: an envelope is not valid JSON" in capsys.readouterr().err
    assert cli(["verify", str(empty), "--key", str(tmp_path / "absent.pub")]) == 1
    not_a_key = tmp_path / "bad.pub"
    not_a_key.write_text("hello")
    assert cli(["verify", str(empty), "--key", str(not_a_key)]) == 1
    assert "not an Ed25519 public key in PEM" in capsys.readouterr().err
    assert cli(["verify", str(empty)]) == 2  # --key is required


def test_verify_names_a_swapped_or_foreign_envelope(store_url: str, tmp_path: Path) -> None:
    from airflow_lineage.provenance import dsse, keys
    from airflow_lineage.provenance.bundle import collect, verify
    from airflow_lineage.provenance.statement import canonical
    from tests.provenance.conftest import FEATURES, run_step

    with connect(store_url) as store:
        arns = honest_pipeline(store)
        key = keys.deployment_key()
        lines = collect(store, arns["model"], key, [key.public])
        other = run_step(store, "other", (FEATURES,), (), minute=9)
        foreign = store.attestations([other])[other].envelope
    # The same step, re-signed by the trusted key with another parameter.
    train = next(
        i
        for i, line in enumerate(lines)
        if arns["train"] in dsse.Envelope.from_json(line).payload.decode()
    )
    statement = dsse.Envelope.from_json(lines[train]).json_payload()
    statement["predicate"]["buildDefinition"]["externalParameters"]["parameters"]["max_depth"] = "9"
    swapped = list(lines)
    swapped[train] = dsse.sign(canonical(statement), key).to_json()
    found = verify(swapped, [key.public])
    assert found.problems == (
        f"step {arns['train']}: its envelope is not the one the manifest lists",
    )
    found = verify([foreign, *lines], [key.public])
    assert found.problems == (
        f"step {other}: not part of the signed chain",
        f"step {other}: not connected to the model's chain",
    )
    assert verify(lines, [key.public]).passed


def test_lineage_moved_by_export_and_import_carries_no_envelopes(
    store_url: str, tmp_path: Path
) -> None:
    from airflow_lineage.gate import evaluate
    from tests.provenance.test_gate_signed import POLICY

    with connect(store_url) as store:
        arns = honest_pipeline(store)
    dump, copy = tmp_path / "lineage.jsonl", f"sqlite:///{tmp_path / 'copy.db'}"
    assert cli(["--store", store_url, "export", "-o", str(dump)]) == 0
    connect(copy, create=True).close()
    assert cli(["--store", copy, "import", str(dump)]) == 0
    with connect(copy) as moved:
        verdict = evaluate(moved, arns["model"], POLICY)
    assert not verdict.passed
    assert "no signed provenance (envelope missing)" in " ".join(verdict.reasons)


def test_verify_checks_that_each_step_read_what_its_producer_signed(store_url: str) -> None:
    from airflow_lineage.provenance import dsse, keys
    from airflow_lineage.provenance.bundle import collect, verify
    from airflow_lineage.provenance.statement import canonical

    with connect(store_url) as store:
        arns = honest_pipeline(store)
        key = keys.deployment_key()
        lines = collect(store, arns["model"], key, [key.public])
    # Even a holder of the key cannot splice in a step that read other data: re-sign
    # train's statement with another digest of its input, and a manifest listing it.
    statements = [dsse.Envelope.from_json(line).json_payload() for line in lines]
    train = next(i for i, s in enumerate(statements) if s["subject"][0]["name"] == arns["train"])
    deps = statements[train]["predicate"]["buildDefinition"]["resolvedDependencies"]
    deps[0]["digest"] = {"sha256": "0" * 64}
    lines[train] = dsse.sign(canonical(statements[train]), key).to_json()
    manifest = statements[-1]
    for step in manifest["predicate"]["steps"]:
        step["digest"]["sha256"] = hashlib.sha256(lines[train].encode()).hexdigest() if (
            step["name"] == arns["train"]) else step["digest"]["sha256"]  # fmt: skip
    lines[-1] = dsse.sign(canonical(manifest), key).to_json()
    found = verify(lines, [key.public])
    assert found.problems == (
        f"step {arns['train']}: input {arns['features']} differs from what its producer signed",
    )
