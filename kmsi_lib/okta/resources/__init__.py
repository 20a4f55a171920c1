"""Thin functions per Okta API area; each takes the client first and returns Okta's JSON.

Objects are returned as plain dicts exactly as Okta sent them (unknown fields
kept), so a read-modify-write never drops what this library does not know.
Lists that can be large (apps, users, group members) are lazy iterators;
the small ones (policies, rules, brands) are lists.
"""

from __future__ import annotations

from kmsi_lib.okta.resources import apps, brands, groups, logs, policies, users

__all__ = ["apps", "brands", "groups", "logs", "policies", "users"]
