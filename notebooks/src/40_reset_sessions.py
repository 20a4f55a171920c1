# %% [markdown]
# # Reset KMSI for users: revoke their sessions
#
# This runbook **ends the Okta sessions of chosen users** and, by default, makes Okta forget
# their remembered devices and factors. Their next sign-in asks for MFA again and offers the
# Keep Me Signed In choice anew. Use it when a device is lost, when someone leaves a pilot
# group, or after tightening a KMSI setting.
#
# **The trade-off.** It interrupts work: users must sign in again everywhere. Revoking OAuth
# tokens as well (`oauth_tokens`) also signs them out of apps that hold Okta-issued tokens.
# A revocation **cannot be rolled back**.
#
# Users are given by login or id, in a list file (one per line, `#` for comments), or as the
# members of a group. Nothing is chosen for you: with no users, file or group the plan stops.
# A name that is not found stops the plan too (with a suggestion when a login is close), so a
# typo never reads as success; `skip_unknown_users` revokes the others and the plan lists,
# first, who was skipped.
#
# In JupyterLab (`kmsi lab`) the plan, apply and verify cells show the parts of one form
# instead, and each part says what to do in it.

# %% tags=["parameters"]
from typing import Optional  # the types of the parameters below

users: list = []  # logins or user ids
users_file: "Optional[str]" = None  # text file: one login or id per line
group: "Optional[str]" = None  # exact name of a group: its members
forget_devices: bool = True  # also forget remembered devices and factors
oauth_tokens: bool = False  # also revoke the users' OAuth and OIDC tokens
max_workers: "Optional[int]" = None  # at most this many in flight; None: as the governor allows
skip_unknown_users: bool = False  # revoke the others when a named user is not found
allow_unusual_values: list = []  # fields whose usual ceiling is lifted (Okta's limits still apply)
mode: str = "plan"  # plan | apply
change_id: str = ""  # change ticket, required for apply
evidence_dir: str = ""  # where the notebook writes result.json (empty means a temp dir)
approved_plan: str = ""  # path to an approved plan JSON (apply only)
interactive: bool = False  # JupyterLab: show a form instead of running straight through

# %% [markdown]
# ## 1. Connect
#
# Scopes requested: users read and manage, groups read.

# %%
from kmsi_lib.runbooks.runbook import Runbook

rb = Runbook.start("reset_sessions", globals())  # connects, shows the org and its engine

# %% [markdown]
# ## 2. Plan
#
# Every name is resolved to a user (concurrently, within the rate limits) and the plan lists
# one revocation per distinct user, with both flags stated explicitly: Okta's default for
# forgetting devices differs between engines, so the runbook never relies on it.

# %%
plan = rb.plan()

# %% [markdown]
# ## 3. Apply
#
# Apply mode only, with a change ticket. If a name now points at a different user, or the
# group's members changed, nothing is revoked and you are asked to plan again. The
# revocations run in parallel; each user's outcome is recorded, and one failure does not
# stop the others (the run is then marked failed). The form shows a progress bar.

# %%
applied = rb.apply()

# %% [markdown]
# ## 4. Verify
#
# Okta's API does not list a user's sessions, so the evidence of a revocation is Okta's
# answer to each request, recorded in the apply result. Against the sandbox org, its
# revocation log is checked as well.
#
# **What to check afterwards:** ask one of the users to open the dashboard: they are signed
# out, MFA is asked again, and the Keep Me Signed In choice is offered.

# %%
verification = rb.verify()

# %% [markdown]
# ## 5. Finish

# %%
result = rb.finish()
