"""Content digests: what a piece of data is, so lineage can prove it has not changed.

Local files get ``Custom`` = ``sha256:<hex>``, streamed in fixed-size chunks (memory stays
flat whatever the file size). A directory's digest covers the relative path and digest
of every file below it, in sorted order.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from airflow_lineage.model import SourceIdType, SourceType

__all__ = ["check", "digest_local", "local_path", "sha256_digest"]

_CHUNK = 1 << 20


def local_path(uri: str) -> Path | None:
    """Return the local path a ``file://`` URI or an absolute path names, else None."""
    if uri.startswith("file://"):
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            return None
        return Path(unquote(parsed.path))
    if uri.startswith("/"):
        return Path(uri)
    return None


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def sha256_digest(path: Path) -> str:
    """Return ``sha256:<hex>`` of a file, or of a directory tree's files and names.

    :raises FileNotFoundError: nothing exists at ``path``.
    """
    if path.is_dir():
        h = hashlib.sha256()
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = Path(root) / name
                rel = full.relative_to(path).as_posix()
                h.update(f"{rel}\x00{_file_sha256(full)}\n".encode())
        return f"sha256:{h.hexdigest()}"
    return f"sha256:{_file_sha256(path)}"


def digest_local(uri: str) -> tuple[SourceType, ...]:
    """Return the content digest of the local data at ``uri``; () if it is not local or absent."""
    path = local_path(uri)
    if path is None or not path.exists():
        return ()
    return (SourceType(SourceIdType.CUSTOM, sha256_digest(path)),)


def _file_md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _s3_head(uri: str) -> dict[str, object]:
    """Return the S3 object's metadata (ETag, VersionId) through the amazon provider."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook  # lazy: optional provider

    bucket, key = S3Hook.parse_s3_url(uri)
    head: dict[str, object] = (
        S3Hook(aws_conn_id=None).get_conn().head_object(Bucket=bucket, Key=key)
    )
    return head


def check(uri: str, source_type: SourceType) -> tuple[bool, str]:
    """Recompute one content identifier of the data at ``uri`` and compare.

    :returns: (matches, explanation). Data that cannot be read does not match: a digest
        that cannot be checked is not verified.
    """
    kind, expected = source_type.id_type, source_type.value
    try:
        if kind in (SourceIdType.CUSTOM, SourceIdType.MD5_HASH):
            path = local_path(uri)
            if path is None:
                return False, f"cannot recompute {kind.value} of non-local {uri}"
            if not path.exists():
                return False, f"{uri} cannot be read: it no longer exists"
            if kind is SourceIdType.MD5_HASH:
                actual = _file_md5(path)
            elif expected.startswith("sha256:"):
                actual = sha256_digest(path)
            else:
                return False, f"unknown Custom digest {expected!r} of {uri}"
        elif kind in (SourceIdType.S3_ETAG, SourceIdType.S3_VERSION):
            if not uri.startswith("s3://"):
                return False, f"{kind.value} recorded for non-S3 {uri}"
            head = _s3_head(uri)
            field = "ETag" if kind is SourceIdType.S3_ETAG else "VersionId"
            actual = str(head.get(field, "")).strip('"')
            expected = expected.strip('"')
        else:  # pragma: no cover - the enum has no other members
            return False, f"unknown SourceIdType {kind}"
    except Exception as e:  # unreadable data is a failed check, never a pass
        return False, f"{uri} cannot be read: {type(e).__name__}: {e}"
    if actual == expected:
        return True, f"{uri}: {kind.value} matches"
    return False, f"{uri} changed: recorded {kind.value} {expected}, now {actual}"
