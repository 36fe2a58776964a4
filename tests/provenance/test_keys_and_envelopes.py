"""Keys (zero set-up, configured, trusted) and DSSE envelopes, checked against a second
DSSE implementation (securesystemslib) and the in-toto reference validators."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
from pathlib import Path

import pytest

from airflow_lineage import connect
from airflow_lineage.capture.outbox import Outbox
from airflow_lineage.exceptions import AttestationError
from airflow_lineage.provenance import dsse, keys
from airflow_lineage.provenance.formats import format_problems
from airflow_lineage.provenance.keys import SigningKey, load_public_pem
from airflow_lineage.provenance.statement import canonical
from tests.provenance.conftest import _clear, honest_pipeline


def test_zero_setup_generates_an_owner_only_key_once(signing_key: Path) -> None:
    assert not signing_key.exists()
    key = keys.deployment_key()
    assert signing_key.stat().st_mode & 0o777 == 0o600
    assert "PRIVATE KEY" in signing_key.read_text()
    _clear()
    assert keys.deployment_key().keyid == key.keyid  # the same key next time
    assert keys.trusted_keys() == (key.public,)  # trusted by its own deployment


def _key_in_process(path: str, queue: multiprocessing.Queue[str]) -> None:
    queue.put(keys.generate_key_file(Path(path)).keyid)


def test_processes_racing_to_create_the_key_share_one(signing_key: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[str] = ctx.Queue()
    procs = [ctx.Process(target=_key_in_process, args=(str(signing_key), queue)) for _ in range(4)]
    for p in procs:
        p.start()
    ids = {queue.get(timeout=60) for _ in procs}
    for p in procs:
        p.join()
    assert len(ids) == 1
    assert not [f for f in signing_key.parent.iterdir() if f.name.startswith(".")]


def test_a_key_file_others_may_read_is_refused(signing_key: Path) -> None:
    keys.deployment_key()
    os.chmod(signing_key, 0o644)
    _clear()
    with pytest.raises(AttestationError, match="may be read by others"):
        keys.deployment_key()


def test_the_connection_key_and_trusted_keys(
    signing_key: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    team = Ed25519PrivateKey.generate()
    pem = team.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()  # fmt: skip
    partner, other = SigningKey.generate().public, SigningKey.generate().public
    other_file = tmp_path / "other.pub"
    other_file.write_text(other.pem())
    conn = {"conn_type": "generic", "password": pem,
            "extra": {"trusted_keys": [partner.pem()]}}  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_TEAM_SIGNING", json.dumps(conn))
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__SIGNING_CONN_ID", "team_signing")
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__TRUSTED_KEYS", str(other_file))
    _clear()
    key = keys.deployment_key()
    assert key.public == load_public_pem(pem)
    assert not signing_key.exists()  # no file key is made when the connection has one
    assert [k.keyid for k in keys.trusted_keys()] == [key.keyid, partner.keyid, other.keyid]


def test_a_missing_trusted_key_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__TRUSTED_KEYS", str(tmp_path / "absent.pub"))
    _clear()
    with pytest.raises(AttestationError, match="cannot read the trusted key"):
        keys.trusted_keys()


def test_the_private_key_cannot_leave_the_process() -> None:
    key = SigningKey.generate()
    assert "PRIVATE" not in repr(key) and key.keyid in repr(key)
    with pytest.raises(TypeError, match="cannot be serialised"):
        pickle.dumps(key)


def test_our_envelopes_verify_with_securesystemslib_and_back() -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.dsse import Envelope as SslEnvelope
    from securesystemslib.signer import CryptoSigner, SSlibKey

    key = SigningKey.generate()
    ours = dsse.sign(b'{"x": 1}', key)
    ssl_key = SSlibKey.from_crypto(load_pem_public_key(key.public.pem().encode()), key.keyid)
    theirs = SslEnvelope.from_dict(ours.to_dict())
    assert key.keyid in theirs.verify([ssl_key], 1)  # its own PAE, its own Ed25519 check
    # ...and an envelope securesystemslib signed verifies here.
    signer = CryptoSigner.generate_ed25519()
    made = SslEnvelope(b"payload", dsse.IN_TOTO_PAYLOAD_TYPE, {})
    made.sign(signer)
    parsed = dsse.Envelope.from_json(json.dumps(made.to_dict()))
    public = keys.PublicKey(bytes.fromhex(signer.public_key.keyval["public"]))
    assert parsed.signed_by([public]) == public
    tampered = SslEnvelope(b"payload!", dsse.IN_TOTO_PAYLOAD_TYPE, made.signatures)
    with pytest.raises(AttestationError, match="untrusted key"):
        dsse.Envelope.from_json(json.dumps(tampered.to_dict())).signed_by([public])


def test_envelope_errors_are_named() -> None:
    with pytest.raises(AttestationError, match="not valid JSON"):
        dsse.Envelope.from_json("{")
    with pytest.raises(AttestationError, match="not a DSSE envelope"):
        dsse.Envelope.from_json('{"payload": "!!", "payloadType": "x", "signatures": []}')
    unsigned = dsse.Envelope(b"{}", dsse.IN_TOTO_PAYLOAD_TYPE, ())
    with pytest.raises(AttestationError, match="not signed"):
        unsigned.signed_by([SigningKey.generate().public])
    other = dsse.sign(b"{}", SigningKey.generate(), "text/plain")
    with pytest.raises(AttestationError, match="payloadType"):
        other.json_payload()


def test_captured_statements_are_valid_in_toto_slsa(store_url: str) -> None:
    with connect(store_url) as store:
        arns = honest_pipeline(store)
        signed = store.attestations([arns["prepare"], arns["train"], arns["model"]])
    assert set(signed) == {arns["prepare"], arns["train"]}  # actions only
    for attestation in signed.values():
        statement = dsse.Envelope.from_json(attestation.envelope).json_payload()
        assert format_problems(statement) == []
        assert statement["predicate"]["runDetails"]["builder"]["id"].startswith(
            "urn:airflow-lineage:deployment:"
        )
    broken = dict(statement, subject=[{"name": "x"}])
    assert format_problems(broken) == ["in-toto: At least one digest required (subject 0)"]
    assert canonical(statement) == dsse.Envelope.from_json(attestation.envelope).payload


def test_signing_off_records_no_envelope(store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW__ML_LINEAGE__ATTEST", "False")
    _clear()
    with connect(store_url) as store, pytest.raises(AssertionError, match="capture signed"):
        honest_pipeline(store)


def test_an_unreadable_key_leaves_the_record_unsigned_and_the_task_alone(
    signing_key: Path, tmp_path: Path
) -> None:
    signing_key.parent.mkdir(parents=True)
    signing_key.write_text("not a key")
    os.chmod(signing_key, 0o600)
    url = f"sqlite:///{tmp_path / 'l.db'}"
    with connect(url, create=True) as store, pytest.raises(AssertionError, match="capture signed"):
        honest_pipeline(store)


def test_the_outbox_keeps_and_replays_the_envelope(tmp_path: Path) -> None:
    from airflow_lineage.capture.lineage import StepLineage
    from airflow_lineage.capture.record import TaskRun, build_record
    from airflow_lineage.model import ActionStatus, utcnow

    record = build_record(TaskRun("d", "t", "r"), StepLineage(), ActionStatus.COMPLETED,
                          now=utcnow())  # fmt: skip
    outbox = Outbox(tmp_path / "outbox")
    outbox.put(record.entities, record.associations, record.upsert, record.attestations)
    with connect(f"sqlite:///{tmp_path / 'l.db'}", create=True) as store:
        assert outbox.replay(store).replayed == 1
        assert store.attestations([record.action_arn]) == {
            record.action_arn: record.attestations[0]
        }


def test_older_records_never_replace_a_newer_envelope(store_url: str) -> None:
    from dataclasses import replace
    from datetime import timedelta

    with connect(store_url) as store:
        arns = honest_pipeline(store)
        newest = store.attestations([arns["train"]])[arns["train"]]
        older = replace(newest, envelope='{"old": true}', modified=newest.modified - timedelta(1))
        store.write(attestations=[older])
        assert store.attestations([arns["train"]])[arns["train"]] == newest
