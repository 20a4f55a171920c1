"""Read-modify-write of one object: the desired state of the fields a procedure owns."""

from __future__ import annotations

import copy
from collections.abc import Mapping

from kmsi_lib.engine.labels import labelled
from kmsi_lib.engine.model import Change, Check, ObjectRef
from kmsi_lib.engine.paths import get_path, same_value, set_path, writable
from kmsi_lib.jsontypes import JsonObject, JsonValue

__all__ = ["Edit"]


class Edit:
    """Read-modify-write of one object, recording a verification check per owned field.

    Start from the object as read (``before``; None for an object to create,
    with ``body`` as the starting body); :meth:`set` each field the procedure
    owns. A field already holding the value (by meaning) is left exactly as
    read, so a second run plans nothing. :attr:`checks` says, per owned field,
    whether the org already matches: that is what ``verify()`` reports.
    """

    def __init__(
        self,
        ref: ObjectRef,
        before: Mapping[str, JsonValue] | None,
        body: Mapping[str, JsonValue] | None = None,
    ) -> None:
        self.ref = ref
        self.before = dict(before) if before is not None else None
        start = before if before is not None else (body or {})
        self.after: JsonObject = writable(start)
        self.checks: list[Check] = []

    def set(self, path: str, value: object) -> None:
        """Own ``path``: make it ``value`` unless it already means the same."""
        current = get_path(self.before, path) if self.before is not None else None
        ok = self.before is not None and same_value(path, current, value)
        self.checks.append(Check(f"{self.ref.label()} {labelled(path)}", ok, value, current))
        if not same_value(path, get_path(self.after, path), value):
            set_path(self.after, path, copy.deepcopy(value))

    def set_assurance(self, path: str, fields: Mapping[str, object]) -> None:
        """Own an app sign-in rule's verification method at ``path``: ``ASSURANCE`` with ``fields``.

        A method of another type (e.g. ``AUTH_METHOD_CHAIN``) has fields
        ASSURANCE does not take, so it is replaced whole; otherwise ``type``
        and each of ``fields`` are set and the method's other fields are kept.
        """
        if get_path(self.before, f"{path}.type") not in (None, "ASSURANCE"):
            self.set(path, {"type": "ASSURANCE", **fields})
            return
        self.set(f"{path}.type", "ASSURANCE")
        for key, value in fields.items():
            self.set(f"{path}.{key}", value)

    def require_active(self, notes: list[str]) -> None:
        """Check (not change) that an existing object is ACTIVE; note it if not.

        Status is changed through Okta's lifecycle endpoints, not by a PUT, so
        an inactive object is reported for the admin to activate.
        """
        if self.before is None:
            return
        status = self.before.get("status")
        self.checks.append(
            Check(f"{self.ref.label()} status", status == "ACTIVE", "ACTIVE", status)
        )
        if status != "ACTIVE":
            notes.append(
                f"{self.ref.label()} is {status}: it has no effect until it is activated"
                " (Admin Console, or POST .../lifecycle/activate)"
            )

    def change(self, note: str = "") -> Change | None:
        """The create or update this edit needs, or None when nothing differs."""
        if self.before is None:
            return Change.create(self.ref, self.after, note)
        planned = Change.update(self.ref, self.before, self.after, note)
        return planned if planned.diffs else None
