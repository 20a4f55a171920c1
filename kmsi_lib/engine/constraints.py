"""Authenticator constraints as the Okta spec defines them (``AccessPolicyConstraints``).

``post_auth`` takes ``constraints`` as plain JSON (what it sends is what the
operator wrote), and checks each object against these models first: unknown
keys and values outside the spec's enums are refused with the path of the
wrong field (``constraints[0].possession.userVerification``). The models
follow the management spec (``AccessPolicyConstraint``, ``KnowledgeConstraint``,
``PossessionConstraint``, ``AuthenticationMethodObject``; docs/OKTA-API.md §7.3).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

import pydantic
from pydantic import BaseModel, ConfigDict

from kmsi_lib.durations import IsoDuration
from kmsi_lib.engine import bounds as _bounds
from kmsi_lib.engine.params import field_messages
from kmsi_lib.errors import ParameterError

__all__ = ["AccessPolicyConstraints", "check_constraints"]

_Text = Annotated[str, _bounds.NAME]
_Requirement = Literal["OPTIONAL", "REQUIRED"]
_Method = Literal[
    "PASSWORD",
    "SECURITY_QUESTION",
    "SMS",
    "VOICE",
    "EMAIL",
    "PUSH",
    "SIGNED_NONCE",
    "OTP",
    "TOTP",
    "WEBAUTHN",
    "DUO",
    "IDP",
    "CERT",
]
# The spec's enum is upper case; the real API also accepts and echoes lower case
# ("password", docs/OKTA-API.md §7.3, recording AppSignOnPolicyRule_crud #61), so both
# spellings are accepted.
_Type = Literal[
    "SECURITY_KEY",
    "PHONE",
    "EMAIL",
    "PASSWORD",
    "SECURITY_QUESTION",
    "APP",
    "FEDERATED",
    "security_key",
    "phone",
    "email",
    "password",
    "security_question",
    "app",
    "federated",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AuthenticationMethodObject(_Strict):
    key: _Text
    method: _Text | None = None
    id: _Text | None = None


class AccessPolicyConstraint(_Strict):
    """One knowledge or possession constraint (its properties are AND-ed)."""

    authenticationMethods: Annotated[list[AuthenticationMethodObject], _bounds.FEW] | None = None
    excludedAuthenticationMethods: (
        Annotated[list[AuthenticationMethodObject], _bounds.FEW] | None
    ) = None
    methods: list[_Method] | None = None
    reauthenticateIn: Annotated[IsoDuration, _bounds.REAUTHENTICATE_IN] | None = None
    required: bool | None = None
    types: list[_Type] | None = None


class KnowledgeConstraint(AccessPolicyConstraint):
    pass


class PossessionConstraint(AccessPolicyConstraint):
    deviceBound: _Requirement | None = None
    hardwareProtection: _Requirement | None = None
    phishingResistant: _Requirement | None = None
    userPresence: _Requirement | None = None
    userVerification: _Requirement | None = None
    userVerificationMethods: list[Literal["BIOMETRICS", "PIN"]] | None = None


class AccessPolicyConstraints(_Strict):
    """One entry of ``verificationMethod.constraints`` (entries are OR-ed)."""

    knowledge: KnowledgeConstraint | None = None
    possession: PossessionConstraint | None = None


def check_constraints(constraints: Sequence[object] | None, field: str = "constraints") -> None:
    """Raise ParameterError naming the first wrong field of ``constraints`` (spec shapes)."""
    if constraints is None:
        return
    for index, item in enumerate(constraints):
        where = f"{field}[{index}]"
        if not isinstance(item, dict):
            raise ParameterError(where, "must be an object with knowledge and/or possession")
        if not item:
            raise ParameterError(where, "is empty; give knowledge and/or possession")
        try:
            messages = field_messages(AccessPolicyConstraints, item)
        except pydantic.ValidationError as exc:  # pragma: no cover - field_messages catches it
            raise ParameterError(where, str(exc)) from None
        if messages:
            path, message = next(iter(messages.items()))
            raise ParameterError(f"{where}.{path}" if path else where, message)
