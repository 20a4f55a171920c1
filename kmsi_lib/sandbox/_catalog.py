"""Catalog app shapes, as a real org returns them (``GET /api/v1/apps``, recorded).

Taken from the recorded apps list of ``reference/okta/recordings`` (signing key ids
removed; hosts made Acme's). Seeded apps with these names take these shapes, so
the sandbox's catalog apps look like real ones rather than like custom apps. The shapes
are data, kept in ``catalog.json`` beside this module (app name -> the app's fields).
"""

from __future__ import annotations

import json
from importlib.resources import files

from ._state import Json


def _load() -> dict[str, Json]:
    """``catalog.json``: an object of app name -> an object of the app's recorded fields."""
    data = json.loads(files(__package__).joinpath("catalog.json").read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError("catalog.json must map each app name to an object")
    return data


CATALOG: dict[str, Json] = _load()

# The number ending each catalog app's launch link (/home/<name>/<appId>/<n>), as recorded;
# custom apps use an "aln..." id there instead.
APP_LINK_IDS: dict[str, str] = {
    "saasure": "2",
    "boxnet": "72",
    "zoomus": "1835",
    "bookmark": "2557",
    "template_swa": "2357",
    "salesforce": "46",
    "zendesk": "238",
    "docusign": "292",
}
