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

__all__ = ["digest_local", "local_path", "sha256_digest"]

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
