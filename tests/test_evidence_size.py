"""The evidence of a bulk change grows with the change, not with its square.

A session reset through ``kmsi run`` (papermill, a real kernel) against the sandbox over
loopback: the request journal is one file of the run (``journal.jsonl[.gz]``), hashed in
the ledger, checked by ``kmsi evidence verify`` against the record's summary and scanned for
secrets; ``result.json`` and ``record.json`` hold only its summary. Four times the users
make less than five times the evidence. Editing the journal file fails verification.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from runbook_support import apply_runbook

from kmsi_lib import evidence
from kmsi_lib.errors import EvidenceError
from kmsi_lib.runbooks.contract import JOURNAL_FILES, JOURNAL_GZIP_FILE
from kmsi_lib.sandbox import Sandbox

pytestmark = pytest.mark.slow


def _reset(monkeypatch: pytest.MonkeyPatch, tmp: Path, users: int) -> Path:
    """Apply ``40_reset_sessions`` to a group of ``users`` in a served sandbox; its run dir."""
    sandbox = Sandbox(seed="default")
    sandbox.admin.add_group("Bulk")
    for i in range(users):
        sandbox.admin.add_user(f"bulk{i:04d}@example.com", groups=["Bulk"])
    with sandbox.serve(port=0) as url:
        for key in [k for k in os.environ if k.startswith("OKTA_")]:
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("OKTA_ORG_URL", url)
        monkeypatch.setenv("OKTA_API_TOKEN", sandbox.token)
        monkeypatch.setenv("KMSI_OPERATOR", "test")
        report = apply_runbook("40_reset_sessions", {"group": "Bulk"}, tmp, change_id="CHG-7070")
    assert report.run_dir is not None
    return report.run_dir


def _size(run_dir: Path) -> int:
    return sum(p.stat().st_size for p in run_dir.rglob("*") if p.is_file())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[int, Path]]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield {n: _reset(monkeypatch, tmp_path_factory.mktemp(f"reset{n}"), n) for n in (100, 400)}


def test_evidence_grows_about_linearly_with_the_users(runs: dict[int, Path]) -> None:
    small, large = _size(runs[100]), _size(runs[400])
    assert large / small < 5, (small, large)


@pytest.mark.parametrize("users", [100, 400])
def test_the_journal_is_one_hashed_verified_file_and_the_record_holds_its_summary(
    runs: dict[int, Path], users: int
) -> None:
    run_dir = runs[users]
    record = json.loads((run_dir / evidence.RECORD_FILE).read_text(encoding="utf-8"))
    result = json.loads((run_dir / evidence.RESULT_FILE).read_text(encoding="utf-8"))
    summary = record["journal"]
    assert summary == result["journal"] and isinstance(summary, dict)
    assert summary["file"] in JOURNAL_FILES and (run_dir / summary["file"]).is_file()
    assert [p.name for p in run_dir.iterdir() if p.name.startswith("journal")] == [summary["file"]]
    assert summary["sha256"] == evidence.sha256_file(run_dir / summary["file"])
    assert record["files"][summary["file"]] == summary["sha256"]
    assert summary["by_method"]["DELETE"] == users
    entries = evidence.read_journal(run_dir, summary)
    assert len(entries) == summary["entries"] and summary["first_at"] <= summary["last_at"]
    assert sum(e["method"] == "DELETE" for e in entries) == users
    root = run_dir.parent.parent
    ledger = [e for e in evidence.read_ledger(root) if e["kind"] == "run"]
    assert summary["file"] in ledger[-1]["files"]
    assert evidence.verify(root).ok


def test_editing_the_journal_file_fails_verification(runs: dict[int, Path]) -> None:
    run_dir = runs[100]
    root = run_dir.parent.parent
    summary = json.loads((run_dir / evidence.RECORD_FILE).read_text())["journal"]
    path = run_dir / summary["file"]
    original = path.read_bytes()
    try:
        lines = evidence.read_journal(run_dir, summary)
        lines[-1]["status"] = 599  # one answer rewritten
        text = "".join(json.dumps(e, sort_keys=True) + "\n" for e in lines).encode()
        path.write_bytes(gzip.compress(text) if path.name == JOURNAL_GZIP_FILE else text)
        report = evidence.verify(root)
        assert not report.ok
        kinds = {p.kind for p in report.problems if p.where.endswith(summary["file"])}
        assert kinds == {"changed-file", "journal"}, report.to_text()
        with pytest.raises(EvidenceError, match="sha256"):
            evidence.read_journal(run_dir, summary)
    finally:
        path.write_bytes(original)
    assert evidence.verify(root).ok


@pytest.mark.parametrize("entries", [3, 5000])  # a plain file, and a compressed one
def test_the_secret_scan_finds_a_secret_inside_the_journal_file(
    tmp_path: Path, entries: int
) -> None:
    planted = "pl4nted-s3cret-" + "q" * 30
    rows: list[dict[str, object]] = [
        {"method": "GET", "path": f"/api/v1/users?after={i}", "status": 200} for i in range(entries)
    ]
    rows[entries // 2]["response_body"] = {"note": planted}
    summary = evidence.write_journal(tmp_path, rows)
    assert (summary.file == JOURNAL_GZIP_FILE) == (entries > 3)
    files = [tmp_path / summary.file]
    hits = evidence.scan_for_secrets(files, [planted], base=tmp_path)
    assert [(h.file, h.form) for h in hits] == [(summary.file, "raw")]
    assert evidence.scan_for_secrets(files, ["n0t-in-the-file-" + "z" * 20], base=tmp_path) == []


def test_a_journal_written_inline_before_it_had_a_file_is_still_read(tmp_path: Path) -> None:
    inline = [{"method": "GET", "path": "/api/v1/policies", "status": 200}]
    assert evidence.read_journal(tmp_path, inline) == inline
    assert evidence.read_journal(tmp_path, None) == []
