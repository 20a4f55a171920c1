# %% [markdown]
# # E1: Post-auth KMSI for Workday and GitHub only
#
# Two teams ask for fewer sign-in prompts on **Workday** and **GitHub Enterprise Cloud**,
# and only there: AWS IAM Identity Center holds production access and must keep asking as it
# does today. Remember that an app's authentication policy may be shared.
#
# **Your task:** Offer the 'Stay signed in?' prompt, once a week, on Workday and GitHub
# Enterprise Cloud, and on no other app.
#
# Work in this order: set the exercise up (next cell), do the task with the runbook(s), then
# check your work. The check reads the sandbox and tells you what is right and what is wrong,
# and why; ask for a hint when you are stuck (the first one only nudges).

# %%
from IPython.display import display

from kmsi_lib import training
from kmsi_lib.training import console  # noqa: F401 - the Admin Console steps, if you need one
from kmsi_lib.training.widgets import buttons

EXERCISE = "E1"  # the task is above; the set-up below says it again

# %% [markdown]
# ## Set up this exercise
#
# This brings the sandbox to the exercise's starting point and remembers it (in
# `kmsi-training.json` in this folder). Run it again to start over.

# %%
print(training.setup(EXERCISE))

# %% [markdown]
# ## Do the task
#
# Open [20_post_auth.ipynb](20_post_auth.ipynb) in this folder and use its form: plan first,
# read the plan and its impact section, then apply. Some fixes are not runbook changes but
# clicks in the Okta Admin Console; against the sandbox this notebook offers them as
# functions, to call in the empty cell below if you decide you need one:
#
# * `console.give_own_policy(None, ["App label", ...], "New policy name")`: Applications >
#   the app > Sign On > User authentication, choosing a new policy (a copy of the current one);
# * `console.move_rule(None, "Policy name", "Rule name", priority)`: Security >
#   Authentication Policies > the policy > drag a rule to another place (0 is first);
# * `console.deactivate_rule(None, "Policy name", "Rule name")`: the rule's Deactivate action.

# %%
# your Admin Console steps, if any

# %% [markdown]
# ## Check my work

# %%
training.check(EXERCISE)

# %% [markdown]
# ## Hint
#
# Each run of this cell gives the next hint: a nudge first, the way last.

# %%
print(training.hint(EXERCISE))

# %% [markdown]
# ## Buttons and your progress
#
# The same as buttons: **Check my work**, **Hint**, and **Reset this exercise** (the
# facilitator's reset when this workspace has one, else the exercise's set-up again); below
# them, every exercise's progress as it stands when this cell runs.

# %%
display(buttons(EXERCISE), training.progress())
