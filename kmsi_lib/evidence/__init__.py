"""Evidence of runbook runs: the run record, the ledger (a hash chain), verification, scans.

Layout under an evidence root (``evidence/`` by default)::

    evidence/
      ledger.jsonl                 append-only, one JSON object per line, hash-chained
      ledger.anchor                {seq, hash} of the ledger's head, moved by each append
      <change-id>/<run-id>/        one directory per run
        notebook.ipynb             the executed notebook
        notebook.html              its HTML export, readable without Jupyter
        result.json                what the notebook reported (written by the runbook)
        journal.jsonl[.gz]         the request journal, a line per request (gzip once large);
                                   result.json and record.json hold a summary of it
        record.json                the run record assembled by the runner
        approved-plan.json         (apply with --approved-plan only) the plan that was approved
      .staging/<run-id>/           a run in progress; ignored by ``verify``

Editing, removing, adding or reordering a ledger line or any file of a
recorded run is reported by :func:`verify`. A run whose files contained a
secret is deleted and recorded as ``kind: "quarantined"`` (no files, no
secret). Evidence is consumed (:func:`verified_run`) only from a ledger that
extends its anchor.

The modules, each importing only those to its left (no cycle)::

    hashing  <-  files  <-  ledger  <-  verify  <-  cli
                   ^          ^
                   |          |
    scan, report  <-------  record

``hashing``   canonical JSON, sha256 of bytes, files and runs
``files``     the root's layout names, atomic JSON writes, reading a run's files safely,
              the journal file (:func:`write_journal`, :func:`read_journal`)
``ledger``    append, read, the chain and anchor checks, the lock (filelock)
``verify``    :func:`verify` (the whole root), :func:`check_ledger`, :func:`verified_run`
``scan``      the secret scan (by value and by shape, :mod:`kmsi_lib.secret_shapes`)
``report``    the HTML export and its banner
``record``    ``result.json``, :class:`RunMeta`, :func:`build_record`, :func:`record_run`
``cli``       ``kmsi evidence list|verify|anchor`` (the only module that prints)

Every public name is importable from here (``from kmsi_lib import evidence``
then ``evidence.verify(...)``); the functions are pure over paths and dicts.
"""

from __future__ import annotations

from .cli import format_table, list_table
from .files import (
    PLAN_ONLY_CHANGE,
    RECORD_FILE,
    RESULT_FILE,
    SCHEMA,
    STAGING_DIR,
    journal_summary,
    read_journal,
    remove_tree,
    write_journal,
    write_json,
)
from .hashing import canonical_json, file_digests, sha256_bytes, sha256_file
from .ledger import (
    ANCHOR_FILE,
    GENESIS_HASH,
    LEDGER_FILE,
    LOCK_FILE,
    Problem,
    anchor_ledger,
    append_ledger,
    entry_hash,
    find_run,
    read_anchor,
    read_ledger,
)
from .record import (
    RecordedRun,
    RunMeta,
    build_record,
    load_record,
    read_result,
    record_run,
    verification_passed,
    write_result,
)
from .report import evidence_header, export_html
from .scan import (
    KEY_FILE_ENV,
    MIN_SECRET_LENGTH,
    SHAPE_KINDS,
    SecretHit,
    describe_hits,
    known_secrets,
    scan_for_secrets,
    scan_for_shapes,
    secret_forms,
)
from .verify import VerifiedRun, VerifyReport, check_ledger, verified_run, verify

__all__ = [
    "ANCHOR_FILE",
    "GENESIS_HASH",
    "KEY_FILE_ENV",
    "LEDGER_FILE",
    "LOCK_FILE",
    "MIN_SECRET_LENGTH",
    "PLAN_ONLY_CHANGE",
    "RECORD_FILE",
    "RESULT_FILE",
    "SCHEMA",
    "SHAPE_KINDS",
    "STAGING_DIR",
    "Problem",
    "RecordedRun",
    "RunMeta",
    "SecretHit",
    "VerifiedRun",
    "VerifyReport",
    "anchor_ledger",
    "append_ledger",
    "build_record",
    "canonical_json",
    "check_ledger",
    "describe_hits",
    "entry_hash",
    "evidence_header",
    "export_html",
    "file_digests",
    "find_run",
    "format_table",
    "journal_summary",
    "known_secrets",
    "list_table",
    "load_record",
    "read_anchor",
    "read_journal",
    "read_ledger",
    "read_result",
    "record_run",
    "remove_tree",
    "scan_for_secrets",
    "scan_for_shapes",
    "secret_forms",
    "sha256_bytes",
    "sha256_file",
    "verification_passed",
    "verified_run",
    "verify",
    "write_journal",
    "write_json",
    "write_result",
]
