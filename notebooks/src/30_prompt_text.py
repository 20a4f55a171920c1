# %% [markdown]
# # KMSI prompt text
#
# This runbook sets the **wording of the post-sign-in "Stay signed in?" prompt** on the
# sign-in page of one or more brands: its title, subtitle and the two buttons. Text you leave
# empty is not changed.
#
# **Why it matters.** The prompt is where users decide whether a device is remembered, and a
# remembered device skips MFA prompts for a while. The wording should say plainly what they
# agree to (for example: only on a device you alone use). The page is sent back whole, so
# everything else on it stays as it is.
#
# With `preview_first` the text goes to the brand's preview page and the plan result gives
# its URL: review it there, then run again without it to make it live.
#
# In JupyterLab (`kmsi lab`) the plan, apply and verify cells show the parts of one form
# instead, and each part says what to do in it.

# %% tags=["parameters"]
from typing import Optional, Union  # the types of the parameters below

brands: "Union[str, list, None]" = None  # required: brand names or ids, or "all" for every brand
title: "Optional[str]" = None  # prompt title (None keeps the current one)
subtitle: "Optional[str]" = None  # prompt subtitle (None keeps the current one)
accept_button_text: "Optional[str]" = None  # accept button text (None keeps the current one)
reject_button_text: "Optional[str]" = None  # reject button text (None keeps the current one)
preview_first: bool = False  # write to the preview page (and report its URL) instead of live
allow_unusual_values: list = []  # fields whose usual ceiling is lifted (Okta's limits still apply)
mode: str = "plan"  # plan | apply
change_id: str = ""  # change ticket, required for apply
evidence_dir: str = ""  # where the notebook writes result.json (empty means a temp dir)
approved_plan: str = ""  # path to an approved plan JSON (apply only)
interactive: bool = False  # JupyterLab: show a form instead of running straight through

# %% [markdown]
# ## 1. Connect
#
# Scopes requested: brands read and manage.

# %%
from kmsi_lib.runbooks.runbook import Runbook

rb = Runbook.start("prompt_text", globals())  # connects, shows the org and its engine

# %% [markdown]
# ## 2. Plan
#
# For each brand, the customized sign-in page is read (or the default one when the brand has
# none yet) and only the prompt fields are compared with the parameters.

# %%
plan = rb.plan()

# %% [markdown]
# ## 3. Apply
#
# Apply mode only, with a change ticket. The page is re-read and a plan that no longer
# matches it is refused; the old page is kept as the before-state for a rollback.

# %%
applied = rb.apply()

# %% [markdown]
# ## 4. Verify
#
# Each brand's page is read again and its prompt compared with the parameters.
#
# **What to check afterwards:** sign in through the brand's domain to an app with post-auth
# KMSI allowed and read the prompt: wording, buttons, and that the rest of the page is
# unchanged.

# %%
verification = rb.verify()

# %% [markdown]
# ## 5. Finish

# %%
result = rb.finish()
