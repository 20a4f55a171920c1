"""The KMSI procedures, one module each, found by name in :data:`REGISTRY`.

``REGISTRY["post_auth"]`` is the :mod:`kmsi_lib.procedures.post_auth` module;
every procedure module has ``NAME``, ``TITLE``, ``WRITES``, ``BULK``, ``SCOPES``, ``Params``,
``plan``, ``apply`` and ``verify`` (see :class:`Procedure`); a module may also define
``evidence_files(plan) -> {file name: text}``, files the runbook writes beside
``result.json`` (the audit's ``findings.json`` and ``findings.csv``). Modules are
imported on first access so that loading the registry stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    import pydantic

    from kmsi_lib.engine import ApplyResult, Attestation, Plan, Verification
    from kmsi_lib.jsontypes import JsonMap
    from kmsi_lib.okta.client import OktaClient

__all__ = ["NAMES", "REGISTRY", "Procedure"]

#: Every procedure, in the order a runbook index lists them.
NAMES: tuple[str, ...] = (
    "audit",
    "pre_auth",
    "post_auth",
    "prompt_text",
    "reset_sessions",
    "rollback",
)


class Procedure(Protocol):
    """What every procedure module provides."""

    NAME: str
    TITLE: str
    WRITES: bool  # False: the procedure only reads (the audit)
    BULK: bool  # True: apply also takes ``progress=(done, total)`` (session resets)
    SCOPES: tuple[str, ...]
    Params: type[pydantic.BaseModel]

    def plan(self, client: OktaClient, params: pydantic.BaseModel | JsonMap) -> Plan: ...

    def apply(
        self, client: OktaClient, plan: Plan, *, attestation: Attestation | JsonMap | None = None
    ) -> ApplyResult: ...

    def verify(self, client: OktaClient, params: pydantic.BaseModel | JsonMap) -> Verification: ...


class _Registry(Mapping[str, Procedure]):
    """Procedure modules by name, imported on first access."""

    def __getitem__(self, name: str) -> Procedure:
        if name not in NAMES:
            known = ", ".join(NAMES)
            raise KeyError(f"no procedure named {name!r}; the procedures are: {known}")
        return cast(Procedure, importlib.import_module(f"{__name__}.{name}"))

    def __iter__(self) -> Iterator[str]:
        return iter(NAMES)

    def __len__(self) -> int:
        return len(NAMES)

    def __repr__(self) -> str:
        return f"<procedure registry: {', '.join(NAMES)}>"


REGISTRY: Mapping[str, Procedure] = _Registry()
