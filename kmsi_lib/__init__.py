"""kmsi-runbooks: plan, apply, verify, audit and roll back Okta "Keep Me Signed In".

The public names are re-exported here lazily so that ``import kmsi_lib`` stays
cheap (notebook start-up, the ``kmsi`` command) and so that the sandbox never
drags the client in.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the lazy names are, for the type checker (never imported here)
    from kmsi_lib.errors import KmsiError as KmsiError
    from kmsi_lib.okta.auth import Credentials as Credentials
    from kmsi_lib.okta.auth import Secret as Secret
    from kmsi_lib.okta.bulk import run_bulk as run_bulk
    from kmsi_lib.okta.client import OktaClient as OktaClient
    from kmsi_lib.okta.client import RetryPolicy as RetryPolicy

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "Credentials": "kmsi_lib.okta.auth",
    "KmsiError": "kmsi_lib.errors",
    "OktaClient": "kmsi_lib.okta.client",
    "RetryPolicy": "kmsi_lib.okta.client",
    "Secret": "kmsi_lib.okta.auth",
    "run_bulk": "kmsi_lib.okta.bulk",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kmsi_lib' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
