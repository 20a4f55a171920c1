# %% [markdown]
# # Roll back an apply
#
# This runbook **puts back what an earlier apply changed**, using the before-state that
# apply recorded in its evidence: objects it created are deleted, objects it updated are
# sent back exactly as they were, and rule priorities Okta shifted are restored. Rolling back
# a KMSI change usually means MFA prompts return for users whose devices were remembered.
#
# **Safety first.** If someone changed one of those objects after the apply, the rollback
# refuses to run and names the object and field, because going back would silently undo
# their work. Decide with them, then list the object's id in `force_objects` to overwrite it
# anyway. Session revocations cannot be undone.
#
# Point `apply_result` at the apply run's `result.json` in its evidence folder
# (`evidence/<change>/<run>/result.json`). The before-state is trusted only once that run's
# evidence verifies (its ledger lists the run, the chain is intact, every hash matches);
# with `kmsi run` the run must be in the evidence root the rollback's own evidence goes to.
#
# In JupyterLab (`kmsi lab`) the plan, apply and verify cells show the parts of one form
# instead, and each part says what to do in it.

# %% tags=["parameters"]
from typing import Optional  # the types of the parameters below

apply_result: "Optional[str]" = None  # required: the apply run's result.json (verified first)
force_objects: list = []  # ids of objects changed since the apply that may be overwritten
allow_unusual_values: list = []  # fields whose usual ceiling is lifted (Okta's limits still apply)
mode: str = "plan"  # plan | apply
change_id: str = ""  # change ticket, required for apply
evidence_dir: str = ""  # where the notebook writes result.json (empty means a temp dir)
approved_plan: str = ""  # path to an approved plan JSON (apply only)
interactive: bool = False  # JupyterLab: show a form instead of running straight through

# %% [markdown]
# ## 1. Connect
#
# Scopes requested: what the reversible procedures write (policies and brands, read and
# manage).

# %%
from kmsi_lib.runbooks.runbook import Runbook

rb = Runbook.start("rollback", globals())  # connects, shows the org and its engine

# %% [markdown]
# ## 2. Plan
#
# Each object the apply wrote is read now and compared with what the apply left. The plan
# shows, field by field, the way back.
#
# In the JupyterLab form, the plan part also lists the applies made from forms in this
# session, newest first; with `apply_result` empty the newest is chosen, so no path needs
# typing.

# %%
plan = rb.plan()

# %% [markdown]
# ## 3. Apply
#
# Apply mode only, with a change ticket (usually the same ticket as the change being
# undone, or its back-out ticket). Deletes go first, then updates in priority order so
# every rule lands where it was.

# %%
applied = rb.apply()

# %% [markdown]
# ## 4. Verify
#
# Every object is read again and compared with its recorded before-state.
#
# **What to check afterwards:** run `00_audit.ipynb` and compare its report with the one
# taken before the original change.

# %%
verification = rb.verify()

# %% [markdown]
# ## 5. Finish

# %%
result = rb.finish()
