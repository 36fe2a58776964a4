"""Content digests: what a piece of data is, so lineage can prove it has not changed.

Local files get ``Custom`` = ``sha256:<hex>``, streamed in fixed-size chunks (memory stays
flat whatever the file size). A directory's digest covers the relative path and digest
of every file below it, in sorted order. Data larger than a given size is not hashed
(the caller's ``max_bytes``; capture passes ``[lineage] max_digest_bytes``).

S3 objects get ``S3ETag`` and, in a versioned bucket, ``S3Version``, read with one
``head_object`` through an Airflow AWS connection (the amazon provider, imported only
when there is S3 data). An S3 prefix (a URI ending in ``/``, or one naming no object but
holding objects below ``<uri>/``, as SageMaker channels and outputs do) gets ``Custom`` =
``s3-listing:sha256:<hex>`` over the sorted keys below it and their ETags.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from airflow_lineage.model import SourceIdType, SourceType

__all__ = [
    "check",
    "digest",
    "digest_local",
    "digest_s3",
    "local_path",
    "s3_listing_digest",
    "sha256_digest",
]

log = logging.getLogger(__name__)

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


def _size_above(path: Path, limit: int) -> int | None:
    """Return the size of a file or folder once it exceeds ``limit`` bytes, else None."""
    if not path.is_dir():
        size = path.stat().st_size
        return size if size > limit else None
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            total += (Path(root) / name).stat().st_size
            if total > limit:  # stop early: the exact size does not matter
                return total
    return None


def digest_local(uri: str, *, max_bytes: int | None = None) -> tuple[SourceType, ...]:
    """Return the content digest of the local data at ``uri``.

    :param max_bytes: data (a file, or a folder's files together) larger than this is not
        hashed; None hashes any size.
    :returns: ``(Custom sha256:<hex>,)``; () if ``uri`` is not local, names no regular
        file or folder, or the data is larger than ``max_bytes``.
    """
    path = local_path(uri)
    if path is None or not (path.is_file() or path.is_dir()):
        return ()  # absent, or a pipe or device: reading it would take the step's data
    if max_bytes is not None:
        size = _size_above(path, max_bytes)
        if size is not None:
            log.info(
                "Not hashing %s: more than %d bytes (max_digest_bytes); it has no digest",
                uri,
                max_bytes,
            )
            return ()
    return (SourceType(SourceIdType.CUSTOM, sha256_digest(path)),)


_s3_clients: dict[str | None, object] = {}


def _s3_client(aws_conn_id: str | None) -> object:
    """Return an S3 client of the AWS connection (one per connection and process)."""
    client = _s3_clients.get(aws_conn_id)
    if client is None:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook  # lazy: optional provider

        client = _s3_clients[aws_conn_id] = S3Hook(aws_conn_id=aws_conn_id).get_conn()
    return client


def digest_s3(uri: str, *, aws_conn_id: str | None = "aws_default") -> tuple[SourceType, ...]:
    """Return the ``S3ETag`` (and ``S3Version``, if the bucket is versioned) of an S3 object.

    Never raises: an object that cannot be read (missing, a prefix, no credentials, no
    amazon provider) is logged and gets no digest, so a verifying gate rejects it.

    :param aws_conn_id: the Airflow AWS connection; None: boto3's default credentials.
    """
    if not uri.startswith("s3://"):
        return ()
    try:
        bucket, _, key = uri.split("://", 1)[1].partition("/")
        if not bucket:
            return ()
        if not key or key.endswith("/"):
            listing = s3_listing_digest(uri, aws_conn_id=aws_conn_id)
            return (SourceType(SourceIdType.CUSTOM, listing),) if listing else ()
        head: dict[str, object] = _s3_client(aws_conn_id).head_object(  # type: ignore[attr-defined]
            Bucket=bucket, Key=key
        )
    except Exception as e:  # an unreadable object is simply undigested
        if _not_found(e):
            try:  # a prefix named without its trailing slash
                listing = s3_listing_digest(uri + "/", aws_conn_id=aws_conn_id)
            except Exception:
                listing = None
            if listing:
                return (SourceType(SourceIdType.CUSTOM, listing),)
        log.warning("No S3 digest for %s: %s: %s", uri, type(e).__name__, e)
        return ()
    out = []
    etag = str(head.get("ETag") or "").strip('"')
    if etag:
        out.append(SourceType(SourceIdType.S3_ETAG, etag))
    version = str(head.get("VersionId") or "")
    if version and version != "null":  # "null": written before versioning was turned on
        out.append(SourceType(SourceIdType.S3_VERSION, version))
    return tuple(out)


_LISTING = "s3-listing:sha256:"


def _not_found(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def s3_listing_digest(prefix_uri: str, *, aws_conn_id: str | None = "aws_default") -> str | None:
    """Return ``s3-listing:sha256:<hex>`` of the objects below an S3 prefix, None if none.

    The digest covers every key below the prefix (relative to it) and its ETag, sorted, so
    adding, removing, renaming or rewriting any object changes it.

    :raises Exception: the listing failed (no such bucket, no credentials).
    """
    bucket, _, prefix = prefix_uri.split("://", 1)[1].partition("/")
    client = _s3_client(aws_conn_id)
    pages = client.get_paginator("list_objects_v2").paginate(  # type: ignore[attr-defined]
        Bucket=bucket, Prefix=prefix
    )
    entries = sorted(
        (str(obj["Key"])[len(prefix) :], str(obj.get("ETag", "")).strip('"'))
        for page in pages
        for obj in page.get("Contents", ())
    )
    if not entries:
        return None
    h = hashlib.sha256()
    for key, etag in entries:
        h.update(f"{key}\x00{etag}\n".encode())
    return f"{_LISTING}{h.hexdigest()}"


def digest(
    uri: str, *, aws_conn_id: str | None = "aws_default", max_bytes: int | None = None
) -> tuple[SourceType, ...]:
    """Return the digests of the data at ``uri``: sha256 of local data, ETag/VersionId on S3.

    :returns: () for data that cannot be digested (another scheme, absent, too large).
    """
    if uri.startswith("s3://"):
        return digest_s3(uri, aws_conn_id=aws_conn_id)
    return digest_local(uri, max_bytes=max_bytes)


def _file_md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _s3_head(uri: str) -> dict[str, object]:
    """Return the S3 object's metadata (ETag, VersionId) through the amazon provider."""
    bucket, _, key = uri.split("://", 1)[1].partition("/")
    # One client per process, as for taking digests: a gate checks many objects.
    head: dict[str, object] = _s3_client(None).head_object(  # type: ignore[attr-defined]
        Bucket=bucket, Key=key
    )
    return head


def check(uri: str, source_type: SourceType) -> tuple[bool, str]:
    """Recompute one content identifier of the data at ``uri`` and compare.

    :returns: (matches, explanation). Data that cannot be read does not match: a digest
        that cannot be checked is not verified.
    """
    kind, expected = source_type.id_type, source_type.value
    try:
        if kind is SourceIdType.CUSTOM and expected.startswith(_LISTING):
            if not uri.startswith("s3://"):
                return False, f"an S3 listing digest recorded for non-S3 {uri}"
            prefix = uri if uri.endswith("/") else uri + "/"
            found = s3_listing_digest(prefix, aws_conn_id=None)
            if found is None:
                return False, f"{uri} cannot be read: no objects below it any more"
            actual = found
        elif kind in (SourceIdType.CUSTOM, SourceIdType.MD5_HASH):
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
