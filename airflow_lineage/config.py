"""Every configuration option airflow-lineage reads, one cached function per option.

Options live in their own section, ``[ml_lineage]`` (Airflow core owns ``[lineage]``
since 3.2), so they can be set in ``airflow.cfg`` or, as for any Airflow option, as
``AIRFLOW__ML_LINEAGE__<OPTION>`` environment variables. Where an option is looked up:

1. the environment variable ``AIRFLOW__ML_LINEAGE__<OPTION>``;
2. Airflow's configuration, when Airflow has loaded it in this process already (a task,
   the scheduler, the api-server), else the ``[ml_lineage]`` section of ``airflow.cfg``
   (``$AIRFLOW_CONFIG``, default ``$AIRFLOW_HOME/airflow.cfg``) read as a plain file, so
   that the command line tool sees the same settings without importing Airflow;
3. the deprecated ``AIRFLOW__LINEAGE__<OPTION>`` variable of releases before 0.2 (it
   warns);
4. the default in :data:`OPTIONS`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from functools import cache
from pathlib import Path

__all__ = [
    "OPTIONS",
    "SECTION",
    "admin_conn_id",
    "airflow_home",
    "attest",
    "builder_id",
    "capture_timeout",
    "conn_id",
    "default_store_url",
    "embedded_store_url",
    "enabled",
    "load_all",
    "max_digest_bytes",
    "outbox_dir",
    "push_xcom",
    "relay_socket",
    "signing_conn_id",
    "signing_key_file",
    "store_url",
    "strict",
    "trusted_keys",
]

OPTIONS: dict[str, dict[str, str]] = {
    "enabled": {
        "description": "Record lineage for every task run.",
        "type": "boolean",
        "default": "True",
    },
    "conn_id": {
        "description": "The lineage connection; without it the embedded SQLite store is used.",
        "type": "string",
        "default": "lineage_default",
    },
    "admin_conn_id": {
        "description": "The connection that creates and migrates the store (airflow db "
        "migrate, airflow-lineage db upgrade) and opens it unrestricted (--admin): a login "
        "that owns the lineage tables (a superuser or BYPASSRLS role for --admin). Without "
        "it those use the lineage connection.",
        "type": "string",
        "default": "lineage_admin",
    },
    "store_url": {
        "description": "SQLAlchemy URL of the store used when the connection does not exist.",
        "type": "string",
        "default": "sqlite:///{AIRFLOW_HOME}/lineage.db",
    },
    "strict": {
        "description": "Fail the task when its lineage cannot be recorded (default: log it, "
        "keep the record in the outbox and let the task succeed).",
        "type": "boolean",
        "default": "False",
    },
    "capture_timeout": {
        "description": "Seconds a capture may spend writing to the store before the record "
        "goes to the outbox instead.",
        "type": "float",
        "default": "10",
    },
    "push_xcom": {
        "description": "When to push a task's lineage ARNs to XCom (key 'lineage'): "
        "'auto' when a downstream task consumes them (e.g. the lineage gate), 'always', "
        "or 'never'. An XCom write costs about as much as the whole capture.",
        "type": "string",
        "default": "auto",
    },
    "max_digest_bytes": {
        "description": "Local files and folders larger than this many bytes are not hashed "
        "in the task; they are recorded without a digest (the gate then rejects them as "
        "unverifiable unless another digest, such as an S3 ETag, exists).",
        "type": "integer",
        "default": "1073741824",
    },
    "relay_socket": {
        "description": "Unix socket of the lineage relay, a process the scheduler starts "
        "beside itself that keeps the store's connections open: a task hands its record "
        "to it instead of opening the store (about 25 ms less per task on PostgreSQL). "
        "'off' writes from every task directly.",
        "type": "string",
        "default": "{AIRFLOW_HOME}/lineage-relay.sock",
    },
    "outbox_dir": {
        "description": "Where records that could not be written wait to be replayed.",
        "type": "string",
        "default": "{AIRFLOW_HOME}/lineage-outbox",
    },
    "attest": {
        "description": "Sign every captured step: an in-toto Statement with a SLSA "
        "Provenance predicate in a DSSE envelope, stored with the step's record.",
        "type": "boolean",
        "default": "True",
    },
    "signing_conn_id": {
        "description": "The connection (or secrets-backend entry) holding the signing key: "
        "its password is an Ed25519 private key in PEM; its extra 'trusted_keys' lists PEM "
        "public keys also trusted. Without it the deployment key file is used.",
        "type": "string",
        "default": "lineage_signing",
    },
    "signing_key_file": {
        "description": "The deployment's Ed25519 signing key (PEM), generated with "
        "owner-only permissions on first use when missing.",
        "type": "string",
        "default": "{AIRFLOW_HOME}/lineage-signing-key.pem",
    },
    "trusted_keys": {
        "description": "Comma-separated PEM public-key files whose signatures a gate with "
        "require_signed accepts, besides the deployment's own key.",
        "type": "string",
        "default": "",
    },
    "builder_id": {
        "description": "runDetails.builder.id of the provenance: the Airflow deployment "
        "(default: a URN naming the deployment's signing key).",
        "type": "string",
        "default": "",
    },
}
"""Every ``[ml_lineage]`` option, documented once (the provider info reuses this)."""

SECTION = "ml_lineage"
"""Our section of Airflow's configuration."""

_LEGACY_SECTION = "lineage"


def _option(name: str) -> str | None:
    """Return an option's configured value, or None when it is not set anywhere."""
    value = os.environ.get(f"AIRFLOW__{SECTION.upper()}__{name.upper()}")
    if value:
        return value
    value = _airflow_option(name)
    if value:
        return value
    legacy = os.environ.get(f"AIRFLOW__{_LEGACY_SECTION.upper()}__{name.upper()}")
    if legacy:
        warnings.warn(
            f"AIRFLOW__LINEAGE__{name.upper()} is deprecated: Airflow core owns the "
            f"[lineage] section; set AIRFLOW__ML_LINEAGE__{name.upper()} instead",
            DeprecationWarning,
            stacklevel=3,
        )
        return legacy
    return None


def _airflow_option(name: str) -> str | None:
    """Return ``[ml_lineage] name`` from Airflow's loaded config, else from airflow.cfg."""
    if "airflow.configuration" in sys.modules:  # loaded already: it knows every source
        from airflow.configuration import conf

        got = conf.get(SECTION, name, fallback=None)
        # Airflow fills in the provider's documented defaults (templates such as
        # "{AIRFLOW_HOME}/..." expanded): only a value someone set is an answer here.
        if got in (None, "") or got == conf.get_default_value(SECTION, name):
            return None
        return str(got)
    return _config_file().get(name) or None


@cache
def _config_file() -> dict[str, str]:
    """Return the ``[ml_lineage]`` section of ``airflow.cfg`` (empty when there is none).

    Read as a plain file, as Airflow does: no interpolation, ``#`` and ``;`` comments.
    """
    import configparser

    raw = os.environ.get("AIRFLOW_CONFIG")
    path = Path(raw).expanduser() if raw else airflow_home() / "airflow.cfg"
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error) as e:
        raise ValueError(f"cannot read the Airflow configuration {path}: {e}") from e
    if not parser.has_section(SECTION):
        return {}
    return {k: v.strip() for k, v in parser.items(SECTION)}


def _bool(name: str) -> bool:
    raw = _option(name)
    if raw is None:
        return OPTIONS[name]["default"] == "True"
    if raw.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if raw.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"[ml_lineage] {name} must be a boolean, got {raw!r}")


@cache
def enabled() -> bool:
    """Return ``[ml_lineage] enabled``: whether task runs are recorded."""
    return _bool("enabled")


@cache
def strict() -> bool:
    """Return ``[ml_lineage] strict``: whether a capture failure fails the task."""
    return _bool("strict")


@cache
def push_xcom() -> str:
    """Return ``[ml_lineage] push_xcom``: ``auto``, ``always`` or ``never``."""
    raw = (_option("push_xcom") or OPTIONS["push_xcom"]["default"]).strip().lower()
    aliases = {"true": "always", "false": "never"}
    value = aliases.get(raw, raw)
    if value not in ("auto", "always", "never"):
        raise ValueError(f"[ml_lineage] push_xcom must be auto, always or never; got {raw!r}")
    return value


@cache
def conn_id() -> str:
    """Return ``[ml_lineage] conn_id``."""
    return _option("conn_id") or OPTIONS["conn_id"]["default"]


@cache
def admin_conn_id() -> str:
    """Return ``[ml_lineage] admin_conn_id``."""
    return _option("admin_conn_id") or OPTIONS["admin_conn_id"]["default"]


@cache
def capture_timeout() -> float:
    """Return ``[ml_lineage] capture_timeout`` in seconds."""
    raw = _option("capture_timeout") or OPTIONS["capture_timeout"]["default"]
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"[ml_lineage] capture_timeout must be a number, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"[ml_lineage] capture_timeout must be positive, got {value}")
    return value


@cache
def max_digest_bytes() -> int:
    """Return ``[ml_lineage] max_digest_bytes``: the largest local data hashed in a task."""
    raw = _option("max_digest_bytes") or OPTIONS["max_digest_bytes"]["default"]
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"[ml_lineage] max_digest_bytes must be an integer, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"[ml_lineage] max_digest_bytes must not be negative, got {value}")
    return value


@cache
def outbox_dir() -> Path:
    """Return ``[ml_lineage] outbox_dir``."""
    raw = _option("outbox_dir")
    return Path(raw).expanduser() if raw else airflow_home() / "lineage-outbox"


@cache
def relay_socket() -> Path | None:
    """Return ``[ml_lineage] relay_socket``; None when it is ``off``."""
    raw = _option("relay_socket")
    if raw is not None and raw.strip().lower() in ("off", "none", "false", "0"):
        return None
    from airflow_lineage.capture.relay import socket_path

    return socket_path(Path(raw).expanduser() if raw else airflow_home() / "lineage-relay.sock")


@cache
def airflow_home() -> Path:
    """Return ``$AIRFLOW_HOME``, or Airflow's own default ``~/airflow``."""
    return Path(os.environ.get("AIRFLOW_HOME") or "~/airflow").expanduser()


@cache
def default_store_url() -> str:
    """Return ``[ml_lineage] store_url``, or the embedded SQLite file under AIRFLOW_HOME."""
    return store_url() or embedded_store_url()


@cache
def store_url() -> str | None:
    """Return ``[ml_lineage] store_url`` when it is set, else None."""
    return _option("store_url")


def embedded_store_url() -> str:
    """Return the URL of the embedded default store, ``$AIRFLOW_HOME/lineage.db``."""
    return f"sqlite:///{airflow_home() / 'lineage.db'}"


@cache
def attest() -> bool:
    """Return ``[ml_lineage] attest``: whether captured steps are signed."""
    return _bool("attest")


@cache
def signing_conn_id() -> str:
    """Return ``[ml_lineage] signing_conn_id``."""
    return _option("signing_conn_id") or OPTIONS["signing_conn_id"]["default"]


@cache
def signing_key_file() -> Path:
    """Return ``[ml_lineage] signing_key_file``."""
    raw = _option("signing_key_file")
    return Path(raw).expanduser() if raw else airflow_home() / "lineage-signing-key.pem"


@cache
def trusted_keys() -> tuple[Path, ...]:
    """Return ``[ml_lineage] trusted_keys``: public-key files trusted besides our own."""
    raw = _option("trusted_keys") or ""
    return tuple(Path(p.strip()).expanduser() for p in raw.split(",") if p.strip())


@cache
def builder_id() -> str | None:
    """Return ``[ml_lineage] builder_id`` when it is set, else None."""
    return _option("builder_id")


def load_all() -> None:
    """Read every option now (each is then cached), raising nothing.

    A long-lived component calls it before it forks task processes: reading an option
    through Airflow's configuration costs a task process about 0.25 ms each.
    """
    for read in (
        enabled,
        strict,
        push_xcom,
        conn_id,
        capture_timeout,
        max_digest_bytes,
        outbox_dir,
        relay_socket,
        store_url,
        attest,
        signing_conn_id,
        signing_key_file,
        builder_id,
    ):
        with contextlib.suppress(Exception):  # a bad value: the task reading it says so
            read()
