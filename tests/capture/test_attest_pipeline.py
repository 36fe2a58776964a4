"""The example pipeline, run for real, is signed step by step: its model's chain passes a
gate that requires signatures, and ``attest`` then ``verify`` round-trips offline."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_lineage import connect
from airflow_lineage.cli import main as cli
from airflow_lineage.gate import evaluate
from airflow_lineage.policy import Policy
from airflow_lineage.provenance import dsse
from airflow_lineage.provenance.formats import format_problems, reference_library
from airflow_lineage.provenance.keys import SigningKey

from .conftest import REPO, reset_lineage_settings

pytestmark = pytest.mark.slow

DAG_FILE = REPO / "dags" / "ml_pipeline_local.py"


def test_example_pipeline_attest_verify_round_trip(
    lineage_home: Path,
    load_dag: Callable[..., Any],
    run_dag: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key_file = lineage_home / "keys" / "signing.pem"
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__SIGNING_KEY_FILE", str(key_file))
    reset_lineage_settings()
    from airflow_lineage.provenance import keys

    keys.deployment_key.cache_clear()
    keys.trusted_keys.cache_clear()
    dr = run_dag(load_dag(DAG_FILE, "ml_pipeline_local"))
    assert dr.state == "success"
    # Zero set-up: the key was generated on first use, readable by its owner only.
    assert key_file.stat().st_mode & 0o777 == 0o600
    # The private key is in no database: not the lineage store, not Airflow's (XCom, logs
    # of task instances, rendered fields).
    import os

    secret = "".join(key_file.read_text().splitlines()[1:-1]).encode()
    airflow_db = Path(os.environ["AIRFLOW_HOME"]) / "airflow.db"
    for database in (lineage_home / "lineage.db", airflow_db):
        assert database.exists() and secret not in database.read_bytes(), database

    url = f"sqlite:///{lineage_home / 'lineage.db'}"
    with connect(url) as store:
        (model,) = [
            m for m in store.list_entities("Artifact", type="Model").items
            if m.source_uri.endswith("/registry/iris/1/model.pkl")
        ]  # fmt: skip
        actions = [a.arn for a in store.list_entities("Action").items]
        signed = store.attestations(actions)
        # Every captured step, the gate's Approval included, has a signed envelope...
        assert set(signed) == set(actions) and len(actions) == 8
        # ...that holds no key material: only the public key's id.
        for a in signed.values():
            assert "PRIVATE" not in a.envelope
            statement = dsse.Envelope.from_json(a.envelope).json_payload()
            assert format_problems(statement) == []
        approval = next(a for a in store.list_entities("Action", type="Approval").items)
        statement = dsse.Envelope.from_json(signed[approval.arn].envelope).json_payload()
        assert {s["uri"].rsplit("/", 1)[-1] for s in statement["subject"][1:]} == {
            "gate.json", "gate.md"
        }  # fmt: skip
        example = Policy.from_yaml(REPO / "dags" / "policies" / "ml_pipeline_local.yaml")
        assert example.require_signed  # the demo's gate (this run's gate task) requires it
        policy = Policy.from_dict(
            {"required": [{"lineage_type": "Action", "type": "Training"}], "require_signed": True}
        )
        verdict = evaluate(store, model.arn, policy)
        assert verdict.passed, verdict.reasons
    assert reference_library()

    bundle, pub = lineage_home / "chain.jsonl", lineage_home / "deploy.pub"
    assert cli(["--store", url, "attest", model.source_uri, "-o", str(bundle),
                "--public-key", str(pub)]) == 0  # fmt: skip
    lines = bundle.read_text().splitlines()
    assert len(lines) == 7  # six steps upstream of the registered model, and the manifest
    assert cli(["verify", str(bundle), "--key", str(pub)]) == 0
    assert "verified: 6 step(s) of " + model.arn in capsys.readouterr().out

    # A truncated chain: one step's envelope left out.
    truncated = lineage_home / "truncated.jsonl"
    truncated.write_text("\n".join(lines[:2] + lines[3:]) + "\n")
    assert cli(["verify", str(truncated), "--key", str(pub)]) == 3
    step = dsse.Envelope.from_json(lines[2]).json_payload()["predicate"]["runDetails"]
    err = capsys.readouterr().err
    assert f"step {step['metadata']['invocationId']}: listed in the manifest but missing" in err

    # Another deployment's key is not ours.
    other = lineage_home / "other.pub"
    other.write_text(SigningKey.generate().public.pem())
    assert cli(["verify", str(bundle), "--key", str(other)]) == 3
    assert "signed by an untrusted key" in capsys.readouterr().err

    # A statement changed in the file no longer matches its signature.
    envelope = json.loads(lines[0])
    envelope["payload"] = dsse.Envelope(b"{}", dsse.IN_TOTO_PAYLOAD_TYPE, ()).to_dict()["payload"]
    tampered = lineage_home / "tampered.jsonl"
    tampered.write_text("\n".join([json.dumps(envelope), *lines[1:]]) + "\n")
    assert cli(["verify", str(tampered), "--key", str(pub)]) == 3
    assert "does not match the envelope" in capsys.readouterr().err
