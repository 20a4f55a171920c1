"""Which apps and groups the parameters name: selection, resolution, suggestions."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

import pydantic

from kmsi_lib.engine import bounds as _bounds
from kmsi_lib.engine.params import ParamsModel
from kmsi_lib.engine.reader import Reader, app_summary, or_none, register_lookup
from kmsi_lib.errors import KmsiError, ParameterError
from kmsi_lib.jsontypes import JsonMap, obj
from kmsi_lib.okta.resources import apps, groups, users

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = [
    "AppSelection",
    "ResolvedApp",
    "reach_warnings",
    "resolve_apps",
    "resolve_groups",
    "suggest",
    "suggest_group",
    "suggest_login",
    "unknown_group",
]


@dataclass(frozen=True)
class ResolvedApp:
    """An app chosen by the parameters, with its authentication policy's id.

    For a selection by policy name, one entry stands for every app using the
    policy: ``id`` is empty and ``label`` says how many apps that is.
    """

    id: str
    label: str
    policy_id: str


class AppSelection(ParamsModel):
    """Apps chosen by label, by id, or as every app using a named authentication policy."""

    labels: Annotated[list[Annotated[str, _bounds.NAME]], _bounds.FEW] = pydantic.Field(
        default_factory=list,
        description="Apps by their label as the Admin Console shows it (exact, case included).",
    )
    ids: Annotated[list[Annotated[str, _bounds.NAME]], _bounds.FEW] = pydantic.Field(
        default_factory=list, description="Apps by id (0oa...)."
    )
    policies: Annotated[list[Annotated[str, _bounds.NAME]], _bounds.FEW] = pydantic.Field(
        default_factory=list,
        description="Authentication policy names: every app using the policy is chosen.",
    )

    @property
    def is_empty(self) -> bool:
        return not (self.labels or self.ids or self.policies)

    @pydantic.model_validator(mode="after")
    def _some_app(self) -> AppSelection:
        if self.is_empty:
            raise ValueError(
                "choose at least one app (by labels, ids, or authentication policy names)"
            )
        return self


def suggest(name: str, candidates: Iterable[str]) -> str:
    """``; did you mean 'X'?`` for the closest candidate, or ``""``."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


#: From how many apps (chosen by id or label) or policies (by name) a selection is read
#: with one listing (its pages) instead of a request each.
LIST_FROM = 20


def _lookup_app(c: OktaClient, a: JsonMap) -> object:
    app = or_none(lambda: apps.get_app(c, str(a["id"])))
    return None if app is None else app_summary(app)


def _lookup_group_by_name(c: OktaClient, a: JsonMap) -> object:
    group = groups.find_group_by_name(c, str(a["name"]))
    if group is None:
        return None
    return {"id": group.get("id"), "name": group.get("profile", {}).get("name")}


register_lookup("app", _lookup_app)
register_lookup("group_by_name", _lookup_group_by_name)


def resolve_apps(
    reader: Reader, selection: AppSelection, *, field: str = "apps"
) -> list[ResolvedApp]:
    """Resolve an :class:`AppSelection` to apps and their authentication policies.

    Every name must match exactly one app (or policy): an unknown label, id or
    policy name, an ambiguous label, an app without an authentication policy,
    or an empty selection raise :class:`ParameterError` naming the entry
    (``apps.labels[2]: no app labelled 'Slak' in this org; did you mean 'Slack'?``).
    Apps chosen twice are returned once; order follows the parameters.
    """
    if selection.is_empty:
        raise ParameterError(
            field, "choose at least one app (by labels, ids, or authentication policy names)"
        )
    chosen: dict[str, ResolvedApp] = {}
    wanted: list[tuple[str, str]] = []  # (app id, where it was named)

    if selection.labels:
        by_label: dict[str, list[str]] = {}
        for app in reader.all_apps():
            by_label.setdefault(str(app.get("label", "")), []).append(str(app["id"]))
        for n, label in enumerate(selection.labels):
            where = f"{field}.labels[{n}]"
            ids = by_label.get(label, [])
            if not ids:
                hint = suggest(label, by_label)
                raise ParameterError(where, f"no app labelled {label!r} in this org{hint}")
            if len(ids) > 1:
                raise ParameterError(
                    where,
                    f"{len(ids)} apps are labelled {label!r} ({', '.join(ids)}); choose by id",
                )
            wanted.append((ids[0], where))
    wanted += [(app_id, f"{field}.ids[{n}]") for n, app_id in enumerate(selection.ids)]
    for (app_id, where), seen in zip(
        wanted, _read_apps(reader, [i for i, _ in wanted]), strict=True
    ):
        if seen is None:
            raise ParameterError(where, f"no app with id {app_id!r} in this org")
        if not seen["accessPolicyId"]:
            raise ParameterError(
                where, f"app {seen['label']!r} ({app_id}) has no authentication policy"
            )
        chosen.setdefault(
            app_id, ResolvedApp(app_id, str(seen["label"]), str(seen["accessPolicyId"]))
        )
    names = list(selection.policies)
    found = _read_policies(reader, names)
    app_ids_of: dict[str, list[str]] = {}
    if names:
        for app in reader.all_apps():
            app_ids_of.setdefault(apps.access_policy_id(app) or "", []).append(str(app["id"]))
    for n, (name, policy) in enumerate(zip(names, found, strict=True)):
        where = f"{field}.policies[{n}]"
        if policy is None:
            known = [str(p.get("name", "")) for p in reader.policies("ACCESS_POLICY")]
            raise ParameterError(
                where, f"no authentication policy named {name!r}{suggest(name, known)}"
            )
        app_ids = app_ids_of.get(str(policy["id"]), [])
        if not app_ids:
            raise ParameterError(where, f"no app uses the authentication policy {name!r}")
        # the policy is what changes: no need to read each of its (maybe many) apps
        label = f"the {len(app_ids)} app(s) using policy {name!r}"
        chosen.setdefault(f"policy:{policy['id']}", ResolvedApp("", label, str(policy["id"])))
    return list(chosen.values())


def _read_apps(reader: Reader, app_ids: Sequence[str]) -> list[JsonMap | None]:
    """Each app's summary (None: no such app), recorded for the drift check: one lookup
    per app for a few, one lookup over the app listing for :data:`LIST_FROM` or more."""
    distinct = list(dict.fromkeys(app_ids))
    if len(distinct) < LIST_FROM:
        values = reader.read_many([(f"app {i}", "app", {"id": i}) for i in distinct])
        by_id: JsonMap = dict(zip(distinct, values, strict=True))
    else:
        key = f"apps {', '.join(distinct[:3])}, ... ({len(distinct)} apps)"
        by_id = obj(reader.read(key, "apps", ids=distinct))
    return [_object_or_none(by_id[i]) for i in app_ids]


def _read_policies(reader: Reader, names: Sequence[str]) -> list[JsonMap | None]:
    """Each authentication policy named (None: no such policy), recorded: a lookup per
    name for a few, one over the policy listing for :data:`LIST_FROM` or more."""
    if len(names) < LIST_FROM:
        return [reader.policy_by_name("ACCESS_POLICY", name) for name in names]
    distinct = list(dict.fromkeys(names))
    key = f"authentication policies named {', '.join(map(repr, distinct[:3]))}, ..."
    by_name = obj(reader.read(key, "policies_by_name", type="ACCESS_POLICY", names=distinct))
    return [_object_or_none(by_name[name]) for name in names]


def _object_or_none(value: object) -> JsonMap | None:
    return None if value is None else obj(value)


def suggest_group(client: OktaClient, name: str) -> str:
    """``; did you mean 'KMSI Pilot'?`` for a mistyped group name, from groups whose names
    start like it (Okta's ``q`` is a prefix match on the name), or ``""``."""
    prefix = name.strip()[:2]
    if not prefix:
        return ""
    try:
        found = groups.list_groups(client, q=prefix, limit=200)
        names = [str((g.get("profile") or {}).get("name", "")) for g in found]
    except KmsiError:  # a hint is a courtesy: never let it hide the real error
        return ""
    return suggest(name, names) or suggest(name.lower(), names)


def suggest_login(client: OktaClient, entry: str) -> str:
    """``; did you mean '...'?`` for a mistyped login, from logins that start like it
    (``search=profile.login sw``), or ``""`` (also for what looks like a user id)."""
    if "@" not in entry and len(entry) == 20 and entry.startswith("00u"):
        return ""  # an id: nothing to suggest
    try:
        logins = users.logins_starting_with(client, entry.strip()[:3])
    except KmsiError:  # a hint is a courtesy: never let it hide the real error
        return ""
    return suggest(entry, logins)


def unknown_group(client: OktaClient, where: str, name: str) -> ParameterError:
    """The error for a group name that matches no group, with a suggestion when one is close."""
    return ParameterError(
        where,
        f"no group named exactly {name!r} in this org{suggest_group(client, name)}"
        " (names are matched exactly, case included)",
    )


def resolve_groups(reader: Reader, names: Sequence[str], *, field: str = "groups") -> list[str]:
    """Group names (exact) to ids; an unknown name raises :class:`ParameterError`."""
    if not names:
        raise ParameterError(field, "name at least one group")
    ids: list[str] = []
    for n, name in enumerate(names):
        group = reader.read(f"group named {name!r}", "group_by_name", name=name)
        if group is None:
            raise unknown_group(reader.client, f"{field}[{n}]", name)
        if group["id"] not in ids:
            ids.append(group["id"])
    return ids


def reach_warnings(
    reader: Reader, chosen: Sequence[ResolvedApp], changed_policy_ids: Iterable[str]
) -> list[str]:
    """Say first when a change reaches apps that were not named.

    An authentication policy can be assigned to many apps; a change to its rules
    changes every one of them. For each changed policy whose apps were chosen by
    label or id (not by the policy's name, which names them all), list the other
    apps assigned to it. Plain reads: a hint for the operator, not an observation.
    """
    named = {a.id for a in chosen if a.id}
    by_policy: dict[str, list[ResolvedApp]] = {}
    for app in chosen:
        by_policy.setdefault(app.policy_id, []).append(app)
    changed = set(changed_policy_ids)
    warnings: list[str] = []
    shared = [
        pid for pid, items in by_policy.items() if pid in changed and all(a.id for a in items)
    ]
    if not shared:
        return warnings
    try:  # one listing of the apps and one of the policies, shared with the plan's impact
        listed = reader.all_apps()
        names = {
            str(p.get("id")): str(p.get("name", p.get("id")))
            for p in reader.all_policies("ACCESS_POLICY")
        }
    except KmsiError as exc:
        return [
            f"could not list the apps of the authentication policies ({exc}):"
            " this change may reach apps that were not named"
        ]
    labels = {str(a["id"]): str(a.get("label", a["id"])) for a in listed}
    for policy_id in shared:
        name = names.get(policy_id, policy_id)
        others = [
            str(a["id"])
            for a in listed
            if apps.access_policy_id(a) == policy_id and str(a["id"]) not in named
        ]
        if others:
            shown = ", ".join(sorted(labels.get(i, i) for i in others))
            warnings.append(
                f"the authentication policy {name!r} is shared: this change also reaches"
                f" {len(others)} app(s) that were not named: {shown}"
            )
    return warnings
