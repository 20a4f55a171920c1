"""Tables for the start-here notebook: the sandbox's policies as a new admin should see them.

Each function takes a :class:`~kmsi_lib.training.org.Snapshot` and returns a :class:`Table`,
which shows as HTML in JupyterLab and as aligned text under papermill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kmsi_lib.engine import html_table
from kmsi_lib.engine.outcome import AppRule, SessionRule, duration_words, minutes_words
from kmsi_lib.jsontypes import dig
from kmsi_lib.training.org import Snapshot

if TYPE_CHECKING:
    from kmsi_lib.training.verdict import PrettyPrinter

__all__ = ["Table", "app_policies", "session_policies"]


@dataclass(frozen=True)
class Table:
    """Rows under headers, with a caption."""

    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def __str__(self) -> str:
        widths = [
            max(len(r[i]) for r in (self.headers, *self.rows)) for i in range(len(self.headers))
        ]
        lines = [self.caption]
        for row in (self.headers, *self.rows):
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
        return "\n".join(lines)

    def _repr_pretty_(self, printer: PrettyPrinter, cycle: bool) -> None:
        """IPython's plain-text form (papermill, terminals): the text, not the dataclass."""
        printer.text(str(self))

    def _repr_html_(self) -> str:
        return f"<p><b>{self.caption}</b></p>" + html_table(self.headers, self.rows)


def _groups(snap: Snapshot, people: object) -> str:
    included = ((people or {}) if isinstance(people, dict) else {}).get("groups") or {}
    ids: Sequence[str] = included.get("include") or []
    return ", ".join(snap.view.group_names.get(g, g) for g in ids) or "everyone"


def session_policies(snap: Snapshot) -> Table:
    """Global session policies in evaluation order, one row per rule."""
    rows = []
    for policy in snap.view.session_policies:
        for rule in snap.view.rules.get(str(policy["id"]), ()):
            read = SessionRule.read(policy, rule, ())
            mfa = (
                f"yes, again after {minutes_words(read.mfa_lifetime_minutes)}"
                if read.mfa_required
                else "no"
            )
            rows.append(
                (
                    f"{policy.get('priority')}. {policy['name']}",
                    _groups(snap, dig(policy, "conditions", "people")),
                    str(rule["name"]),
                    mfa,
                    minutes_words(read.idle_minutes),
                    minutes_words(read.lifetime_minutes, zero="no limit"),
                )
            )
    return Table(
        "Global session policies (first match wins, the Default Policy is last)",
        ("policy", "applies to", "rule", "MFA at sign-in", "idle limit", "session limit"),
        tuple(rows),
    )


def app_policies(snap: Snapshot) -> Table:
    """Authentication policies with their apps, one row per rule, KMSI in words."""
    rows = []
    for policy_id, policy in sorted(
        snap.view.access_policies.items(), key=lambda i: str(i[1]["name"])
    ):
        apps = snap.apps_on(policy_id)
        if not apps:
            continue
        shown = ", ".join(apps[:4]) + (f" and {len(apps) - 4} more" if len(apps) > 4 else "")
        for rule in snap.view.rules.get(policy_id, ()):
            read = AppRule.read(policy, rule, ())
            kmsi = (
                f"offered, {duration_words(read.kmsi_prompt_frequency)}"
                if read.kmsi_post_auth == "ALLOWED"
                else "not offered"
            )
            rows.append(
                (
                    str(policy["name"]),
                    f"{len(apps)}: {shown}",
                    str(rule["name"]),
                    _groups(snap, dig(rule, "conditions", "people")),
                    duration_words(read.reauthenticate_in, reauthentication=True),
                    kmsi,
                )
            )
    return Table(
        "Authentication policies (each app has exactly one; its rules apply to all its apps)",
        ("policy", "apps", "rule", "applies to", "re-authentication", "'Stay signed in?'"),
        tuple(rows),
    )
