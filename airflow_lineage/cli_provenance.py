"""The ``attest`` and ``verify`` commands of ``airflow-lineage``: a model's signed
provenance chain out of the store, and its verification offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add ``attest`` and ``verify`` to the command's sub-parsers."""
    a = sub.add_parser(
        "attest",
        parents=[common],
        help="write a model's signed provenance chain (in-toto bundle, JSON lines of DSSE)",
        description="Walk the model's upstream lineage, check every step's signed "
        "provenance in the store (trusted keys as the gate's), and write the steps' DSSE "
        "envelopes, one per line, then a chain manifest signed with the deployment key. "
        "Exits 3, writing nothing, when the chain does not verify.",
    )
    a.add_argument("model", metavar="MODEL_URI_OR_ARN", help="the model's ARN or source URI")
    a.add_argument("-o", "--output", required=True, metavar="FILE", help="the bundle to write")
    a.add_argument(
        "--public-key",
        metavar="FILE",
        help="also write the deployment's public key (PEM), for 'verify --key'",
    )
    a.set_defaults(func=_cmd_attest)

    v = sub.add_parser(
        "verify",
        help="verify a provenance bundle offline, with no store",
        description="Verify a bundle written by 'attest': every envelope signed by one of "
        "the keys, valid in-toto statements, no step missing, every step on the model's "
        "chain. Exits 0 when it verifies, 3 when it does not.",
    )
    v.add_argument("bundle", metavar="FILE", help="the bundle (JSON lines of DSSE envelopes)")
    v.add_argument(
        "--key",
        required=True,
        nargs="+",
        action="extend",
        metavar="PUB",
        help="trusted Ed25519 public keys (PEM files)",
    )
    v.set_defaults(func=_cmd_verify)


def _cmd_attest(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage attest``."""
    from airflow_lineage.cli import _open_store, _out
    from airflow_lineage.exceptions import AttestationError
    from airflow_lineage.gate import find_model
    from airflow_lineage.provenance.bundle import collect
    from airflow_lineage.provenance.keys import deployment_key, trusted_keys

    with _open_store(args) as store:
        model = args.model if args.model.startswith("arn:") else find_model(store, args.model)
        try:
            lines = collect(store, model, deployment_key(), trusted_keys())
        except AttestationError as e:
            sys.stderr.write(f"airflow-lineage: not attested: {e}\n")
            return 3
    out = Path(args.output)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.replace(out)
    if args.public_key:
        Path(args.public_key).write_text(deployment_key().public.pem(), encoding="ascii")
    _out(f"wrote {len(lines) - 1} step envelope(s) and the chain manifest of {model} to {out}")
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    """Run ``airflow-lineage verify``."""
    from airflow_lineage.cli import _out
    from airflow_lineage.provenance.bundle import verify
    from airflow_lineage.provenance.keys import load_public_pem

    keys = [load_public_pem(Path(k).read_bytes()) for k in args.key]
    with open(args.bundle, encoding="utf-8") as fh:
        found = verify(fh, keys)
    if not found.passed:
        for problem in found.problems:
            sys.stderr.write(f"REJECTED: {problem}\n")
        return 3
    signers = ", ".join(k[:16] for k in found.signers)
    _out(f"verified: {found.steps} step(s) of {found.model}, signed by {signers}")
    return 0
