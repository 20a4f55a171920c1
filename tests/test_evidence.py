"""Evidence: the ledger hash chain, tamper detection, the secret scan and `kmsi evidence`."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import multiprocessing
import shutil
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from fake_secrets import PEM_BEGIN, PEM_END, fake_token

from kmsi_lib import cli, evidence
from kmsi_lib.errors import EvidenceError
from kmsi_lib.evidence import (
    LEDGER_FILE,
    RECORD_FILE,
    RunMeta,
    append_ledger,
    entry_hash,
    known_secrets,
    read_ledger,
    record_run,
    scan_for_secrets,
    verify,
)

CANARY = "canary-TOKEN-0123456789abcdefXYZ"
# Fake PEM armour, assembled so that no literal key header sits in the repository.
BEGIN, END = PEM_BEGIN, PEM_END


def _meta(run_id: str, change_id: str = "CHG-1", mode: str = "plan") -> RunMeta:
    return RunMeta(
        run_id=run_id,
        change_id=change_id,
        mode=mode,
        procedure="post_auth",
        notebook="notebooks/20_post_auth.ipynb",
        template_sha256="ab" * 32,
        parameters={"policy_name": "Staff apps"},
        started_at="2026-11-29T05:00:00Z",
        finished_at="2026-11-29T05:00:05Z",
        operator="alice",
        org_url="http://127.0.0.1:1",
    )


def _stage(root: Path, run_id: str, result: dict[str, object] | None, text: str = "ok") -> Path:
    staging = root / ".staging" / run_id
    staging.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("print('hi')"))
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    nbformat.write(nb, str(staging / "notebook.ipynb"))
    if result is not None:
        evidence.write_result(staging, result)
    return staging


RESULT = {
    "procedure": "post_auth",
    "mode": "apply",
    "change_id": "CHG-1",
    "params": {"policy_name": "Staff apps"},
    "org": {"url": "http://127.0.0.1:1", "pipeline": "idx"},
    "plan": {
        "procedure": "post_auth",
        "changes": [{"action": "update", "ref": {"id": "rul1"}, "before": {"a": 1}, "diffs": []}],
    },
    "apply_result": {"before_state": [{"ref": {"id": "rul1"}, "before": {"a": 1}}]},
    "verification": {"ok": True, "checks": []},
    "journal": [{"method": "GET", "url": "/api/v1/policies", "status": 200}],
    "error": None,
    "outcome": "applied",
}


@pytest.fixture(scope="module")
def _three_runs_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("evidence")
    for i in range(3):
        record_run(root, _stage(root, f"run-{i}", RESULT), _meta(f"run-{i}"), succeeded=True)
    return root


@pytest.fixture
def three_runs(_three_runs_template: Path, tmp_path: Path) -> Path:
    """An evidence root holding three recorded runs (a fresh copy per test)."""
    root = tmp_path / "evidence"
    shutil.copytree(_three_runs_template, root)
    return root


def test_record_run_writes_record_html_and_ledger(tmp_path: Path) -> None:
    """A recorded run has the notebook, its HTML, result and a record whose files match."""
    rec = record_run(
        tmp_path, _stage(tmp_path, "r1", RESULT), _meta("r1", mode="apply"), succeeded=True
    )
    assert rec.run_dir == tmp_path / "CHG-1" / "r1"
    assert sorted(p.name for p in rec.run_dir.iterdir()) == [
        "notebook.html",
        "notebook.ipynb",
        RECORD_FILE,
        "result.json",
    ]
    record = json.loads((rec.run_dir / RECORD_FILE).read_text())
    assert record["status"] == "succeeded" and record["outcome"] == "applied"
    assert record["org"] == {
        "url": "http://127.0.0.1:1",
        "pipeline": "idx",
        "type": "Identity Engine",
    }
    assert record["before_state"] == [{"ref": {"id": "rul1"}, "before": {"a": 1}}]
    assert record["verification"]["ok"] is True
    assert record["journal"][0]["url"] == "/api/v1/policies"
    assert set(record["files"]) == {"notebook.html", "notebook.ipynb", "result.json"}
    for name, digest in record["files"].items():
        assert digest == hashlib.sha256((rec.run_dir / name).read_bytes()).hexdigest(), name
    assert "<html" in (rec.run_dir / "notebook.html").read_text().lower()
    (entry,) = read_ledger(tmp_path)
    assert entry["seq"] == 1 and entry["prev_hash"] == evidence.GENESIS_HASH
    assert entry["hash"] == entry_hash(entry["prev_hash"], entry)
    assert entry["files"][RECORD_FILE] == entry["record_sha256"]
    assert not (tmp_path / ".staging" / "r1").exists()
    assert verify(tmp_path).ok


def test_failed_run_without_result_is_recorded_as_failed(tmp_path: Path) -> None:
    """A notebook that died before writing result.json still leaves failed evidence."""
    rec = record_run(
        tmp_path,
        _stage(tmp_path, "r1", None),
        _meta("r1"),
        succeeded=False,
        error={"type": "PapermillExecutionError", "message": "boom"},
    )
    assert rec.record is not None
    assert rec.record["status"] == "failed" and rec.record["outcome"] == "failed"
    assert rec.record["error"]["message"] == "boom"
    assert rec.record["result_reported"] is False
    assert read_ledger(tmp_path)[0]["outcome"] == "failed"
    assert verify(tmp_path).ok


def _header_of(page: str) -> str:
    """The evidence banner: first thing in the body, before the notebook's cells."""
    body = page.split("<body", 1)[1].split(">", 1)[1]
    assert body.startswith('<div class="kmsi-evidence-header"'), body[:200]
    return body.split("</div>", 1)[0]


def test_html_opens_with_the_runs_record(tmp_path: Path) -> None:
    """A reviewer opening notebook.html sees run, change, outcome, operator, org and runbook
    first; the values match record.json, and text from the run is escaped."""
    meta = dataclasses.replace(_meta("r1", mode="apply"), operator="alice<script>")
    rec = record_run(tmp_path, _stage(tmp_path, "r1", RESULT), meta, succeeded=True)
    assert rec.run_dir is not None and rec.record is not None
    header = _header_of((rec.run_dir / "notebook.html").read_text())
    for value in (
        "r1",
        "CHG-1",
        "post_auth / apply",
        "succeeded / applied",
        "passed",
        "2026-11-29T05:00:00Z / 2026-11-29T05:00:05Z",
        "http://127.0.0.1:1 (Identity Engine)",
        "notebooks/20_post_auth.ipynb",
        rec.record["notebook"]["template_sha256"],
        "kmsi evidence verify",
    ):
        assert value in header, value
    assert "alice&lt;script&gt;" in header and "<script>" not in header
    assert "#1b5e20" in header  # green: succeeded and verified
    assert verify(tmp_path).ok  # the banner is in the hashed file


def test_html_header_of_a_failed_run_says_so(tmp_path: Path) -> None:
    """A failed run's banner is red and names the error; an approved plan is named too."""
    approved = {"run_id": "plan-1", "record_sha256": "cd" * 32, "path": "x", "fingerprint": "f"}
    meta = dataclasses.replace(_meta("r2"), approved_plan=approved)
    failed = {
        **RESULT,
        "outcome": "failed",
        "verification": {"ok": False, "checks": []},
        "error": {"step": "verify", "type": "KmsiError", "message": "1 of 3 checks"},
    }
    rec = record_run(tmp_path, _stage(tmp_path, "r2", failed), meta, succeeded=False)
    assert rec.run_dir is not None
    header = _header_of((rec.run_dir / "notebook.html").read_text())
    assert "failed / failed" in header and "FAILED" in header
    assert "KmsiError: 1 of 3 checks" in header and "#b3261e" in header
    assert "run plan-1, record sha256 " + "cd" * 32 in header


def _edit_file(root: Path) -> None:
    path = root / "CHG-1" / "run-1" / "result.json"
    path.write_text(path.read_text().replace("applied", "verified"))


def _edit_record(root: Path) -> None:
    path = root / "CHG-1" / "run-1" / RECORD_FILE
    path.write_text(path.read_text().replace('"alice"', '"mallory"'))


def _remove_file(root: Path) -> None:
    (root / "CHG-1" / "run-0" / "notebook.html").unlink()


def _add_file(root: Path) -> None:
    (root / "CHG-1" / "run-2" / "extra.txt").write_text("added later")


def _remove_run(root: Path) -> None:
    shutil.rmtree(root / "CHG-1" / "run-1")


def _add_run(root: Path) -> None:
    (root / "CHG-9" / "forged").mkdir(parents=True)
    (root / "CHG-9" / "forged" / RECORD_FILE).write_text("{}")


def _add_root_file(root: Path) -> None:
    (root / "CHG-1-approval.json").write_text('{"approved": true}')


def _point_entry_outside(root: Path) -> None:
    """A rewritten chain whose run path escapes the evidence root: never followed."""
    outside = root.parent / "outside"
    shutil.copytree(root / "CHG-1" / "run-2", outside)
    lines = _lines(root)
    entries = [json.loads(line) for line in lines]
    entries[2]["path"] = str(outside)
    entries[2]["hash"] = entry_hash(entries[2]["prev_hash"], entries[2])
    shutil.rmtree(root / "CHG-1" / "run-2")
    _write_lines(root, [json.dumps(e) for e in entries])


def _lines(root: Path) -> list[str]:
    return (root / LEDGER_FILE).read_text().splitlines()


def _write_lines(root: Path, lines: list[str]) -> None:
    (root / LEDGER_FILE).write_text("\n".join(lines) + "\n")


def _reorder_ledger(root: Path) -> None:
    lines = _lines(root)
    _write_lines(root, [lines[1], lines[0], lines[2]])


def _remove_ledger_line(root: Path) -> None:
    lines = _lines(root)
    _write_lines(root, [lines[0], lines[2]])


def _edit_ledger_line(root: Path) -> None:
    lines = _lines(root)
    entry = json.loads(lines[1])
    entry["outcome"] = "verified"
    _write_lines(root, [lines[0], json.dumps(entry), lines[2]])


def _rehash_edited_line(root: Path) -> None:
    """Edit a line and recompute its hash: the next line's prev_hash no longer matches."""
    lines = _lines(root)
    entry = json.loads(lines[0])
    entry["change_id"] = "CHG-2"
    entry["hash"] = entry_hash(entry["prev_hash"], entry)
    _write_lines(root, [json.dumps(entry), *lines[1:]])


def _truncate_ledger(root: Path) -> None:
    """Dropping the last line leaves that run's directory unlisted."""
    _write_lines(root, _lines(root)[:2])


@pytest.mark.parametrize(
    ("tamper", "kind"),
    [
        pytest.param(_edit_file, "changed-file", id="edit-file"),
        pytest.param(_edit_record, "changed-file", id="edit-record"),
        pytest.param(_remove_file, "missing-file", id="remove-file"),
        pytest.param(_add_file, "unlisted-file", id="add-file"),
        pytest.param(_remove_run, "missing-run", id="remove-run"),
        pytest.param(_add_run, "unlisted-run", id="add-run"),
        pytest.param(_reorder_ledger, "chain", id="reorder-ledger"),
        pytest.param(_remove_ledger_line, "chain", id="remove-ledger-line"),
        pytest.param(_edit_ledger_line, "hash", id="edit-ledger-line"),
        pytest.param(_rehash_edited_line, "chain", id="edit-and-rehash-ledger-line"),
        pytest.param(_truncate_ledger, "unlisted-run", id="truncate-ledger"),
        pytest.param(_add_root_file, "unlisted-file", id="add-file-at-root"),
        pytest.param(_point_entry_outside, "missing-run", id="entry-path-outside-root"),
    ],
)
def test_verify_detects_tampering(
    three_runs: Path, tamper: Callable[[Path], None], kind: str
) -> None:
    """Every kind of edit, removal, addition or reordering is reported by kind."""
    assert verify(three_runs).ok
    tamper(three_runs)
    report = verify(three_runs)
    assert not report.ok
    assert kind in {p.kind for p in report.problems}, report.to_text()


def test_verify_reports_unreadable_ledger(three_runs: Path) -> None:
    with (three_runs / LEDGER_FILE).open("a") as fh:
        fh.write("not json\n")
    report = verify(three_runs)
    assert [p.kind for p in report.problems] == ["unreadable"]


def test_empty_root_verifies(tmp_path: Path) -> None:
    assert verify(tmp_path / "nothing-here").ok


def test_staging_is_ignored_by_verify(three_runs: Path) -> None:
    """A run still in progress (staging) is not a forged run."""
    (three_runs / ".staging" / "in-progress").mkdir(parents=True)
    assert verify(three_runs).ok


def test_append_ledger_chains_entries(tmp_path: Path) -> None:
    first = append_ledger(tmp_path, {"kind": "note", "run_id": "a"})
    second = append_ledger(tmp_path, {"kind": "note", "run_id": "b"})
    assert (first["seq"], second["seq"]) == (1, 2)
    assert second["prev_hash"] == first["hash"]
    assert verify(tmp_path).ok


def test_concurrent_appends_from_several_processes_keep_one_chain(tmp_path: Path) -> None:
    """Four processes appending at once (the ledger's file lock) never fork or break the chain."""
    jobs = [(tmp_path, {"kind": "note", "run_id": f"r{i}"}) for i in range(80)]
    # spawn, not fork: forking a test process that may run threads is deprecated
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        pool.starmap(append_ledger, jobs, chunksize=1)
    entries = read_ledger(tmp_path)
    assert [e["seq"] for e in entries] == list(range(1, 81))
    assert sorted(e["run_id"] for e in entries) == sorted(f"r{i}" for i in range(80))
    assert verify(tmp_path).ok
    assert evidence.read_anchor(tmp_path) == {"seq": 80, "hash": entries[-1]["hash"]}


@pytest.mark.parametrize(
    ("file", "text", "read", "said"),
    [
        pytest.param(
            evidence.ANCHOR_FILE, "{", evidence.read_anchor, "unreadable anchor", id="anchor"
        ),
        pytest.param(
            evidence.RESULT_FILE, "[1,", evidence.read_result, "unreadable result.json", id="result"
        ),
        pytest.param(
            RECORD_FILE,
            "not json",
            evidence.load_record,
            "unreadable evidence record",
            id="record-not-json",
        ),
        pytest.param(
            None, "", evidence.load_record, "no such evidence record", id="record-missing"
        ),
    ],
)
def test_an_unreadable_evidence_file_is_an_error_naming_it(
    tmp_path: Path, file: str | None, text: str, read: Callable[[Path], object], said: str
) -> None:
    """Evidence files that are not JSON (or not there) raise EvidenceError naming the file."""
    if file is not None:
        (tmp_path / file).write_text(text, encoding="utf-8")
    with pytest.raises(EvidenceError) as err:
        read(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / (file or RECORD_FILE)}: {said}")


# ---------------------------------------------------------------- secret scan


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(f"Authorization: SSWS {CANARY}", id="raw"),
        pytest.param(json.dumps({"t": CANARY}), id="json"),
        pytest.param(urllib.parse.quote(f"x={CANARY}&y"), id="url-encoded"),
        pytest.param(_b64(CANARY), id="base64"),
        pytest.param(_b64(f"client:{CANARY}"), id="base64-embedded-offset-1"),
        pytest.param(_b64(f"ab:{CANARY}:zz"), id="base64-embedded-offset-0"),
        pytest.param(_b64(f"a:{CANARY}"), id="base64-embedded-offset-2"),
        pytest.param(base64.urlsafe_b64encode(CANARY.encode()).decode(), id="base64url"),
    ],
)
def test_scan_finds_secret_in_every_encoding(tmp_path: Path, content: str) -> None:
    path = tmp_path / "f.txt"
    path.write_text(f"before {content} after")
    hits = scan_for_secrets([path], [CANARY], base=tmp_path)
    # the known value is found as such (an SSWS header is also a shape hit)
    assert [h.file for h in hits if h.form not in evidence.SHAPE_KINDS] == ["f.txt"]
    assert CANARY not in str(hits[0])


def test_scan_finds_pem_body_line_in_notebook_output(tmp_path: Path) -> None:
    """One line of a private key printed into a notebook is a leak."""
    pem = f"{BEGIN}\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n{END}"
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"text": ["BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n"]}))
    # the line is found as part of the known key, and by its shape (a long random run)
    assert [h.form for h in scan_for_secrets([path], [pem])] == ["pem-line", "random"]


def test_scan_ignores_clean_files_and_scans_captured_output(tmp_path: Path) -> None:
    path = tmp_path / "clean.txt"
    path.write_text("nothing to see: SSWS [secure]")
    assert scan_for_secrets([path], [CANARY]) == []
    hits = scan_for_secrets([path], [CANARY], extra={"<stderr>": CANARY.encode()})
    assert [h.file for h in hits] == ["<stderr>"]


def _fake_jwt(header: dict[str, str]) -> str:
    """A token of the shape an authorization server issues (made up at run time)."""

    def seg(value: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"sub": "kernel", "scp": ["okta.policies.read"]}
    return f"{seg(header)}.{seg(claims)}.c2lnbmF0dXJlLWJ5dGVz"


_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"


@pytest.mark.parametrize(
    ("content", "form"),
    [
        pytest.param(_fake_jwt({"alg": "RS256", "kid": "k1"}), "jwt", id="jwt"),
        pytest.param(
            json.dumps({"access_token": _fake_jwt({"alg": "ES256"})}), "jwt", id="jwt-in-json"
        ),
        pytest.param(f"Authorization: SSWS {fake_token()}", "authorization", id="ssws"),
        pytest.param(
            json.dumps({"authorization": f"Bearer opaque.{fake_token('', 24)}"}),
            "authorization",
            id="bearer-opaque",
        ),
        pytest.param(f"DPoP\t{fake_token('OPAQUE', 30)}", "authorization", id="dpop-escaped"),
        pytest.param(
            json.dumps({"text": [f"{BEGIN}\n", f"{_KEY_BODY}\n", f"{END}\n"]}),
            "pem-private-key",
            id="pem-json-escaped",
        ),
        pytest.param(
            f"{BEGIN}\n{_KEY_BODY}\n{END}".replace("PRIVATE", "RSA PRIVATE"),
            "pem-private-key",
            id="pem-rsa",
        ),
    ],
)
def test_scan_finds_unknown_credentials_by_shape(tmp_path: Path, content: str, form: str) -> None:
    """A token the runner never saw (issued to the kernel by OAuth) is found by its shape."""
    path = tmp_path / "nb.ipynb"
    path.write_text(f"before {content} after")
    hits = scan_for_secrets([path], [], base=tmp_path)
    assert [(h.file, h.form) for h in hits] == [("nb.ipynb", form)]
    assert content not in str(hits[0]) and form not in ("raw",)


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(
            "send SSWS <token> or Bearer [redacted] or SSWS ${OKTA_API_TOKEN}", id="prose"
        ),
        pytest.param("Bearer tokens are short-lived; token_type: Bearer", id="words"),
        pytest.param(f"a key file starts with {BEGIN} and is never printed", id="pem-armour-only"),
        pytest.param("eyJub3QiOiAiYSBqd3QifQ.c29tZXRoaW5nIGVsc2U.eA", id="jwt-shape-without-alg"),
        pytest.param("Authorization: SSWS ***", id="redacted-header"),
    ],
)
def test_shape_scan_ignores_look_alikes(tmp_path: Path, content: str) -> None:
    path = tmp_path / "f.txt"
    path.write_text(content)
    assert scan_for_secrets([path], []) == []


def test_unknown_token_in_run_quarantines_it(tmp_path: Path) -> None:
    """A shape hit quarantines exactly like a known value; the ledger names file and kind only."""
    token = _fake_jwt({"alg": "RS256"})
    staging = _stage(tmp_path, "oauth", RESULT, text=f"got access token {token}")
    rec = record_run(tmp_path, staging, _meta("oauth"), succeeded=True, secrets=[CANARY])
    assert rec.quarantined and rec.run_dir is None
    assert {h.form for h in rec.secret_hits} == {"jwt"}
    assert "notebook.ipynb" in {h.file for h in rec.secret_hits}
    assert not staging.exists() and not (tmp_path / "CHG-1" / "oauth").exists()
    entry = read_ledger(tmp_path)[-1]
    assert entry["kind"] == "quarantined" and entry["files"] == {}
    assert "notebook.ipynb (a JWT-shaped token)" in entry["reason"]
    assert token not in (tmp_path / LEDGER_FILE).read_text()
    assert verify(tmp_path).ok


def test_known_secrets_from_environment(tmp_path: Path) -> None:
    """Token variables, key files and the private members of a JWK are all known secrets."""
    key_file = tmp_path / "key.pem"
    key_file.write_text(f"{BEGIN}\nAAAABBBBCCCCDDDDEEEE\n{END}\n")
    jwk = json.dumps({"kty": "RSA", "n": "public-modulus", "e": "AQAB", "d": "private-exponent-x"})
    env = {
        "OKTA_ORG_URL": "http://127.0.0.1:1",
        "OKTA_CLIENT_TOKEN": "client-token-abcdefgh",
        "OKTA_PRIVATE_KEY_FILE": str(key_file),
        "OKTA_PRIVATE_KEY_JWK": jwk,
        "OKTA_CLIENT_ID": "0oa-not-secret",
        "HOME": "/home/someone",
    }
    secrets = known_secrets(env)
    assert "client-token-abcdefgh" in secrets
    assert key_file.read_text().strip() in secrets
    assert "private-exponent-x" in secrets
    assert str(key_file) not in secrets
    assert "0oa-not-secret" not in secrets and "public-modulus" not in secrets


def test_secret_in_run_quarantines_it(tmp_path: Path) -> None:
    """A run whose files hold a secret is deleted; the ledger says so without the secret."""
    record_run(tmp_path, _stage(tmp_path, "good", RESULT), _meta("good"), succeeded=True)
    staging = _stage(tmp_path, "leaky", RESULT, text=f"token is {CANARY}")
    rec = record_run(tmp_path, staging, _meta("leaky"), succeeded=True, secrets=[CANARY])
    assert rec.quarantined and rec.run_dir is None
    assert not staging.exists() and not (tmp_path / "CHG-1" / "leaky").exists()
    entry = read_ledger(tmp_path)[-1]
    assert entry["kind"] == "quarantined" and entry["files"] == {}
    assert "notebook.ipynb" in entry["reason"]
    ledger_text = (tmp_path / LEDGER_FILE).read_text()
    assert CANARY not in ledger_text
    assert verify(tmp_path).ok


# ---------------------------------------------------------------- command line


def test_cli_list_and_verify(three_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["evidence", "list", "--root", str(three_runs)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["seq", "time", "change", "notebook", "mode", "outcome"]
    assert out[1].split() == [
        "1",
        "2026-11-29T05:00:05Z",
        "CHG-1",
        "20_post_auth.ipynb",
        "plan",
        "applied",
    ]
    assert len(out) == 4
    assert cli.main(["evidence", "verify", "--root", str(three_runs)]) == 0
    assert "intact: 3 ledger entries" in capsys.readouterr().out
    _edit_file(three_runs)
    assert cli.main(["evidence", "verify", "--root", str(three_runs)]) == 1
    out = capsys.readouterr().out
    assert "NOT intact" in out and "CHG-1/run-1/result.json" in out


def test_rewritten_ledger_is_caught_by_the_anchor_and_an_expected_hash(three_runs: Path) -> None:
    """Rewriting every line from a forged one keeps the chain valid; the anchor exposes it,
    and when the forger moves the anchor too, a copied hash still does."""
    pinned = read_ledger(three_runs)[1]["hash"]
    assert verify(three_runs, expect=[pinned]).ok
    entries = read_ledger(three_runs)
    (three_runs / LEDGER_FILE).write_text("")
    for entry in entries:
        fields = {k: v for k, v in entry.items() if k not in ("seq", "prev_hash", "hash")}
        if entry["seq"] == 2:
            fields["outcome"] = "no-op"
        append_ledger(three_runs, fields)
    report = verify(three_runs)
    assert [p.kind for p in report.problems] == ["anchor"]  # appending did not move the anchor
    assert "rewritten" in report.to_text()
    (three_runs / evidence.ANCHOR_FILE).unlink()
    assert [p.kind for p in verify(three_runs).problems] == ["anchor"]  # a missing anchor, too
    evidence.anchor_ledger(three_runs)  # the forger re-anchors: a consistent chain...
    assert verify(three_runs).ok
    report = verify(three_runs, expect=[pinned])
    assert [p.kind for p in report.problems] == ["anchor"]  # ...but not the copied hash
    assert cli.main(["evidence", "verify", "--root", str(three_runs), "--expect", pinned]) == 1


# ---------------------------------------------------------------- package layers

# Each module of kmsi_lib/evidence/ may import only these siblings (the drawing in its __init__).
LAYERS = {
    "hashing": set(),
    "scan": set(),
    "report": set(),
    "files": {"hashing"},
    "ledger": {"files", "hashing"},
    "verify": {"files", "hashing", "ledger"},
    "record": {"files", "hashing", "ledger", "report", "scan"},
    "cli": {"ledger", "verify"},
}


@pytest.mark.parametrize("module", sorted(LAYERS))
def test_evidence_modules_import_only_lower_layers(module: str) -> None:
    """No cycle inside the package: a module imports only the siblings drawn to its left."""
    import ast

    path = Path(evidence.__file__).with_name(f"{module}.py")
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source)
    siblings = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
    }
    assert siblings <= LAYERS[module], siblings - LAYERS[module]
    assert source.count("\n") <= 600
