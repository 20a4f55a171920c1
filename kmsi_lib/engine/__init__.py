"""The procedure engine: parameters, plans, reads, writes, apply, verification.

One concept per module (public, importable on their own):

* :mod:`~kmsi_lib.engine.params` (with :mod:`.bounds` and :mod:`.constraints`):
  ``Params`` validation and its field-level messages.
* :mod:`~kmsi_lib.engine.paths`: dotted JSON paths, comparison by meaning, diffs.
* :mod:`~kmsi_lib.engine.model`: :class:`Plan`, :class:`Change`, :class:`ApplyResult`,
  :class:`Verification` and the rest of the evidence's data; :mod:`.render` draws them.
* :mod:`~kmsi_lib.engine.reader`: the lookup registry and the :class:`Reader` a plan reads
  through (its observations are replayed to refuse a stale plan).
* :mod:`~kmsi_lib.engine.edit`: :class:`Edit`, read-modify-write of one object.
* :mod:`~kmsi_lib.engine.select`: apps and groups named by the parameters.
* :mod:`~kmsi_lib.engine.kinds`: writers per kind of object.
* :mod:`~kmsi_lib.engine.apply` (with :mod:`.progress` and :mod:`.conflicts`): the apply
  engine, write progress and lost-update detection.
* :mod:`~kmsi_lib.engine.evaluate` (with :mod:`.outcome`): which global session and app
  sign-in rules apply to whom (pure, over the JSON read); its function ``evaluate`` is
  reached through the module (``from kmsi_lib.engine.evaluate import evaluate``), since the
  package's name ``evaluate`` is the module.
* :mod:`~kmsi_lib.engine.preview`: the post-auth "Keep me signed in" prompt drawn as the
  Sign-In Widget shows it (HTML and text), before and after, with warnings on its texts.
* :mod:`~kmsi_lib.engine.timeline` (with :mod:`.timeline_chart`): what a user meets over two
  working weeks under an outcome (pure), and its chart (an SVG drawn with drawsvg, imported
  only when drawing); its function ``timeline`` is reached through the module too
  (``from kmsi_lib.engine.timeline import timeline``), for the same reason as ``evaluate``.
* :mod:`~kmsi_lib.engine.crosscheck`: the evaluator compared with Okta's policy simulation
  API on a sample of users and apps (:func:`crosscheck`, a :class:`CrossCheck` report).
* :mod:`~kmsi_lib.engine.witness`: the sandbox witness, the one hook through which a
  verification may consult the emulated org's admin endpoints.

A procedure is declared by a :class:`Procedure` (:mod:`~kmsi_lib.engine.procedure`): its
name, title, scopes, ``Params``, ``plan(client, params)``, ``apply(client, plan, *,
attestation=None)`` and ``verify(client, params)``, built from these (see
:mod:`kmsi_lib.procedures`); :class:`Apply` and :class:`AppChange` are the steps several
procedures share.
"""

from __future__ import annotations

from kmsi_lib.engine.apply import (
    RULE_ORDER_KIND,
    AppDraft,
    apply_plan,
    check_procedure,
    check_same_org,
    is_local,
    plan_app_change,
    refuse_stale,
    start_apply,
)
from kmsi_lib.engine.crosscheck import (
    CrossCheck,
    Disagreement,
    crosscheck,
    sample_users,
)
from kmsi_lib.engine.edit import (
    Edit,
)
from kmsi_lib.engine.evaluate import (
    EVERYONE_ELSE,
    Cohort,
    Impact,
    OrgView,
    cohorts_for,
    evaluate_all,
    impact,
    org_view_from,
)
from kmsi_lib.engine.impact import (
    ACKNOWLEDGE_FIELD,
    PlanImpact,
    check_acknowledgement,
    looks_like_admin_group,
    privileged_selection,
)
from kmsi_lib.engine.impact_plan import (
    app_plan,
    plan_impact,
    recheck_reach,
    with_impact,
)
from kmsi_lib.engine.impact_render import timeline_section_html
from kmsi_lib.engine.impact_timeline import (
    TIMELINE_FILE,
    timeline_data,
    timeline_figure,
    timeline_lines,
)
from kmsi_lib.engine.kinds import (
    ObjectKind,
    PolicyKind,
    RuleKind,
    get_kind,
    register_kind,
)
from kmsi_lib.engine.model import (
    Action,
    AppliedChange,
    ApplyResult,
    Attestation,
    BeforeRecord,
    Change,
    Check,
    ManualStep,
    ObjectRef,
    Observation,
    Outcome,
    Plan,
    Verification,
    created_placeholder,
    fingerprint,
    utc_now,
)
from kmsi_lib.engine.outcome import (
    AppRule,
    SessionRule,
    SignInOutcome,
    duration_words,
    minutes_words,
)
from kmsi_lib.engine.params import (
    AcknowledgeReach,
    AllowUnusualValues,
    Minutes,
    ParamsModel,
    field_messages,
    parse_params,
    read_text_file,
    whole_number,
)
from kmsi_lib.engine.paths import (
    CONTAINS_KEYS,
    DURATION_KEYS,
    READ_ONLY_FIELDS,
    VOLATILE_FIELDS,
    FieldDiff,
    canonical,
    diff,
    get_path,
    same_value,
    set_path,
    writable,
)
from kmsi_lib.engine.preview import (
    FIT_LIMITS,
    PROMPT_FIELDS,
    PROMPT_PATH,
    WIDGET_DEFAULTS,
    PromptTexts,
    change_texts,
    prompt_preview_html,
    prompt_preview_text,
    prompt_warnings,
    shown_text,
)
from kmsi_lib.engine.procedure import (
    APP_CHANGE_SCOPES,
    AppChange,
    Apply,
    Procedure,
)
from kmsi_lib.engine.progress import (
    WriteListener,
    recover_apply_result,
    report_write,
    watch_writes,
)
from kmsi_lib.engine.reader import (
    Lookup,
    Reader,
    bulk_values,
    check_drift,
    or_none,
    register_lookup,
    run_lookup,
)
from kmsi_lib.engine.render import (
    html_table,
)
from kmsi_lib.engine.select import (
    AppSelection,
    ResolvedApp,
    reach_warnings,
    resolve_apps,
    resolve_groups,
    suggest,
    suggest_group,
    suggest_login,
    unknown_group,
)
from kmsi_lib.engine.timeline import (
    EVENT_KINDS,
    Timeline,
    TimelineEvent,
    UsagePattern,
)
from kmsi_lib.engine.timeline_chart import (
    timeline_html,
    timeline_svg,
)
from kmsi_lib.engine.witness import (
    SandboxWitness,
)

__all__ = [
    "ACKNOWLEDGE_FIELD",
    "APP_CHANGE_SCOPES",
    "AcknowledgeReach",
    "Action",
    "AllowUnusualValues",
    "AppChange",
    "AppDraft",
    "AppRule",
    "AppSelection",
    "AppliedChange",
    "Apply",
    "ApplyResult",
    "Attestation",
    "BeforeRecord",
    "CONTAINS_KEYS",
    "Change",
    "Check",
    "Cohort",
    "CrossCheck",
    "DURATION_KEYS",
    "Disagreement",
    "EVENT_KINDS",
    "EVERYONE_ELSE",
    "Edit",
    "FIT_LIMITS",
    "FieldDiff",
    "Impact",
    "Lookup",
    "ManualStep",
    "Minutes",
    "ObjectKind",
    "ObjectRef",
    "Observation",
    "OrgView",
    "Outcome",
    "PROMPT_FIELDS",
    "PROMPT_PATH",
    "ParamsModel",
    "Plan",
    "PlanImpact",
    "Procedure",
    "PolicyKind",
    "PromptTexts",
    "READ_ONLY_FIELDS",
    "RULE_ORDER_KIND",
    "Reader",
    "ResolvedApp",
    "RuleKind",
    "SandboxWitness",
    "SessionRule",
    "SignInOutcome",
    "TIMELINE_FILE",
    "Timeline",
    "TimelineEvent",
    "UsagePattern",
    "VOLATILE_FIELDS",
    "Verification",
    "WIDGET_DEFAULTS",
    "WriteListener",
    "app_plan",
    "apply_plan",
    "bulk_values",
    "canonical",
    "change_texts",
    "check_acknowledgement",
    "check_drift",
    "check_procedure",
    "check_same_org",
    "cohorts_for",
    "created_placeholder",
    "crosscheck",
    "diff",
    "duration_words",
    "evaluate_all",
    "field_messages",
    "fingerprint",
    "get_kind",
    "get_path",
    "html_table",
    "impact",
    "is_local",
    "looks_like_admin_group",
    "minutes_words",
    "or_none",
    "org_view_from",
    "parse_params",
    "plan_impact",
    "privileged_selection",
    "prompt_preview_html",
    "prompt_preview_text",
    "prompt_warnings",
    "reach_warnings",
    "read_text_file",
    "recheck_reach",
    "recover_apply_result",
    "plan_app_change",
    "refuse_stale",
    "register_kind",
    "register_lookup",
    "report_write",
    "resolve_apps",
    "resolve_groups",
    "run_lookup",
    "same_value",
    "sample_users",
    "set_path",
    "shown_text",
    "start_apply",
    "suggest",
    "suggest_group",
    "suggest_login",
    "timeline_data",
    "timeline_figure",
    "timeline_html",
    "timeline_lines",
    "timeline_svg",
    "timeline_section_html",
    "unknown_group",
    "utc_now",
    "watch_writes",
    "whole_number",
    "with_impact",
    "writable",
]
