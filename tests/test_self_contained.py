"""The repository needs nothing beside it: every reference it cites is inside it.

The Okta material the sandbox and the tests rely on is vendored in
``reference/okta/`` (its README gives sources and licences) and digested in
``docs/OKTA-API.md``. These tests keep it that way on any clone.
"""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
from functools import cache
from pathlib import Path

import okta_spec
import pytest
import recordings

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference" / "okta"
PROVENANCE = REFERENCE / "README.md"
DIGEST = ROOT / "docs" / "OKTA-API.md"
SPEC = REFERENCE / "openapi" / "management-minimal.yaml"

# Spelled in pieces so that this file does not match itself.
OUTSIDE = re.compile(r"\.\./shared|/work[/]shared|shared[/]okta|API[-]NOTES")
# Only the provenance note may name the folder the material was copied from.
MAY_NAME_THE_ORIGIN = {PROVENANCE.relative_to(ROOT).as_posix()}
_SKIPPED_DIRS = {
    ".git",
    ".venv",
    "__pycache__",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "build",
    "evidence",
    "test-output",
    ".ipynb_checkpoints",
}


@cache
def _tracked_files() -> tuple[str, ...]:
    """Repository-relative paths of the tracked files (a plain walk outside a git checkout)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        listed = ""
    if listed:
        return tuple(sorted(p for p in listed.split("\0") if p and (ROOT / p).is_file()))
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS and not d.endswith(".egg-info")]
        found += [(Path(folder) / f).relative_to(ROOT).as_posix() for f in files]
    return tuple(sorted(found))


def _text(path: str) -> str | None:
    data = (ROOT / path).read_bytes()
    if b"\0" in data:
        return None  # binary
    return data.decode("utf-8", errors="replace")


def test_no_tracked_file_holds_a_private_key_block() -> None:
    """Not even a published sample: a secret scan cannot tell it from a leak (the vendored
    spec's samples are replaced, reference/okta/README.md says where). Tests that need a
    key generate one at run time."""
    armour = re.compile("-----BEGIN [A-Z ]*" + "PRIVATE KEY-----")
    offenders = [
        f"{path}:{number}"
        for path in _tracked_files()
        if (text := _text(path)) is not None
        for number, line in enumerate(text.splitlines(), 1)
        if armour.search(line)
    ]
    assert not offenders, offenders


def test_no_tracked_file_cites_a_path_outside_the_repository() -> None:
    """No tracked text file names the old shared folder or its digest (provenance note aside)."""
    offenders = []
    for path in _tracked_files():
        text = _text(path)
        if text is None or path in MAY_NAME_THE_ORIGIN:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path}:{number}: {line.strip()[:120]}")
    assert not offenders, "cite docs/OKTA-API.md or reference/okta/ instead:\n" + "\n".join(
        offenders
    )


def _listed_paths() -> list[str]:
    """The first-column paths (or globs) of the tables in reference/okta/README.md."""
    rows = re.findall(r"^\| `([^`]+)` \|", PROVENANCE.read_text(encoding="utf-8"), re.MULTILINE)
    assert rows, "reference/okta/README.md lists no files"
    return rows


def _vendored_files() -> list[str]:
    return sorted(
        p.relative_to(REFERENCE).as_posix()
        for p in REFERENCE.rglob("*")
        if p.is_file() and p.name not in ("README.md", ".gitattributes")
    )


@pytest.mark.parametrize("listed", _listed_paths())
def test_each_file_the_provenance_note_lists_exists(listed: str) -> None:
    matches = [p for p in _vendored_files() if fnmatch.fnmatchcase(p, listed)]
    assert matches, f"reference/okta/README.md lists {listed!r}, which is not in reference/okta/"


def test_each_vendored_file_has_its_provenance_stated() -> None:
    """Nothing sits in reference/okta/ without a row saying where it comes from."""
    listed = _listed_paths()
    unlisted = [p for p in _vendored_files() if not any(fnmatch.fnmatchcase(p, g) for g in listed)]
    assert not unlisted, f"add these to the table in reference/okta/README.md: {unlisted}"


def test_the_tests_read_the_vendored_material_by_default() -> None:
    """Without the override variables, the spec and the recordings come from reference/okta/."""
    if "KMSI_OKTA_SPEC" not in os.environ:
        assert okta_spec.SPEC_PATH == SPEC
    if "KMSI_OKTA_RECORDINGS" not in os.environ:
        assert recordings.RECORDINGS_DIR == REFERENCE / "recordings"
    assert SPEC.is_file() and okta_spec.OAUTH_SPEC_PATH.is_file()
    assert any((REFERENCE / "recordings").glob("*.yaml"))


def _spec_citations() -> list[tuple[str, int]]:
    # `Name` (L1234): a key under components (or components itself) or an operationId.
    cited = re.findall(r"`([\w-]+)` \(L(\d+)\)", DIGEST.read_text(encoding="utf-8"))
    return sorted({(name, int(line)) for name, line in cited})


def test_the_digest_cites_spec_lines_that_hold_what_it_names() -> None:
    """Each `Name` (Lnnn) in docs/OKTA-API.md is that component or operationId at that line."""
    lines = SPEC.read_text(encoding="utf-8").splitlines()
    citations = _spec_citations()
    assert len(citations) > 50
    wrong = [
        f"{name} (L{number}): the line reads {lines[number - 1].strip()!r}"
        for name, number in citations
        if lines[number - 1] not in (f"  {name}:", f"    {name}:", f"      operationId: {name}")
    ]
    assert not wrong, "\n".join(wrong)


def test_the_digest_cites_recordings_that_exist() -> None:
    cited = set(re.findall(r"\bTestAcc\w+", DIGEST.read_text(encoding="utf-8")))
    present = {p.name.split(".", 1)[0] for p in (REFERENCE / "recordings").glob("*.yaml")}
    assert cited and cited <= present, f"no such recording: {sorted(cited - present)}"
