"""Writers per kind of object: how apply reads, creates, updates and deletes it.

``policy`` and ``rule`` are built in; a procedure registers its own kinds
with :func:`register_kind` (prompt_text's sign-in pages, reset_sessions' users).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kmsi_lib.engine.model import Change, ObjectRef
from kmsi_lib.engine.reader import or_none, register_lookup
from kmsi_lib.errors import KmsiError
from kmsi_lib.jsontypes import JsonMap, JsonObject, text
from kmsi_lib.okta.resources import policies

if TYPE_CHECKING:
    from kmsi_lib.okta.client import OktaClient

__all__ = ["ObjectKind", "PolicyKind", "RuleKind", "get_kind", "register_kind"]


class ObjectKind:
    """How to read and write one kind of object. Subclass and :func:`register_kind`.

    Each method gets the change's :class:`ObjectRef` with placeholders already
    replaced by real ids. Unsupported actions raise NotImplementedError.
    """

    #: Whether the answer to a create or update is the whole object as stored, so that
    #: apply takes it as the read-back instead of reading the object again. False unless
    #: the API says so (a sign-in page's PUT answers only part of it).
    answer_is_object: bool = False

    def read(self, client: OktaClient, ref: ObjectRef) -> JsonObject | None:
        raise NotImplementedError

    def find_by_name(self, client: OktaClient, ref: ObjectRef, body: JsonMap) -> JsonObject | None:
        """Find the object a possibly-failed create may have made (ambiguous POST)."""
        raise NotImplementedError

    def create(self, client: OktaClient, ref: ObjectRef, body: JsonObject) -> JsonObject:
        raise NotImplementedError

    def update(self, client: OktaClient, ref: ObjectRef, body: JsonObject) -> JsonObject:
        raise NotImplementedError

    def delete(self, client: OktaClient, ref: ObjectRef) -> None:
        raise NotImplementedError

    def perform(self, client: OktaClient, change: Change, ref: ObjectRef) -> JsonObject | None:
        """Actions other than create/update/delete (``assign``, ``revoke``)."""
        raise NotImplementedError(f"{change.action} is not supported for {ref.kind}")


class PolicyKind(ObjectKind):
    """Policies (``/api/v1/policies``)."""

    answer_is_object = True  # Okta answers a policy's POST and PUT with the stored policy

    def read(self, client: OktaClient, ref: ObjectRef) -> JsonObject | None:
        return or_none(lambda: policies.get_policy(client, ref.require_id()))

    def find_by_name(self, client: OktaClient, ref: ObjectRef, body: JsonMap) -> JsonObject | None:
        return policies.find_policy_by_name(client, str(body["type"]), str(body["name"]))

    def create(self, client: OktaClient, ref: ObjectRef, body: JsonObject) -> JsonObject:
        return policies.create_policy(client, body)

    def update(self, client: OktaClient, ref: ObjectRef, body: JsonObject) -> JsonObject:
        return policies.replace_policy(client, ref.require_id(), body)

    def delete(self, client: OktaClient, ref: ObjectRef) -> None:
        policies.delete_policy(client, ref.require_id())


class RuleKind(ObjectKind):
    """Policy rules (``/api/v1/policies/{parent_id}/rules``)."""

    answer_is_object = True  # Okta answers a rule's POST and PUT with the stored rule

    def read(self, client: OktaClient, ref: ObjectRef) -> JsonObject | None:
        return or_none(lambda: policies.get_rule(client, ref.require_parent_id(), ref.require_id()))

    def find_by_name(self, client: OktaClient, ref: ObjectRef, body: JsonMap) -> JsonObject | None:
        return policies.find_rule_by_name(client, ref.require_parent_id(), str(body["name"]))

    def create(self, client: OktaClient, ref: ObjectRef, body: JsonObject) -> JsonObject:
        return policies.create_rule(client, ref.require_parent_id(), body)

    def update(self, client: OktaClient, ref: ObjectRef, body: JsonObject) -> JsonObject:
        return policies.replace_rule(client, ref.require_parent_id(), ref.require_id(), body)

    def delete(self, client: OktaClient, ref: ObjectRef) -> None:
        policies.delete_rule(client, ref.require_parent_id(), ref.require_id())


_KINDS: dict[str, ObjectKind] = {}


def register_kind(name: str, kind: ObjectKind) -> None:
    """Make :func:`apply_plan` able to write changes whose ``kind`` is ``name``."""
    _KINDS[name] = kind


def get_kind(name: str) -> ObjectKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise KmsiError(f"no writer registered for objects of kind {name!r}") from None


register_kind("policy", PolicyKind())
register_kind("rule", RuleKind())


def _lookup_object(c: OktaClient, a: JsonMap) -> object:
    kind = str(a["kind"])
    return get_kind(kind).read(
        c, ObjectRef(kind, text(a.get("id")), None, text(a.get("parent_id")))
    )


# any registered kind, read by ref (rollback re-reads what an apply wrote through this)
register_lookup("object", _lookup_object)
