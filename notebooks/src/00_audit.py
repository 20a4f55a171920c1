# %% [markdown]
# # KMSI posture audit (read-only)
#
# This runbook **only reads**. It reports how Keep Me Signed In is set up across the org, so
# that an auditor or a new admin sees the whole picture before anything is changed:
#
# * every global session policy and its rules: whether MFA is required, how long an MFA
#   answer is remembered, the session idle and lifetime limits, persistent cookies;
# * every app sign-in (authentication) policy, the apps on it and its rules: whether the
#   post-sign-in "Stay signed in?" prompt is allowed and how often it returns;
# * the prompt text of each brand's sign-in page;
# * findings, ranked by severity, for the settings that weaken sign-in the most. Each names the
#   policy and rule, **every app** the rule serves and the **people** it reaches (groups by
#   name, "everyone else" for the rest), as the policy evaluator works them out: KMSI where
#   administrators sign in (high), KMSI on the default policy or for everyone (medium),
#   persistent cookies and long prompt intervals, MFA lifetimes or re-authentication past a
#   threshold, rules that never apply because an earlier rule catches their people first, and
#   rules that depend on conditions only a sign-in can decide (network zone, device, ...).
#
# **Why it matters.** KMSI lets a remembered device skip MFA prompts. The longer that lasts,
# and the more sensitive the app, the more an unattended or stolen device is worth to an
# attacker. The findings point at exactly those places.
#
# Run it before and after every change:
# `kmsi run notebooks/00_audit.ipynb -f params/sandbox/audit.yaml`.

# %% tags=["parameters"]
sensitive_apps: list = ["Okta Admin Console"]  # apps (label or id) where long re-auth is a finding
max_prompt_frequency: str = "P30D"  # a KMSI prompt shown less often than this is a finding
max_mfa_lifetime_minutes: int = 720  # MFA remembered longer than this (minutes) is a finding
reauthenticate_in_threshold: str = "PT43800H"  # app re-auth this rare or rarer is a finding
admin_groups: list = ["*admin*"]  # administrator groups by name or id (wildcards, any case)
include_brands: bool = True  # also read every brand's sign-in prompt text
max_workers: int = 4  # concurrent reads, within the rate-limit governor
allow_unusual_values: list = []  # fields whose usual ceiling is lifted (Okta's limits still apply)
mode: str = "plan"  # plan only: the audit never writes
change_id: str = ""  # change ticket (optional for an audit)
evidence_dir: str = ""  # where the notebook writes result.json (empty means a temp dir)
approved_plan: str = ""  # not used by the audit
interactive: bool = False  # JupyterLab: show a form instead of running straight through

# %% [markdown]
# ## 1. Connect
#
# The client asks only for read scopes (apps, brands, policies). The audit also runs
# against a Classic Engine org and then says so, since KMSI needs Identity Engine.

# %%
from kmsi_lib.runbooks.runbook import Runbook

rb = Runbook.start("audit", globals())  # connects, shows the org and its engine

# %% [markdown]
# ## 2. Read the posture
#
# Apps are listed once and each distinct policy's rules are read once, concurrently, so
# the audit stays quick on large orgs. The report below has one section per area and the
# findings first. In interactive mode, the form lets you change the thresholds and read
# again.
#
# Administrator groups are recognised by name (`admin_groups`, default `*admin*`): the audit
# does not read Okta's admin role assignments, so name yours if they are called otherwise.
#
# Beside `result.json` the run writes the findings as `findings.json` and `findings.csv`
# (columns: severity, finding, policy, rule, apps, cohorts, ids, detail), for a spreadsheet
# or a ticket; the evidence ledger hashes them with the rest of the run.

# %%
report = rb.plan()

# %% [markdown]
# ## 3. Findings as checks
#
# Each high or medium finding becomes a failed check, so the evidence says plainly whether
# the org is clean. Findings do not fail the run: they are what the audit is for.
#
# **What to check afterwards:** for each high finding, decide whether it is intended (note
# why in the change ticket) or plan a change with the pre-auth, post-auth or reset runbooks.

# %%
verification = rb.verify()

# %% [markdown]
# ## 4. Finish

# %%
result = rb.finish()
