"""The hashes evidence is checked by: canonical JSON, sha256 of bytes, of a file, of a run."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

__all__ = ["canonical_json", "file_digests", "sha256_bytes", "sha256_file"]


def canonical_json(value: object) -> str:
    """JSON with sorted keys and no whitespace: the form every hash is taken over.

    ``value`` is whatever :func:`json.dumps` encodes (JSON, mappings, tuples).
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(run_dir: Path, *, exclude: Iterable[str] = ()) -> dict[str, str]:
    """sha256 of every regular file under ``run_dir`` (relative POSIX names, sorted)."""
    skip = set(exclude)
    out: dict[str, str] = {}
    for path in sorted(p for p in run_dir.rglob("*") if p.is_file()):
        name = path.relative_to(run_dir).as_posix()
        if name not in skip:
            out[name] = sha256_file(path)
    return out
