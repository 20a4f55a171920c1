# %% [markdown]
# # Post-authentication Keep Me Signed In
#
# This runbook turns on the **"Stay signed in?" prompt that Okta shows after a user has
# signed in** to the apps you choose, and sets how often the prompt comes back and how
# long users may go before re-authenticating to those apps.
#
# **The trade-off.** A user who answers "yes" on a device is not asked for MFA again on
# that device until the remembered period runs out. That saves friction on devices people
# own, and it also means that whoever holds the unlocked device holds the session. Keep the
# prompt frequency short for sensitive apps and leave privileged apps (the Admin Console)
# out of the selection.
#
# **How to run it.** Headless:
# `kmsi run notebooks/20_post_auth.ipynb -f params/sandbox/post_auth.yaml --mode plan`,
# then `--mode apply --change CHG-…` once the plan is approved. In JupyterLab (`kmsi lab`)
# the plan, apply and verify cells show the parts of one form instead, and each part says
# what to do in it (elsewhere, set `interactive = True`). Credentials come from the environment
# (`OKTA_ORG_URL` with `OKTA_API_TOKEN`, or the OAuth service-app variables), never from
# the parameters below.

# %% tags=["parameters"]
from typing import Optional  # the types of the parameters below

apps: "Optional[dict]" = None  # required: apps by labels, ids or policies (auth policy names)
rule_name: "Optional[str]" = None  # rule per app policy (None: kmsi's own, else the Catch-all Rule)
prompt_frequency: str = "PT168H"  # how often the prompt is shown again (ISO-8601 duration)
factor_mode: str = "2FA"  # 1FA or 2FA for the app sign-in rule
reauthenticate_in: str = "PT168H"  # how long before users re-authenticate to the app
constraints: "Optional[list]" = None  # authenticator constraints (None keeps the rule's own)
update_default_rule: bool = True  # also set the global session Default Rule (no MFA there)
primary_factor: str = "PASSWORD_IDP_ANY_FACTOR"  # primary factor of the Default Rule
max_session_idle_minutes: int = 120  # Okta session idle limit (minutes)
max_session_lifetime_minutes: int = 0  # Okta session lifetime limit (minutes, 0 means none)
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
# The client is built from the environment with the smallest set of OAuth scopes this
# procedure needs (apps read, policies read and manage). It reads the org's well-known
# document to learn which engine it runs: Keep Me Signed In exists only in Okta Identity
# Engine, so a Classic Engine org is refused here before anything is read or written.

# %%
from kmsi_lib.runbooks.runbook import Runbook

rb = Runbook.start("post_auth", globals())  # connects, shows the org and its engine

# %% [markdown]
# ## 2. Plan
#
# The parameters are checked first; a wrong one is reported with its name. Then the
# procedure reads the global session Default Rule and, for each chosen app, the rule of its
# authentication policy, and lists every field it would change (before and after). Nothing
# is written. Above the field diff, the **impact section** says what the change does to
# people: each policy it touches with every app assigned to it (the ones you named are
# marked) and its rules in evaluation order, then each group whose sign-in changes, before
# and after in words. A policy is often shared (the default "Any two factors" serves most
# apps), so a change for one app can reach many: the plan then says so first, and the
# apply goes ahead only when `acknowledge_reach` names that number of apps (in the form,
# a checkbox in the apply step).

# %%
plan = rb.plan()

# %% [markdown]
# ## 3. Apply
#
# Only in `apply` mode and with a change ticket. The procedure reads every object again
# and refuses to write if anything moved since the plan was made (someone else's edit
# would otherwise be overwritten). Each rule is sent back whole, with only the KMSI fields
# changed, and read back afterwards. The before-state is recorded so that
# `90_rollback.ipynb` can undo the change.

# %%
applied = rb.apply()

# %% [markdown]
# ## 4. Verify
#
# After an apply, every rule is read from the org again and each planned field is compared
# with the parameters (durations by meaning, so `P7D` equals `PT168H`). A failed check fails
# the run.
#
# **What to check afterwards:** sign in to one of the apps in a private window, confirm the
# "Stay signed in?" prompt appears after MFA, and that a second sign-in within the
# frequency skips MFA on that device only. In the Admin Console, the app's authentication
# policy rule shows the prompt setting.

# %%
verification = rb.verify()

# %% [markdown]
# ## 5. Finish
#
# Writes the final `result.json` (parameters, plan, apply result, verification, the
# redacted request journal and the outcome) for the runner to turn into evidence.

# %%
result = rb.finish()
