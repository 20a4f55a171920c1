"""The org's state: every object the sandbox serves, in plain dicts.

Objects are stored the way the API shows them minus ``_links`` (which depend
on the request's host and are added when rendering). One ``RLock`` guards the
whole state; the app holds it for the duration of each API request, so a
request sees and leaves a consistent org. Nothing here copies the whole state
per request: handlers copy only the object they return.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from typing import Any

from ._ids import IdFactory

SNAPSHOT_VERSION = 1

# Collections that make up the org (snapshot keys), each a JSON-serialisable value.
COLLECTIONS = (
    "org",
    "policies",
    "rules",
    "apps",
    "app_policy",
    "brands",
    "sign_in_pages",
    "users",
    "groups",
    "group_members",
    "session_revocations",
    "clients",
    "tokens",
    "log_events",
)
# Collections a snapshot written before they existed may lack: loaded as empty.
OPTIONAL_COLLECTIONS: dict[str, Callable[[], list[Json]]] = {"log_events": list}

Json = dict[str, Any]


class OrgState:
    """All mutable org data plus the id factory and the lock guarding them."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.ids = IdFactory(seed=0)
        self.org: Json = {}
        self.policies: dict[str, Json] = {}
        # policy id -> rule id -> rule
        self.rules: dict[str, dict[str, Json]] = {}
        self.apps: dict[str, Json] = {}
        # app id -> {"policyId": ..., "mappingId": ...}: the app's authentication policy
        self.app_policy: dict[str, Json] = {}
        self.brands: dict[str, Json] = {}
        # brand id -> {"customized": page | None, "preview": page | None}
        self.sign_in_pages: dict[str, Json] = {}
        self.users: dict[str, Json] = {}
        self.groups: dict[str, Json] = {}
        # group id -> [user id, ...] (membership order)
        self.group_members: dict[str, list[str]] = {}
        self.session_revocations: list[Json] = []
        # OAuth service apps and issued access tokens, in the shapes _oauth.py expects
        self.clients: dict[str, Json] = {}
        self.tokens: dict[str, Json] = {}
        # the System Log, oldest first: {"seq", "ms" (published, epoch ms), "event": LogEvent}
        self.log_events: list[Json] = []
        # derived index, rebuilt on load: lower-cased login -> user id
        self.login_index: dict[str, str] = {}
        # called (with the lock held) after every successful write; used for --state files
        self.on_write: Callable[[OrgState], None] | None = None
        self.created_at = time.time()

    # ---- org settings that change what the API shows ---------------------------------------
    @property
    def kmsi_feature(self) -> bool:
        """Whether the org has post-authentication Keep Me Signed In (``kmsiFeature``)."""
        return bool(self.org.get("kmsiFeature", True))

    @property
    def identity_engine(self) -> bool:
        """Whether the org runs the Identity Engine pipeline (``idx``) rather than Classic."""
        return bool(self.org.get("pipeline", "idx") == "idx")

    # ---- users index -------------------------------------------------------------------
    def index_user(self, user: Json) -> None:
        self.login_index[str(user["profile"]["login"]).lower()] = user["id"]

    def rebuild_indexes(self) -> None:
        self.login_index = {}
        for user in self.users.values():
            self.index_user(user)

    # ---- snapshot / load ------------------------------------------------------------------
    def snapshot(self) -> Json:
        """A deep, JSON-serialisable copy of the whole org."""
        with self.lock:
            data: Json = {"version": SNAPSHOT_VERSION, "idCounter": self.ids.counter}
            for name in COLLECTIONS:
                data[name] = copy.deepcopy(getattr(self, name))
            return data

    def load(self, data: Json) -> None:
        """Replace the whole org with a snapshot taken by :meth:`snapshot`."""
        if not isinstance(data, dict) or data.get("version") != SNAPSHOT_VERSION:
            raise ValueError("not a sandbox snapshot (missing or unknown 'version')")
        missing = [
            name for name in COLLECTIONS if name not in data and name not in OPTIONAL_COLLECTIONS
        ]
        if missing:
            raise ValueError(f"snapshot lacks {', '.join(missing)}")
        with self.lock:
            for name in COLLECTIONS:
                value = data[name] if name in data else OPTIONAL_COLLECTIONS[name]()
                setattr(self, name, copy.deepcopy(value))
            self.ids = IdFactory(seed=int(data["idCounter"]), start=int(data["idCounter"]))
            self.rebuild_indexes()

    def copy_from(self, other: OrgState) -> None:
        """Take over another state's data (used by reset to a seed)."""
        with self.lock:
            for name in COLLECTIONS:
                setattr(self, name, getattr(other, name))
            self.ids = other.ids
            self.rebuild_indexes()

    def written(self) -> None:
        if self.on_write is not None:
            self.on_write(self)
