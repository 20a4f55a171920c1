# %% [markdown]
# # Pre-authentication Keep Me Signed In
#
# This runbook sets up the **"Keep me signed in" checkbox shown on the sign-in page, before
# the user authenticates**, for a chosen set of groups:
#
# 1. the org setting that shows the checkbox (no public API: an Admin Console step you do
#    by hand and attest to);
# 2. a global session policy for those groups, where MFA is asked again only after the MFA
#    lifetime has run out;
# 3. a rule in each chosen app's authentication policy that asks for MFA only when there is
#    no Okta session yet, limited by default to the same groups.
#
# **The trade-off.** A user who ticks the box is not asked for MFA on that device until the
# MFA lifetime expires. Keep the lifetime short, start with a pilot group, and never include
# administrators.
#
# Headless: plan with `kmsi run notebooks/10_pre_auth.ipynb -f params/sandbox/pre_auth.yaml`,
# then apply with `--mode apply --change CHG-…` after doing the manual step and filling the
# attestation parameters. Credentials come from the environment only.
#
# In JupyterLab (`kmsi lab`) the plan, apply and verify cells show the parts of one form
# instead, and each part says what to do in it.

# %% tags=["parameters"]
from typing import Optional  # the types of the parameters below

groups: "Optional[list]" = None  # required: exact names of the groups the session policy applies to
policy_name: str = "KMSI pre-authentication"  # global session policy name (found by name later)
policy_description: str = "MFA lifetime for pre-authentication Keep Me Signed In"  # its description
policy_priority: int = 1  # priority of the session policy (1 is evaluated first)
rule_name: str = "KMSI MFA lifetime"  # name of the session policy's rule
factor_lifetime_minutes: int = 120  # minutes before MFA is asked again (the MFA lifetime)
primary_factor: str = "PASSWORD_IDP_ANY_FACTOR"  # primary factor of the rule
max_session_idle_minutes: int = 120  # Okta session idle limit (minutes)
max_session_lifetime_minutes: int = 0  # Okta session lifetime limit (minutes, 0 means none)
apps: "Optional[dict]" = None  # required: apps by labels, ids or policies (auth policy names)
app_rule_name: str = "KMSI pre-auth: once per session"  # name of the app sign-in rule
app_rule_priority: int = 0  # priority of the app sign-in rule (0 is first, up to 98)
app_rule_groups_only: bool = True  # limit the app rule to the same groups
attestation_by: str = ""  # who did the Admin Console step (required for apply)
attestation_at: str = ""  # when, ISO-8601 (empty means the time of the apply)
attestation_statement: str = ""  # what was done in the Admin Console
acknowledge_reach: "Optional[int]" = None  # the app count the plan's impact asks you to confirm
allow_unusual_values: list = []  # fields whose usual ceiling is lifted (Okta's limits still apply)
mode: str = "plan"  # plan | apply
change_id: str = ""  # change ticket, required for apply
evidence_dir: str = ""  # where the notebook writes result.json (empty means a temp dir)
approved_plan: str = ""  # path to an approved plan JSON (apply only)
interactive: bool = False  # JupyterLab: show a form instead of running straight through

# %% [markdown]
# ## 1. Connect
#
# Scopes requested: apps and groups read, policies read and manage. A Classic Engine org is
# refused before anything else happens.

# %%
from kmsi_lib.runbooks.runbook import Runbook

rb = Runbook.start("pre_auth", globals())  # connects, shows the org and its engine

# %% [markdown]
# ## 2. Plan
#
# The groups and apps are looked up by exact name (a near miss gets a suggestion). If the
# session policy already exists under its name it is adjusted, not created twice. The plan
# lists every field of every object, and the **manual step** with its instructions: the
# checkbox itself can only be switched on in the Admin Console. Above the diff, the
# **impact section** names who is affected: the new global session policy applies on
# every app its groups sign in to, and an app rule placed in a shared authentication
# policy reaches the other apps of that policy too. When the reach is wider than what you
# named, the plan says so first and the apply needs `acknowledge_reach` set to the number
# of apps it gives (in the form, a checkbox in the apply step).

# %%
plan = rb.plan()

# %% [markdown]
# ## 3. Apply
#
# Do the manual step first, then run in `apply` mode with the change ticket and the
# attestation parameters (who did it, and what). The org is read again and a plan that no
# longer matches it is refused. The policy is created at its priority, so the rules below
# it keep their order; the before-state is recorded for `90_rollback.ipynb`.
#
# Running it again later? When there is nothing left to write, a sandbox org that shows
# the setting on needs no attestation (no one did anything in this run); on a real org,
# give the earlier apply's attestation again, with its original time in `attestation_at`.
#
# In the JupyterLab form, once the plan lists the manual step, the apply part also asks who
# did it and what was done.

# %%
applied = rb.apply()

# %% [markdown]
# ## 4. Verify
#
# Each written object is read back and compared with the parameters.
#
# **What to check afterwards:** as a pilot user, open the sign-in page in a private window:
# the checkbox is there; tick it, sign in with MFA, sign out and back in: no MFA prompt until
# the lifetime runs out. A user outside the groups still gets MFA every time.

# %%
verification = rb.verify()

# %% [markdown]
# ## 5. Finish

# %%
result = rb.finish()
