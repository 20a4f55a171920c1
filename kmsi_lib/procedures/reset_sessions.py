"""Reset KMSI for users: revoke their Okta sessions.

After ``DELETE /api/v1/users/{id}/sessions`` a user signs in again and is
offered "Keep me signed in" anew. Users are given by login or id, in a list
file (one per line, ``#`` starts a comment) or as the members of a group
(exact name). Both query flags are always sent, because Okta's default for
``forgetDevices`` differs between engines (docs/OKTA-API.md §10.1, §12.1):

* ``forget_devices`` (default True): also forget remembered devices and factors,
  so the next sign-in asks for MFA and shows the KMSI prompt again;
* ``oauth_tokens`` (default False): also revoke the user's OAuth/OIDC tokens.

Users named by id or login are resolved with as few requests as the API
allows: one ``search`` (``id eq "..." or profile.login eq "..."``) per batch
of some sixty entries, the batches concurrently, and a ``GET`` only for an
entry no search found (a login short name, or a user search does not show
yet); a group costs its member pages. Apply replays those reads once, then
sends one ``DELETE`` per user: for 2,000 users named by id, about 2,060
requests in all (the System Log confirmation aside).

A user that cannot be found stops the plan (with a suggestion when a login
is close), unless ``skip_unknown_users`` is set: then the plan's warnings,
shown first, list who was skipped. An empty selection is refused. The revocations run
concurrently through :func:`kmsi_lib.okta.bulk.run_bulk`, as many in flight
as the client's rate-limit governor allows (enough for its share of the rate
limit; ``max_workers`` only bounds that further), with an optional progress
callback; each user's outcome is recorded, and a user Okta no longer knows
(404) is a failed item that says "not found". A revocation cannot be undone:
the apply result says so and records no before-state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import BeforeValidator, Field, field_validator, model_validator

from kmsi_lib.engine import (
    AllowUnusualValues,
    AppliedChange,
    ApplyResult,
    Attestation,
    Change,
    Check,
    FieldDiff,
    ObjectRef,
    ParamsModel,
    Plan,
    Procedure,
    Reader,
    Verification,
    bounds,
    bulk_values,
    check_procedure,
    parse_params,
    read_text_file,
    refuse_stale,
    register_lookup,
    report_write,
    start_apply,
    suggest_login,
    unknown_group,
    utc_now,
    whole_number,
    witness,
)
from kmsi_lib.engine.conflicts import confirm_writes
from kmsi_lib.errors import NotFoundError, ParameterError
from kmsi_lib.jsontypes import JsonMap, JsonObject, JsonValue, arr, dig
from kmsi_lib.okta.bulk import DEFAULT_WORKERS, run_bulk
from kmsi_lib.okta.resources import groups as groups_api
from kmsi_lib.okta.resources import users as users_api
from kmsi_lib.okta.resources.logs import log_time

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "NAME",
    "NO_ROLLBACK_NOTE",
    "NO_SESSION_API_NOTE",
    "PROCEDURE",
    "Params",
    "apply",
    "parse_user_list",
    "plan",
    "verify",
]

NAME = "reset_sessions"

KIND = "user_sessions"
#: The System Log event of ``DELETE /api/v1/users/{id}/sessions`` ("Clear user session"):
#: the apply lists the log by this type to confirm its writes, a few pages for any count.
SESSION_CLEAR_EVENT = "user.session.clear"

NO_ROLLBACK_NOTE = (
    "A session revocation cannot be rolled back: the users simply sign in again."
    " No before-state is recorded."
)

Progress = Callable[[int, int], None]


class Params(ParamsModel):
    """Whose sessions to revoke, and what else to revoke with them."""

    users: Annotated[list[Annotated[str, bounds.LOGIN]], bounds.USERS] = Field(
        default_factory=list, description="Logins or user ids."
    )
    users_file: Annotated[str, bounds.PATH] | None = Field(
        default=None,
        description="Path of a text file: one login or id per line, '#' starts a comment.",
    )
    group: Annotated[str, bounds.NAME] | None = Field(
        default=None, description="Exact name of a group: its members."
    )
    forget_devices: bool = Field(
        default=True,
        description="Also forget remembered devices and factors (sent explicitly).",
    )
    oauth_tokens: bool = Field(
        default=False, description="Also revoke the users' OAuth/OIDC tokens (sent explicitly)."
    )
    max_workers: Annotated[int, BeforeValidator(whole_number())] | None = Field(
        default=None,
        ge=1,
        le=16,
        description="At most this many requests in flight; by default the rate-limit"
        " governor decides (as many as the allowed share of the rate limit needs).",
    )
    skip_unknown_users: bool = Field(
        default=False,
        description="Revoke the others when a named user is not found (the plan lists who"
        " was skipped first); by default an unknown user stops the plan.",
    )
    allow_unusual_values: AllowUnusualValues

    @field_validator("users_file")
    @classmethod
    def _readable_list(cls, value: str | None) -> str | None:
        if value is not None:
            read_user_file(value)  # unreadable, not UTF-8 or too big: refused before any read
        return value

    @model_validator(mode="after")
    def _someone(self) -> Params:
        if not self.users and self.users_file is None and self.group is None:
            raise ValueError("choose users: give users (logins or ids), users_file, or group")
        for index, entry in enumerate(self.users):
            if not entry.strip():
                raise ParameterError(f"users[{index}]", "is empty; give a login or a user id")
        if self.group is not None and not self.group.strip():
            raise ParameterError("group", "is empty; give the group's exact name")
        return self


# --------------------------------------------------------------------------- pure


def parse_user_list(text: str) -> list[tuple[int, str]]:
    """(line number, entry) for each login or id in a list file's text.

    Blank lines and comments are skipped: a ``#`` at the start of a line, or a
    ``#`` after whitespace, starts a comment (a ``#`` inside a login is kept).
    """
    entries: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            continue
        for marker in (" #", "\t#"):
            if marker in line:
                line = line.split(marker, 1)[0].strip()
        if line:
            entries.append((number, line))
    return entries


#: The largest users_file read (10 MB: some 200,000 logins); a bigger file is a mistake.
USERS_FILE_MAX_BYTES = 10 * 1024 * 1024


def read_user_file(name: str) -> str:
    """The text of a users_file (UTF-8, a regular file, at most 10 MB); ParameterError
    naming ``users_file`` when it cannot be used (:func:`kmsi_lib.engine.read_text_file`)."""
    return read_text_file(
        Path(name).expanduser(),
        field="users_file",
        name="users file",
        max_bytes=USERS_FILE_MAX_BYTES,
        hint=" (text, one login or id per line)",
    )


def _entries(p: Params) -> list[tuple[str, str]]:
    """(where, entry) for every user named directly or in the list file."""
    out = [(f"users[{i}]", entry.strip()) for i, entry in enumerate(p.users)]
    if p.users_file is not None:
        path = Path(p.users_file).expanduser()
        listed = parse_user_list(read_user_file(p.users_file))
        if not listed:
            raise ParameterError("users_file", f"{str(path)!r} lists no user")
        out += [(f"users_file line {n}", entry) for n, entry in listed]
    for where, entry in out:
        if "/" in entry:
            # Okta finds users by login in the URL path, where '/' cannot be expressed.
            raise ParameterError(
                where, f"{entry!r} contains '/': Okta can only find such a user by id; give the id"
            )
    return out


# --------------------------------------------------------------------------- reads


def _identity(user: JsonMap | None) -> JsonObject | None:
    if user is None:
        return None
    uid = user.get("id")
    return {"id": uid if isinstance(uid, str) else None, "login": dig(user, "profile", "login")}


def _workers(value: object) -> int:
    """The ``max_workers`` bound of a plan's parameters (None: the governor decides)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_WORKERS


def _lookup_users(c: OktaClient, a: JsonMap) -> JsonValue:
    """Resolve many logins/ids with as few requests as the API allows; only who they are.

    One ``search`` per batch of entries (:func:`users_api.identity_search`), the
    batches concurrently; only an entry no search found is then asked by
    ``GET /api/v1/users/{entry}``: search knows no login short names and is
    eventually consistent, and a user who really is unknown costs that one
    request. Only id and login are kept: a user signing in between plan and
    apply is no drift, but a login now pointing at another user (or nobody) is.
    """
    entries = [str(e) for e in arr(a["entries"])]
    workers = _workers(a.get("max_workers"))
    batches = users_api.identity_search(entries)
    answers = bulk_values(
        batches, lambda batch: list(users_api.search_users(c, batch[1])), max_workers=workers
    )
    found: dict[str, JsonMap] = {}
    for (names, _expr), users in zip(batches, answers, strict=True):
        found.update(users_api.match_entries(names, users))
    misses = [e for e in dict.fromkeys(entries) if e not in found]
    for entry, user in zip(
        misses,
        bulk_values(misses, lambda e: users_api.find_user(c, e), max_workers=workers),
        strict=True,
    ):
        if user is not None:
            found[entry] = user
    return [_identity(found.get(e)) for e in entries]


def _lookup_members(c: OktaClient, a: JsonMap) -> JsonValue:
    group_id = a["group_id"]
    if not isinstance(group_id, str):
        raise ParameterError("group_id", f"expected a group id, got {group_id!r}")
    members = [_identity(u) for u in groups_api.list_group_members(c, group_id)]
    found = sorted((m for m in members if m is not None), key=lambda m: str(m["id"]))
    return list[JsonValue](found)


register_lookup("users", _lookup_users)
register_lookup("group_members", _lookup_members)


# --------------------------------------------------------------------------- procedure


def plan(client: OktaClient, params: ParamsModel | JsonMap) -> Plan:
    """Resolve the users (reads only) and plan one revocation per distinct user.

    Users not found are listed in the plan's notes; an unknown group or an
    unreadable list file is a :class:`ParameterError`.
    """
    p = parse_params(Params, params)
    client.require_identity_engine()
    reader = Reader(client)
    entries = _entries(p)
    notes: list[str] = []
    warnings: list[str] = []
    users: dict[str, tuple[str, str]] = {}  # id -> (login, where)
    if entries:
        found = reader.read(
            f"{len(entries)} user(s) named in the parameters",
            "users",
            entries=[e for _, e in entries],
            max_workers=p.max_workers,
        )
        missing = [
            (where, entry)
            for (where, entry), identity in zip(entries, found, strict=True)
            if identity is None
        ]
        if missing and not p.skip_unknown_users:
            where, entry = missing[0]
            others = f" ({len(missing) - 1} more not found)" if len(missing) > 1 else ""
            raise ParameterError(
                where,
                f"no user {entry!r} in this org{suggest_login(client, entry)}{others}:"
                " nobody's sessions were revoked. Fix the name, or set skip_unknown_users:"
                " true to revoke the others",
            )
        for where, entry in missing:
            warnings.append(f"skipped, not found in this org: {entry!r} ({where})")
        for (where, _entry), identity in zip(entries, found, strict=True):
            if identity is not None:
                users.setdefault(identity["id"], (identity["login"], where))
    if p.group is not None:
        group = reader.read(f"group named {p.group!r}", "group_by_name", name=p.group)
        if group is None:
            raise unknown_group(client, "group", p.group)
        members = reader.read(
            f"members of group {p.group!r}", "group_members", group_id=group["id"]
        )
        if not members:
            notes.append(f"group {p.group!r} has no members")
        added = 0
        for member in members:
            if member["id"] not in users:
                added += 1
            users.setdefault(member["id"], (member["login"], f"group {p.group!r}"))
        warnings.append(
            f"the group {p.group!r} reaches {len(members)} user(s) not named one by one"
            f" ({added} beyond those named): each is signed out everywhere"
        )
    if not users:
        field = "group" if p.group is not None and not entries else "users"
        raise ParameterError(
            field, "the selection resolves to nobody, so there is nothing to revoke"
        )
    query = {"oauthTokens": p.oauth_tokens, "forgetDevices": p.forget_devices}
    changes = [
        Change(
            "revoke",
            KIND,
            ObjectRef("user", user_id, login),
            None,
            dict(query),
            [FieldDiff("sessions", "active (if any)", "revoked")],
            note=f"from {where}",
        )
        for user_id, (login, where) in users.items()
    ]
    notes.append(
        f"each revocation sends forgetDevices={str(p.forget_devices).lower()} and"
        f" oauthTokens={str(p.oauth_tokens).lower()} explicitly"
    )
    notes.append(NO_ROLLBACK_NOTE)
    return reader.plan(NAME, p.model_dump(mode="json"), changes, notes, warnings=warnings)


def apply(
    client: OktaClient,
    plan: Plan,
    *,
    attestation: Attestation | JsonMap | None = None,
    progress: Progress | None = None,
) -> ApplyResult:
    """Revoke the planned users' sessions, concurrently; record each user's outcome.

    The plan is refused, nothing revoked, when it was edited after it was made
    (:class:`EvidenceError`), made for another org or by another procedure
    (:class:`ParameterError`), or when the names now resolve to other users
    or group membership changed (:class:`StalePlanError`). A user
    whose revocation fails is recorded as failed and the others proceed; the
    outcome is then ``failed``. ``progress(done, total)`` is called as users
    complete. ``attestation`` is accepted for a uniform signature (no manual step).
    """
    check_procedure(plan, NAME)
    result = start_apply(client, plan, attestation)
    result.notes.append(NO_ROLLBACK_NOTE)
    result.notes += list(plan.warnings)
    if plan.is_empty:
        result.outcome = "no-op"
        result.finished_at = utc_now()
        return result

    refuse_stale(
        client,
        plan,
        "the users this plan resolved are not the same any more, so no session was revoked",
    )

    max_workers = plan.params.get("max_workers")
    bound = max_workers if isinstance(max_workers, int) else None
    since = log_time(datetime.now(UTC) - timedelta(minutes=5))
    mark = len(client.journal.entries)

    index_of = {id(change): i for i, change in enumerate(plan.changes)}

    def revoke(change: Change) -> None:
        query = change.after or {}
        index = index_of[id(change)]
        report_write("sending", index, change, change.ref)
        users_api.revoke_sessions(
            client,
            change.ref.require_id(),
            oauth_tokens=bool(query["oauthTokens"]),
            forget_devices=bool(query["forgetDevices"]),
        )
        report_write("landed", index, change, change.ref)

    outcome = run_bulk(plan.changes, revoke, max_workers=bound, progress=progress)
    checks: list[Check] = []
    for item in outcome.results:
        change = item.item
        record: JsonObject = {
            "id": change.ref.id,
            "login": change.ref.name,
            "outcome": "revoked" if item.ok else "failed",
            "error": None if item.ok else _failure(change, item.error),
        }
        result.applied.append(AppliedChange(change, record))
        checks.append(
            Check(
                f"sessions of {change.ref.name} ({change.ref.id}) revoked",
                item.ok,
                "revoked",
                record["outcome"] if item.ok else f"failed: {item.error}",
            )
        )
    ids = [c.item.ref.require_id() for c in outcome.results if c.ok]
    result.system_log, confirmed = confirm_writes(
        client, since, ids, client.journal.entries[mark:], event_type=SESSION_CLEAR_EVENT
    )
    result.verification = Verification(checks + confirmed)
    failed = [c for c in checks if not c.ok]
    result.outcome = "failed" if failed else "applied"
    if failed:
        result.error = f"{len(failed)} of {len(checks)} revocation(s) failed; see the checks"
    result.finished_at = utc_now()
    return result


def _failure(change: Change, error: BaseException | None) -> str:
    """Why a revocation failed, in words; a 404 says the user is not (any more) in the org."""
    if isinstance(error, NotFoundError):
        return (
            f"not found: no user {change.ref.id} in this org (Okta answered 404; deleted"
            f" since the plan, or never there): {error}"
        )
    return str(error)


def verify(client: OktaClient, params: ParamsModel | JsonMap) -> Verification:
    """Check what can be checked: every named user still resolves.

    Okta's Management API does not list a user's sessions, so a revocation
    itself is evidenced by the apply result (Okta's 204 per user) and the
    verification says so in a note. When a sandbox witness is installed (the
    demo, the lab, the tests: :mod:`kmsi_lib.engine.witness`), the sandbox's
    revocation log is consulted as well.
    """
    p = parse_params(Params, params)
    planned = plan(client, p)
    seen_by = witness.for_client(client)
    revocations = seen_by.session_revocations() if seen_by is not None else None
    if revocations is None:
        return Verification([], [NO_SESSION_API_NOTE])
    checks: list[Check] = []
    for change in planned.changes:
        seen = [
            r
            for r in revocations
            if r.get("userId") == change.ref.id
            and r.get("forgetDevices") == p.forget_devices
            and r.get("oauthTokens") == p.oauth_tokens
        ]
        checks.append(
            Check(
                f"sandbox recorded a revocation for {change.ref.name} ({change.ref.id})",
                bool(seen),
                {"forgetDevices": p.forget_devices, "oauthTokens": p.oauth_tokens},
                seen[-1] if seen else None,
            )
        )
    return Verification(checks)


NO_SESSION_API_NOTE = (
    "Okta has no API listing a user's sessions, so the revocations themselves were not"
    " checked; the apply result (Okta's answer per user) is the record of them"
)


PROCEDURE = Procedure(
    name=NAME,
    title="Reset KMSI: revoke users' sessions",
    scopes=("okta.users.manage", "okta.users.read", "okta.groups.read", "okta.logs.read"),
    params=Params,
    plan=plan,
    apply=apply,
    verify=verify,
    bulk=True,  # apply takes progress=(done, total) for its many independent calls
)
