"""The Ed25519 keys that sign provenance: the deployment's key and the keys it trusts.

Where the signing key comes from, first found wins:

1. the connection ``[ml_lineage] signing_conn_id`` (an Airflow connection or any secrets
   backend): its password is the private key in PEM (PKCS#8); its extra may list
   ``trusted_keys``, PEM public keys of other deployments whose provenance is trusted;
2. the file ``[ml_lineage] signing_key_file`` (default ``$AIRFLOW_HOME/
   lineage-signing-key.pem``), generated on first use with owner-only permissions, as
   SSH host keys are.

The private key stays in this process: it is never written to the store, a log or XCom
(``SigningKey`` has no ``repr`` of its secret and no way to serialise it).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from airflow_lineage import config
from airflow_lineage.exceptions import AttestationError

__all__ = [
    "PublicKey",
    "SigningKey",
    "deployment_key",
    "generate_key_file",
    "load_private_pem",
    "load_public_pem",
    "trusted_keys",
]


def _keyid(raw: bytes) -> str:
    """Return the key id: the SHA-256 of the raw 32-byte public key, in hex."""
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key and its id (SHA-256 of its 32 raw bytes, hex)."""

    raw: bytes
    keyid: str = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        object.__setattr__(self, "keyid", _keyid(self.raw))

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Return whether ``signature`` is this key's signature of ``data``."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except InvalidSignature:
            return False
        return True

    def pem(self) -> str:
        """Return the key as a PEM SubjectPublicKeyInfo block."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        key = Ed25519PublicKey.from_public_bytes(self.raw)
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")


class SigningKey:
    """An Ed25519 private key that signs; only its public half ever leaves the process."""

    __slots__ = ("_key", "public")

    def __init__(self, key: Any) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if not isinstance(key, Ed25519PrivateKey):
            raise TypeError(f"a signing key must be Ed25519, not {type(key).__name__}")
        self._key = key
        self.public = PublicKey(
            key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    @property
    def keyid(self) -> str:
        """Return the id of the public key."""
        return self.public.keyid

    def sign(self, data: bytes) -> bytes:
        """Return the Ed25519 signature of ``data``."""
        signature: bytes = self._key.sign(data)
        return signature

    def __repr__(self) -> str:
        return f"SigningKey(keyid={self.keyid!r})"

    def __reduce__(self) -> Any:  # never pickled into XCom, a queue or a file
        raise TypeError("a SigningKey cannot be serialised")

    @classmethod
    def generate(cls) -> SigningKey:
        """Return a new random key."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        return cls(Ed25519PrivateKey.generate())


def load_private_pem(data: bytes | str) -> SigningKey:
    """Return the signing key of a PEM (PKCS#8) Ed25519 private key.

    :raises AttestationError: it is not one.
    """
    from cryptography.hazmat.primitives import serialization

    raw = data.encode() if isinstance(data, str) else data
    try:
        key = serialization.load_pem_private_key(raw, password=None)
        return SigningKey(key)
    except (ValueError, TypeError) as e:
        raise AttestationError(f"not an unencrypted Ed25519 private key in PEM: {e}") from e


def load_public_pem(data: bytes | str) -> PublicKey:
    """Return the public key of a PEM Ed25519 public (or private) key.

    :raises AttestationError: it is not one.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = data.encode() if isinstance(data, str) else data
    if b"PRIVATE KEY" in raw:
        return load_private_pem(raw).public
    try:
        key = serialization.load_pem_public_key(raw)
    except (ValueError, TypeError) as e:
        raise AttestationError(f"not an Ed25519 public key in PEM: {e}") from e
    if not isinstance(key, Ed25519PublicKey):
        raise AttestationError(f"not an Ed25519 public key: {type(key).__name__}")
    return PublicKey(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def generate_key_file(path: Path) -> SigningKey:
    """Return the key in ``path``, creating it (mode 0600) when there is none.

    Several processes may race to create it: the key is written to a private temporary
    file and linked into place, so every process ends up with the same, whole key.

    :raises AttestationError: the file cannot be read or written, or holds no key.
    """
    from cryptography.hazmat.primitives import serialization

    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    key = SigningKey.generate()
    pem = key._key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, pem)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process won the race: use its key
            pass
        finally:
            tmp.unlink(missing_ok=True)
        return _read_key_file(path)
    except OSError as e:
        raise AttestationError(f"cannot create the signing key {path}: {e}") from e


def _read_key_file(path: Path) -> SigningKey:
    """Return the key in ``path``, refusing a file that others may read."""
    try:
        mode = path.stat().st_mode
        if mode & 0o077:
            raise AttestationError(
                f"the signing key {path} may be read by others (mode {mode & 0o777:o}); "
                f"make it owner-only: chmod 600 {path}"
            )
        return load_private_pem(path.read_bytes())
    except FileNotFoundError:
        raise
    except OSError as e:
        raise AttestationError(f"cannot read the signing key {path}: {e}") from e


def _connection() -> Any | None:
    """Return the signing connection, or None when there is none."""
    from airflow_lineage.store.locate import _airflow_connection

    return _airflow_connection(config.signing_conn_id())


def _pem_text(value: str) -> str:
    # A PEM pasted into an environment-variable URI or a JSON extra often has its
    # newlines escaped.
    return value.replace("\\n", "\n").strip() + "\n"


@cache
def deployment_key() -> SigningKey:
    """Return the key this deployment signs with (see the module docstring).

    :raises AttestationError: the configured key cannot be read or made.
    """
    conn = _connection()
    secret = getattr(conn, "password", None) if conn is not None else None
    if secret:
        return load_private_pem(_pem_text(str(secret)))
    return generate_key_file(config.signing_key_file())


@cache
def trusted_keys() -> tuple[PublicKey, ...]:
    """Return the public keys whose signatures this deployment accepts: its own, the
    connection's ``trusted_keys`` and the files of ``[ml_lineage] trusted_keys``.

    :raises AttestationError: one of them cannot be read.
    """
    keys = [deployment_key().public]
    conn = _connection()
    if conn is not None:
        extra = getattr(conn, "extra_dejson", None) or {}
        listed = extra.get("trusted_keys", [])
        if isinstance(listed, str):
            listed = json.loads(listed) if listed.strip().startswith("[") else [listed]
        keys += [load_public_pem(_pem_text(str(pem))) for pem in listed]
    for path in config.trusted_keys():
        try:
            keys.append(load_public_pem(path.read_bytes()))
        except OSError as e:
            raise AttestationError(f"cannot read the trusted key {path}: {e}") from e
    return tuple({k.keyid: k for k in keys}.values())
