"""The KMSI procedures, one module each, found by name in :data:`REGISTRY`.

``REGISTRY["post_auth"]`` is the declaration ``PROCEDURE`` of the
:mod:`kmsi_lib.procedures.post_auth` module, a :class:`Procedure`: its ``name``,
``title``, ``scopes``, ``writes``, ``bulk``, ``params`` (the ``Params`` model),
``plan``, ``apply`` and ``verify``, and, where a procedure has them,
``evidence_files(plan) -> {file name: text}`` (files the runbook writes beside
``result.json``: the audit's findings) and ``verify_evidence_inputs`` (a
rollback's ``apply_result``). The modules keep ``plan``, ``apply`` and ``verify``
as functions of their own for Python callers. Modules (and the engine) are
imported on first access so that loading the registry stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kmsi_lib.engine.procedure import Procedure

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


class _Registry(Mapping[str, "Procedure"]):  # named for type checking only: loaded on use
    """Procedure declarations by name, their modules imported on first access."""

    def __getitem__(self, name: str) -> Procedure:
        if name not in NAMES:
            known = ", ".join(NAMES)
            raise KeyError(f"no procedure named {name!r}; the procedures are: {known}")
        from kmsi_lib.engine.procedure import Procedure

        declared = getattr(importlib.import_module(f"{__name__}.{name}"), "PROCEDURE", None)
        if not isinstance(declared, Procedure) or declared.name != name:
            raise TypeError(f"{__name__}.{name} declares no PROCEDURE named {name!r}")
        return declared

    def __iter__(self) -> Iterator[str]:
        return iter(NAMES)

    def __len__(self) -> int:
        return len(NAMES)

    def __repr__(self) -> str:
        return f"<procedure registry: {', '.join(NAMES)}>"


REGISTRY: Mapping[str, Procedure] = _Registry()


def __getattr__(name: str) -> object:
    """``Procedure``, from the engine on first use (importing the registry loads no engine)."""
    if name == "Procedure":
        from kmsi_lib.engine.procedure import Procedure

        return Procedure
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
