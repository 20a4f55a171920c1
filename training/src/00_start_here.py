# %% [markdown]
# # Start here: Keep Me Signed In, hands-on
#
# This workspace is yours. It holds copies of the runbooks (`NN_*.ipynb`) and the training
# notebooks (`00_start_here.ipynb`, `E1_…` to `E6_…`), and it talks to a **sandbox**: an
# emulated Okta org ("Acme Corp") that runs on this machine. Nothing you do here reaches a
# real org, and a facilitator can put the sandbox back the way it was at any time.
#
# Run the cells from top to bottom (Shift+Enter). Each section explains one idea, then shows
# it on the sandbox, read through the same library the runbooks use.

# %%
from IPython.display import HTML, display

from kmsi_lib import training
from kmsi_lib.engine import EVERYONE_ELSE, Cohort, witness
from kmsi_lib.engine.evaluate import evaluate
from kmsi_lib.engine.timeline import timeline
from kmsi_lib.engine.timeline_chart import timeline_html, timeline_svg
from kmsi_lib.training import org, tour

client = training.connect()  # OKTA_ORG_URL / OKTA_API_TOKEN, set by `kmsi lab`; sandbox only
snap = org.read(client)
print(f"Connected to {client.org_url}: {len(snap.apps)} apps, {len(snap.groups)} groups")

# %% [markdown]
# ## 1. What "Keep Me Signed In" is
#
# Without it, closing the browser ends the Okta session, and the next visit starts with a
# password and MFA again. With **Keep Me Signed In** (KMSI) Okta can remember the device:
# the session survives the browser being closed, and for a while the device counts as a
# verified factor. Users are asked less often; that is the whole benefit, and the whole risk.
#
# Okta offers it in two places, which the next sections take apart:
#
# * **before** sign-in, a "Keep me signed in" checkbox on the sign-in page (*pre-auth*);
# * **after** sign-in, a "Stay signed in?" question once the user has proved who they are
#   (*post-auth*), decided per app by the app's authentication policy.

# %% [markdown]
# ## 2. Two kinds of policy, and how Okta combines them
#
# Every sign-in meets two policies, one after the other:
#
# 1. The **global session policy** (`OKTA_SIGN_ON`) decides how a user gets an Okta session
#    at all: which factors at sign-in, how long before MFA is asked again (the *MFA
#    lifetime*), how long an idle session lives. Okta walks these policies top down and uses
#    the first whose groups include the user; the **Default Policy** catches everyone else.
# 2. The **authentication policy** (`ACCESS_POLICY`, "app sign-in policy") of the app being
#    opened decides what that app asks for on top: one or two factor types, how often to
#    re-authenticate, and whether to offer "Stay signed in?". Each app has exactly one
#    authentication policy, and **a policy can be shared by many apps**: a change to one of
#    its rules changes every one of those apps.
#
# Inside each policy the rules are tried by priority; the first rule whose conditions match
# wins, and the rest are not looked at. Here are the sandbox's policies:

# %%
display(tour.session_policies(snap))
display(tour.app_policies(snap))

# %% [markdown]
# The library's evaluator (`kmsi_lib.engine.evaluate`) does what Okta does: it takes a
# *cohort* (a group's members, or everyone else) and an app, and returns the global session
# rule and the app rule that apply. Compare everyone else with the KMSI Pilot group on the
# Okta Dashboard:

# %%
dashboard = snap.app_id("Okta Dashboard")
pilot = Cohort.of_group(snap.group_id("KMSI Pilot"))
for cohort in (EVERYONE_ELSE, pilot):
    print(evaluate(snap.view, cohort, dashboard).describe(), end="\n\n")

# %% [markdown]
# ## 3. Pre-auth versus post-auth
#
# * **Pre-auth KMSI** is a checkbox shown *before* the user signs in. It is switched on for
#   the whole org (Security > General > Organization Security; Okta has no API for it, so
#   our pre-auth runbook lists it as a manual step and asks who did it). What it does to
#   MFA is set in a global session policy: MFA asked once per MFA lifetime, for the groups
#   that policy names.
# * **Post-auth KMSI** is the "Stay signed in?" question *after* a successful sign-in. It is
#   a setting of an app sign-in rule (`keepMeSignedIn.postAuth: ALLOWED`, with how often the
#   question comes back, `postAuthPromptFrequency`). Its wording is set per brand, on that
#   brand's sign-in page.
#
# In the sandbox, the org-wide pre-auth setting is:

# %%
seen = witness.for_client(client)
setting = seen.org_setting("preAuthKmsi") if seen is not None else None
print("pre-auth 'Keep me signed in' is", {True: "on", False: "off", None: "unknown"}[setting])

# %% [markdown]
# ## 4. The risk: a remembered device skips MFA
#
# A user who answers "Stay signed in" turns the device into something Okta trusts. Until the
# session or the remembered factor runs out, **whoever holds that device** gets in without a
# password or MFA. That is fine on a personal laptop and dangerous on a shared or lost one,
# which is why exercise E4 is about a lost laptop and why the reset runbook forgets devices.
#
# The timeline below plays two working weeks for a KMSI Pilot member on the Okta Dashboard:
# once for a user who answers "Stay signed in", once for one who declines. Each marker is a
# moment the user is asked for something, or a session ends. (The model and its limits are
# in `docs/TIMELINE.md`.)

# %%
outcome = evaluate(snap.view, pilot, dashboard)
kept, declined = (timeline(outcome, stay_signed_in=answer) for answer in (True, False))
for played in (kept, declined):
    print("\n".join(played.describe().splitlines()[:6]), end="\n\n")
chart = timeline_svg(None, [kept, declined], title="KMSI Pilot on the Okta Dashboard")
display(HTML(timeline_html(chart, "Two working weeks, with and without 'Stay signed in'")))

# %% [markdown]
# Look at the first evening: the answer alone does not keep anyone signed in. Whether a
# session outlives a closed browser is decided by the *global session* rule that applies
# (here the Default Rule); the app rule only decides whether the question is asked. That is
# the two policies working together, and the reason a KMSI change always starts with
# reading both.
#
# ## 5. See before you change: the impact view
#
# Every writing runbook shows a **plan** first and writes nothing until you apply it. The
# plan's impact section evaluates the org before and after, and lists every app and cohort
# whose sign-in would change, *including the ones you did not name*. Here is a plan (only a
# plan: nothing is written) for the post-auth prompt on Slack alone:

# %%
from kmsi_lib.procedures import post_auth  # noqa: E402 - shown where it is used

plan = post_auth.plan(client, {"apps": {"labels": ["Slack"]}, "prompt_frequency": "P7D"})
display(plan)

# %% [markdown]
# Slack shares the authentication policy "Any two factors" with fifteen other apps, so the
# plan reaches all of them, and the runbook will not apply it until you type that reach in
# `acknowledge_reach`. Exercise E1 is about exactly this.
#
# ## 6. Okta's guide, and why our runbooks differ
#
# Okta's public how-to for KMSI is prose with JSON examples, and several examples would fail
# or do something else than they say. Our runbooks send what the API reference defines, and
# a test pins each difference. The ones a new admin meets first:
#
# * **The MFA lifetime is a number of minutes**, and it only counts when the prompt mode is
#   "once per session"; the guide writes it as a string and pairs it with a device mode.
# * **Settings live where the API expects them**: factor mode and re-authentication inside
#   the verification method of the app rule, KMSI inside the app sign-on block, the prompt
#   text inside the sign-in page's widget customisations. Misplaced, they are ignored or
#   refused.
# * **Some fields are Okta's to set**, such as `system`, ids and the default rule's
#   persistent cookie; we read them and send them back unchanged instead of inventing them.
# * **A sign-in page is replaced whole**: we read it, change the prompt, and send it all back,
#   so the rest of the page survives.
# * **Resetting a user is explicit**: whether to forget remembered devices and whether to
#   revoke OAuth tokens are always sent, never left to a default that differs between engines.
#
# The full list, with the API reference lines, is in `docs/OKTA-API.md` (section 12.1).
#
# ## 7. The exercises
#
# Open `E1_…` to `E6_…` in this folder. Each one has a task, a cell that sets the sandbox up
# for it, the runbook to use, a **Check my work** cell that tells you what is right and what
# is wrong, and a **Hint** cell (ask repeatedly: the first hint only nudges). Your progress:

# %%
display(training.progress())
