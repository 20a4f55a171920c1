"""Evidence that is consumed is verified first: each tampering of a hostile tester is refused.

A real post-auth plan and its apply are recorded once (the runbooks against the
sandbox served over loopback) in one evidence root. Each test copies that root,
tampers with it as someone with write access to the evidence would (recomputing
every hash they can: plan digest, file hashes, record, ledger lines, anchor)
and runs ``kmsi run``: the apply of the approved plan, or the rollback of the
apply. Refused means exit 2, not one request to the org (the sandbox's request
log is empty), no run begun. Each scenario is tallied as the ``tamper_scenario``
user property; ``tests/conftest.py`` prints the count at the end.

Two scenarios are accepted, and the tests say so: a forger who rewrites the
ledger *and* its anchor, or appends a forged entry, is caught only by a head
hash copied earlier (``--expect``); see docs/RUNNING.md.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from procedure_support import sandbox_writes

from kmsi_lib import cli, evidence
from kmsi_lib.engine import model as _base
from kmsi_lib.runbooks import approval
from kmsi_lib.runbooks import run as runner

ROOT = Path(__file__).resolve().parent.parent
POST_AUTH = ROOT / "notebooks" / "20_post_auth.ipynb"
ROLLBACK = ROOT / "notebooks" / "90_rollback.ipynb"
CHANGE = "CHG-100"
# What the hostile tester wrote into the rule: one factor, re-authentication every 5 years.
WEAKENED = {"factorMode": "1FA", "reauthenticateIn": "PT43800H"}

pytestmark = pytest.mark.slow


def _env(mp: pytest.MonkeyPatch, sandbox: Any, url: str) -> None:
    for name in ("OKTA_CLIENT_ID", "OKTA_PRIVATE_KEY_FILE", "OKTA_PRIVATE_KEY_JWK"):
        mp.delenv(name, raising=False)
    mp.setenv("OKTA_ORG_URL", url)
    mp.setenv("OKTA_API_TOKEN", sandbox.token)


@dataclass
class Recorded:
    sandbox: Any
    url: str
    base: Path  # holds evidence/ with plan and apply recorded, and a note after them
    plan_id: str
    apply_id: str
    applied_state: dict[str, Any]


@pytest.fixture(scope="module")
def _recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    from kmsi_lib.sandbox import Sandbox

    sb = Sandbox(seed="default")
    base = tmp_path_factory.mktemp("tamper")
    root = base / "evidence"
    with sb.serve(port=0) as url, pytest.MonkeyPatch.context() as mp:
        _env(mp, sb, url)
        plan = runner.run_notebook(
            POST_AUTH,
            ROOT / "params" / "sandbox" / "post_auth.yaml",
            change_id=CHANGE,
            evidence_root=root,
            progress=False,
            timeout=120,
        )
        assert plan.exit_code == 0, plan.message
        applied = runner.run_notebook(
            POST_AUTH,
            ROOT / "params" / "sandbox" / "post_auth.yaml",
            mode="apply",
            change_id=CHANGE,
            approved_plan=plan.run_dir,
            evidence_root=root,
            progress=False,
            timeout=120,
        )
        assert applied.exit_code == 0, applied.message
        # a later entry, so that a forged line has lines after it to rewrite
        evidence.append_ledger(root, {"kind": "note", "run_id": "later", "change_id": CHANGE})
        yield Recorded(sb, url, base, plan.run_id, applied.run_id, sb.admin.snapshot())


@dataclass
class World:
    """A fresh copy of the recorded evidence, the sandbox (request log cleared), a scratch dir."""

    rec: Recorded
    root: Path
    scratch: Path
    head: str  # the ledger head the approver saw (what they copied into the ticket)
    capsys: pytest.CaptureFixture[str]

    @property
    def plan_dir(self) -> Path:
        return self.root / CHANGE / self.rec.plan_id

    @property
    def apply_dir(self) -> Path:
        return self.root / CHANGE / self.rec.apply_id


@pytest.fixture
def world(
    _recorded: Recorded,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> World:
    shutil.copytree(_recorded.base / "evidence", tmp_path / "evidence")
    _env(monkeypatch, _recorded.sandbox, _recorded.url)
    _recorded.sandbox.admin.reset("default")
    _recorded.sandbox.admin.clear_requests()
    (tmp_path / "scratch").mkdir()
    head = evidence.read_ledger(tmp_path / "evidence")[-1]["hash"]
    return World(_recorded, tmp_path / "evidence", tmp_path / "scratch", head, capsys)


# ---------------------------------------------------------------- the forger's tools


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _dump(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _weaken_plan(plan: dict[str, Any]) -> None:
    """Every rule the plan writes gets one factor and a 5-year session; the digest is redone."""
    for change in plan["changes"]:
        method = ((change.get("after") or {}).get("actions") or {}).get("appSignOn", {})
        if "verificationMethod" in method:
            method["verificationMethod"].update(WEAKENED)
    content = {k: v for k, v in plan.items() if k != "digest"}
    plan["digest"] = _base._sha256_json(content)


def _forge_plan(run_dir: Path) -> None:
    for name in ("record.json", "result.json"):
        data = _load(run_dir / name)
        _weaken_plan(data["plan"])
        _dump(run_dir / name, data)


def _forge_before_state(run_dir: Path) -> None:
    """The rule's recorded before-state, weakened: what a rollback would then 'restore'."""
    for name in ("record.json", "result.json"):
        data = _load(run_dir / name)
        for record in data["apply_result"]["before_state"]:
            if record["ref"]["kind"] == "rule" and record.get("before"):
                record["before"]["actions"]["appSignOn"]["verificationMethod"].update(WEAKENED)
        _dump(run_dir / name, data)


def _rechain(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    prev = evidence.GENESIS_HASH
    for seq, entry in enumerate(entries, start=1):
        entry.update(seq=seq, prev_hash=prev)
        entry["hash"] = prev = evidence.entry_hash(prev, entry)
    return entries


def _write_ledger(root: Path, entries: list[dict[str, Any]]) -> None:
    (root / evidence.LEDGER_FILE).write_text(
        "".join(evidence.canonical_json(e) + "\n" for e in _rechain(entries))
    )


def _rehash(root: Path, run_dir: Path) -> None:
    """Make the run's record and ledger line agree with its edited files; rewrite the chain."""
    record = _load(run_dir / "record.json")
    record["files"] = evidence.file_digests(run_dir, exclude=["record.json"])
    _dump(run_dir / "record.json", record)
    entries = evidence.read_ledger(root)
    rel = run_dir.relative_to(root).as_posix()
    for entry in entries:
        if entry.get("path") == rel:
            entry["files"] = evidence.file_digests(run_dir)
            entry["record_sha256"] = entry["files"]["record.json"]
    _write_ledger(root, entries)


def _forged_root(world: World, run_dir: Path, forge: Callable[[Path], None]) -> Path:
    """The run copied into a root of its own, forged, with a one-line ledger (and anchor)."""
    other = world.scratch / "evidence"
    copy = other / CHANGE / run_dir.name
    shutil.copytree(run_dir, copy)
    forge(copy)
    record = _load(copy / "record.json")
    record["files"] = evidence.file_digests(copy, exclude=["record.json"])
    _dump(copy / "record.json", record)
    (entry,) = [
        e for e in evidence.read_ledger(world.root) if e.get("path") == f"{CHANGE}/{run_dir.name}"
    ]
    files = evidence.file_digests(copy)
    fields = {k: v for k, v in entry.items() if k not in ("seq", "prev_hash", "hash")}
    evidence.append_ledger(other, {**fields, "files": files, "record_sha256": files["record.json"]})
    assert evidence.verify(other).ok, "the forger's root verifies on its own"
    return copy


def _append_forged_run(world: World, run_dir: Path, forge: Callable[[Path], None]) -> Path:
    """A forged copy of the run under a new run id, appended to the ledger the proper way."""
    new_id = run_dir.name[:-6] + "f0f0f0"
    copy = run_dir.parent / new_id
    shutil.copytree(run_dir, copy)
    forge(copy)
    record = _load(copy / "record.json")
    record["run_id"] = new_id
    record["files"] = evidence.file_digests(copy, exclude=["record.json"])
    _dump(copy / "record.json", record)
    (entry,) = [e for e in evidence.read_ledger(world.root) if e.get("run_id") == run_dir.name]
    files = evidence.file_digests(copy)
    fields = {k: v for k, v in entry.items() if k not in ("seq", "prev_hash", "hash")}
    evidence.append_ledger(
        world.root,
        {
            **fields,
            "run_id": new_id,
            "path": f"{CHANGE}/{new_id}",
            "files": files,
            "record_sha256": files["record.json"],
        },
    )
    assert evidence.verify(world.root).ok, "an appended forgery verifies"
    return copy


def _link_outside(world: World, path: Path) -> None:
    """Move ``path`` out of the evidence root and leave a symbolic link to it in its place."""
    target = world.scratch / "outside" / path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), str(target))
    path.symlink_to(target, target_is_directory=target.is_dir())


# ---------------------------------------------------------------- running and tallying


@dataclass
class Attempt:
    """What ``kmsi run`` did with the tampered evidence."""

    code: int
    err: str
    requests: list[dict[str, Any]]
    writes: list[str]
    begun: list[Path]

    @property
    def refused(self) -> bool:
        """Exit 2 before the kernel: not one request to the org, no run begun."""
        return self.code == runner.EXIT_USAGE and not self.requests and not self.begun


def _kmsi_run(world: World, request: pytest.FixtureRequest, argv: list[str], root: Path) -> Attempt:
    staging = root / evidence.STAGING_DIR
    staged = set(staging.glob("*"))
    try:
        args = cli.build_parser(["run"]).parse_args(
            ["run", *argv, "--evidence-root", str(root), "--no-progress", "--timeout", "120"]
        )
        code = runner.run_main(args)
    except SystemExit as exc:  # argparse: an option this version does not know
        code = int(exc.code or 0) + 100
    err = world.capsys.readouterr().err
    sb = world.rec.sandbox
    attempt = Attempt(
        code, err, sb.admin.requests(), sandbox_writes(sb), sorted(set(staging.glob("*")) - staged)
    )
    name = request.node.callspec.id if hasattr(request.node, "callspec") else request.node.name
    request.node.user_properties.append(("tamper_scenario", (name, attempt.refused)))
    return attempt


def _apply(
    world: World,
    request: pytest.FixtureRequest,
    approved: Path,
    *,
    root: Path | None = None,
    change: str = CHANGE,
    expect: tuple[str, ...] = (),
) -> Attempt:
    argv = [
        str(POST_AUTH),
        "-f",
        str(ROOT / "params" / "sandbox" / "post_auth.yaml"),
        "--mode",
        "apply",
        "--change",
        change,
        "--approved-plan",
        str(approved),
    ]
    argv += [a for h in expect for a in ("--expect", h)]
    return _kmsi_run(world, request, argv, root or world.root)


def _rollback(
    world: World, request: pytest.FixtureRequest, source: Path, *, expect: tuple[str, ...] = ()
) -> Attempt:
    params = world.scratch / "rollback.yaml"
    params.write_text(json.dumps({"apply_result": str(source), "force_objects": []}))
    argv = [str(ROLLBACK), "-f", str(params), "--mode", "apply", "--change", CHANGE]
    argv += [a for h in expect for a in ("--expect", h)]
    return _kmsi_run(world, request, argv, world.root)


def _assert_refused(attempt: Attempt, words: str) -> None:
    assert attempt.writes == [], f"the org was written: {attempt.writes}"
    assert attempt.requests == [], "the org was read before the evidence was refused"
    assert attempt.code == runner.EXIT_USAGE, attempt.err
    assert attempt.begun == [], "a run was begun"
    assert words in attempt.err, attempt.err


# ---------------------------------------------------------------- approved plans


def _forged_elsewhere(w: World) -> tuple[Path, dict[str, Any]]:
    return _forged_root(w, w.plan_dir, _forge_plan), {}


def _forged_root_as_evidence_root(w: World) -> tuple[Path, dict[str, Any]]:
    forged = _forged_root(w, w.plan_dir, _forge_plan)
    return forged, {"root": forged.parent.parent, "expect": (w.head,)}


def _forged_in_place(w: World) -> tuple[Path, dict[str, Any]]:
    _forge_plan(w.plan_dir)
    _rehash(w.root, w.plan_dir)
    return w.plan_dir, {}


def _forged_in_place_and_anchored(w: World) -> tuple[Path, dict[str, Any]]:
    _forged_in_place(w)
    evidence.anchor_ledger(w.root)
    return w.plan_dir, {"expect": (w.head,)}


def _forged_anchor_deleted(w: World) -> tuple[Path, dict[str, Any]]:
    _forged_in_place(w)
    (w.root / evidence.ANCHOR_FILE).unlink()
    return w.plan_dir, {}


def _last_lines_removed(w: World) -> tuple[Path, dict[str, Any]]:
    _write_ledger(w.root, evidence.read_ledger(w.root)[:1])
    shutil.rmtree(w.apply_dir)  # and the apply's evidence with it
    return w.plan_dir, {}


def _middle_line_removed_and_rechained(w: World) -> tuple[Path, dict[str, Any]]:
    entries = evidence.read_ledger(w.root)
    _write_ledger(w.root, [entries[0], entries[2]])
    shutil.rmtree(w.apply_dir)
    return w.plan_dir, {}


def _lines_reordered_and_rechained(w: World) -> tuple[Path, dict[str, Any]]:
    entries = evidence.read_ledger(w.root)
    _write_ledger(w.root, [entries[1], entries[0], entries[2]])
    return w.plan_dir, {}


def _records_swapped(w: World) -> tuple[Path, dict[str, Any]]:
    """The apply's record put in the plan's place and back, every hash and the anchor redone."""
    plan_record, apply_record = w.plan_dir / "record.json", w.apply_dir / "record.json"
    saved = plan_record.read_bytes()
    plan_record.write_bytes(apply_record.read_bytes())
    apply_record.write_bytes(saved)
    _rehash(w.root, w.plan_dir)
    _rehash(w.root, w.apply_dir)
    evidence.anchor_ledger(w.root)
    return w.plan_dir, {}


def _other_change(w: World) -> tuple[Path, dict[str, Any]]:
    return w.plan_dir, {"change": "CHG-200"}


def _record_linked_outside(w: World) -> tuple[Path, dict[str, Any]]:
    _link_outside(w, w.plan_dir / "record.json")
    return w.plan_dir, {}


def _run_dir_linked_outside(w: World) -> tuple[Path, dict[str, Any]]:
    _link_outside(w, w.plan_dir)
    return w.plan_dir, {}


def _appended_after_the_approval(w: World) -> tuple[Path, dict[str, Any]]:
    return _append_forged_run(w, w.plan_dir, _forge_plan), {"expect": (w.head,)}


def _staged_copy(w: World) -> tuple[Path, dict[str, Any]]:
    staged = w.root / evidence.STAGING_DIR / w.plan_dir.name
    shutil.copytree(w.plan_dir, staged)
    _forge_plan(staged)
    return staged, {}


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        pytest.param(
            _forged_elsewhere,
            "is not in the evidence root",
            id="plan-forged-in-another-root-with-its-own-ledger",
        ),
        pytest.param(
            _forged_root_as_evidence_root,
            "expected hash",
            id="forged-root-used-as-evidence-root-but-expect-pins-the-real-head",
        ),
        pytest.param(
            _forged_in_place, "the ledger was rewritten", id="plan-forged-in-place-ledger-rewritten"
        ),
        pytest.param(
            _forged_in_place_and_anchored,
            "expected hash",
            id="plan-forged-ledger-and-anchor-rewritten-expect-given",
        ),
        pytest.param(_forged_anchor_deleted, "no anchor", id="plan-forged-anchor-deleted"),
        pytest.param(_last_lines_removed, "removed from its end", id="last-ledger-lines-removed"),
        pytest.param(
            _middle_line_removed_and_rechained,
            "[anchor]",
            id="ledger-line-removed-and-chain-recomputed",
        ),
        pytest.param(
            _lines_reordered_and_rechained,
            "the ledger was rewritten",
            id="ledger-lines-reordered-and-chain-recomputed",
        ),
        pytest.param(
            _records_swapped,
            "a record moved between runs",
            id="records-swapped-between-runs-all-hashes-redone",
        ),
        pytest.param(
            _other_change, "recorded under the change 'CHG-100'", id="plan-of-another-change"
        ),
        pytest.param(
            _record_linked_outside, "is a symbolic link", id="record-is-a-link-out-of-the-root"
        ),
        pytest.param(
            _run_dir_linked_outside,
            "is a symbolic link",
            id="run-directory-is-a-link-out-of-the-root",
        ),
        pytest.param(
            _appended_after_the_approval,
            "recorded after the ledger head",
            id="forged-run-appended-after-the-head-the-approver-saw",
        ),
        pytest.param(_staged_copy, "run in progress", id="forged-copy-in-staging"),
    ],
)
def test_tampered_approved_plan_is_refused_before_any_request(
    world: World,
    request: pytest.FixtureRequest,
    tamper: Callable[[World], tuple[Path, dict[str, Any]]],
    words: str,
) -> None:
    approved, options = tamper(world)
    _assert_refused(_apply(world, request, approved, **options), words)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(_forged_in_place_and_anchored, id="ledger-and-anchor-rewritten"),
        pytest.param(_appended_after_the_approval, id="forged-run-appended"),
    ],
)
def test_the_limit_of_a_local_chain_without_expect(
    world: World,
    request: pytest.FixtureRequest,
    tamper: Callable[[World], tuple[Path, dict[str, Any]]],
) -> None:
    """Whoever can write the ledger and its anchor can forge a consistent one: only a head
    hash copied elsewhere (``--expect``) catches it (docs/RUNNING.md says so)."""
    approved, _ = tamper(world)
    plan = approval.check_approved_plan(
        approved,
        procedure="post_auth",
        params={
            "apps": {"labels": ["Slack", "Zoom", "Okta Dashboard"]},
            "prompt_frequency": "P7D",
            "reauthenticate_in": "PT12H",
            "acknowledge_reach": 16,
        },
        org_url=world.rec.url,
        evidence_root=world.root,
        change_id=CHANGE,
    ).plan
    assert "1FA" in json.dumps(plan), "accepted: the forgery is consistent"
    request.node.user_properties.append(
        ("tamper_scenario", (f"limit:{request.node.callspec.id}", False))
    )


def test_the_approver_s_head_accepts_the_untouched_plan(world: World) -> None:
    """--expect with the head the approver saw, and the ledger grown since: accepted."""
    evidence.append_ledger(world.root, {"kind": "note", "run_id": "even-later"})
    plan = approval.check_approved_plan(
        world.plan_dir,
        procedure="post_auth",
        params=_load(world.plan_dir / "record.json")["parameters"],
        org_url=world.rec.url,
        evidence_root=world.root,
        change_id=CHANGE,
        expect=[world.head],
    ).plan
    assert plan["digest"] == _load(world.plan_dir / "record.json")["plan"]["digest"]


# ---------------------------------------------------------------- rollback


def _restore_applied(world: World) -> None:
    world.rec.sandbox.admin.load(world.rec.applied_state)
    world.rec.sandbox.admin.clear_requests()


def _before_state_edited(w: World) -> tuple[Path, dict[str, Any]]:
    _forge_before_state(w.apply_dir)
    return w.apply_dir / "result.json", {}


def _before_state_edited_and_rehashed(w: World) -> tuple[Path, dict[str, Any]]:
    _forge_before_state(w.apply_dir)
    _rehash(w.root, w.apply_dir)
    return w.apply_dir / "result.json", {}


def _apply_forged_elsewhere(w: World) -> tuple[Path, dict[str, Any]]:
    return _forged_root(w, w.apply_dir, _forge_before_state) / "result.json", {}


def _a_plan_run(w: World) -> tuple[Path, dict[str, Any]]:
    return w.plan_dir / "result.json", {}


def _result_linked_outside(w: World) -> tuple[Path, dict[str, Any]]:
    _link_outside(w, w.apply_dir / "result.json")
    return w.apply_dir / "result.json", {}


def _head_not_in_ledger(w: World) -> tuple[Path, dict[str, Any]]:
    return w.apply_dir / "result.json", {"expect": ("ab" * 32,)}


def _saved_copy(w: World) -> tuple[Path, dict[str, Any]]:
    copy = w.scratch / "result.json"  # untouched, yet not evidence: refused as it is
    shutil.copy(w.apply_dir / "result.json", copy)
    return copy, {}


def _apply_appended_after_the_approval(w: World) -> tuple[Path, dict[str, Any]]:
    forged = _append_forged_run(w, w.apply_dir, _forge_before_state)
    return forged / "result.json", {"expect": (w.head,)}


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        pytest.param(
            _before_state_edited,
            "result.json: edited",
            id="rollback-before-state-edited-in-result-json",
        ),
        pytest.param(
            _before_state_edited_and_rehashed,
            "the ledger was rewritten",
            id="rollback-before-state-edited-ledger-rewritten",
        ),
        pytest.param(
            _apply_forged_elsewhere,
            "is not in the evidence root",
            id="rollback-of-an-apply-forged-in-another-root",
        ),
        pytest.param(_a_plan_run, "not an apply", id="rollback-of-a-plan-run"),
        pytest.param(
            _result_linked_outside,
            "is a symbolic link",
            id="rollback-result-json-is-a-link-out-of-the-root",
        ),
        pytest.param(_head_not_in_ledger, "expected hash", id="rollback-expect-mismatch"),
        pytest.param(
            _saved_copy,
            "is not in the evidence root",
            id="rollback-of-a-saved-copy-outside-the-evidence",
        ),
        pytest.param(
            _apply_appended_after_the_approval,
            "recorded after the ledger head",
            id="rollback-of-a-forged-apply-appended-after-the-head",
        ),
    ],
)
def test_tampered_rollback_source_is_refused_before_any_request(
    world: World,
    request: pytest.FixtureRequest,
    tamper: Callable[[World], tuple[Path, dict[str, Any]]],
    words: str,
) -> None:
    _restore_applied(world)
    source, options = tamper(world)
    _assert_refused(_rollback(world, request, source, **options), words)


def test_rollback_through_the_runner_uses_the_verified_file(
    world: World,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The untouched apply, named by a path relative to the operator's directory, is rolled
    back (plan mode here): the kernel is given the verified file's absolute path."""
    _restore_applied(world)
    monkeypatch.chdir(world.root.parent)
    params = world.scratch / "rollback.yaml"
    source = Path("evidence") / CHANGE / world.rec.apply_id / "result.json"
    params.write_text(json.dumps({"apply_result": str(source), "force_objects": []}))
    code = cli.main(
        [
            "run",
            str(ROLLBACK),
            "-f",
            str(params),
            "--change",
            CHANGE,
            "--evidence-root",
            "evidence",
            "--no-progress",
            "--expect",
            world.head,
        ]
    )
    out = world.capsys.readouterr()
    assert code == 0, out.err
    assert "ledger head: seq 4 hash" in out.out
    assert sandbox_writes(world.rec.sandbox) == []
    (run_dir,) = [
        d
        for d in (world.root / CHANGE).iterdir()
        if d.name not in (world.rec.plan_id, world.rec.apply_id)
    ]
    record = _load(run_dir / "record.json")
    assert record["parameters"]["apply_result"] == str(source)
    assert record["plan"]["params"]["apply_result"] == str(source.resolve())
    assert len(record["plan"]["changes"]) > 0
    assert evidence.verify(world.root).ok
