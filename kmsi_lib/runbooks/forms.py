"""ipywidgets forms over a procedure's parameters: fill in, Plan, read the diff, Apply.

:class:`RunbookForm` is what a runbook shows in JupyterLab (``interactive``):

* one input per parameter of the procedure's pydantic ``Params``, prefilled
  from the notebook's parameters: a checkbox for ``bool``, a number box for
  ``int``, a dropdown for a fixed set of values, a text box for text, and a
  text area for lists (one entry per line, or separated by commas) and for
  JSON values; a nested model (``apps``) gets one input per field;
* each input labelled in plain words, with the parameter's name, its description
  and, for durations and minutes, the value in words under it (as it is typed);
* beside each input, the validation message for that field (pydantic runs on
  every change and again on Plan), and the suggestion for a near-miss name the
  org revealed (an app, group, user or brand);
* a Plan button that shows the diff in an ``Output`` widget;
* a change-ticket box (the org's pattern, :func:`~kmsi_lib.runbooks.contract.change_id_problem`)
  and an Apply button that stays disabled until a plan was shown and a ticket
  entered, and is disabled again when the form changes after planning (the plan
  shown must be the plan applied); after an apply the box is empty again, and a
  ticket that approved an earlier apply of the session needs its own checkbox;
* checkboxes for what the operator must confirm: a reach wider than named, and
  privileged selections (the Okta Admin Console, administrator groups),
  recorded in the apply result's notes;
* the Admin Console attestation inputs when the plan has manual steps;
* on the rollback form, the session's recorded applies to choose from
  (:class:`~kmsi_lib.runbooks.session.ApplyPicker`, the last one by default);
* a progress bar for bulk steps (session resets) and the verification after apply;
* a Verify button that reads the org again and checks it against the form.

The form is cut into one part per step of the runbook (:attr:`RunbookForm.steps`):
``plan`` (the inputs, Plan and the diff), ``apply`` (the ticket, the attestation,
Apply and what was written) and ``verify`` (the read-back), each headed by a line that
says how to work it (:data:`GUIDANCE`, the same for every runbook). A notebook shows
each part under its own step's explanation, so a trainee reads why, then does
it; the parts share one state, so Apply still applies exactly the plan shown.

The buttons call :class:`kmsi_lib.runbooks.runbook.Runbook`, so a form run leaves the
same ``result.json`` evidence as a headless run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html import escape
from typing import TYPE_CHECKING, TypeVar

import ipywidgets as w

from kmsi_lib.engine import (
    ACKNOWLEDGE_FIELD,
    ApplyResult,
    Plan,
    PlanImpact,
    privileged_selection,
)
from kmsi_lib.errors import ParameterError
from kmsi_lib.jsontypes import JsonObject
from kmsi_lib.runbooks.contract import change_id_problem
from kmsi_lib.runbooks.display import Html, notice
from kmsi_lib.runbooks.fields import (
    LABEL,
    FieldInput,
    field_inputs,
    field_of,
    validate_values,
    wide,
)
from kmsi_lib.runbooks.session import ApplyPicker, applies_dir

if TYPE_CHECKING:
    from kmsi_lib.runbooks.runbook import Runbook

__all__ = ["FieldInput", "RunbookForm", "field_inputs", "validate_values"]

T = TypeVar("T")

#: What to do in each step's part of the form, shown under its heading (the notebooks' step
#: cells explain the procedure; the form says how to work it). Read-only forms (the audit)
#: have their own plan and verify lines and no Apply.
GUIDANCE: dict[str, str] = {
    "plan": "Edit the fields (a wrong value is marked beside its field), click <b>Plan</b>"
    " and read the diff. A field changed after planning takes the plan away: plan again.",
    "apply": "Enter the change ticket that approved the plan above, then click <b>Apply</b>."
    " Until it can be clicked, the line under it says what it waits for: a plan shown, a"
    " ticket, and whatever this plan asks you to confirm.",
    "verify": "After an <b>Apply</b> the read-back appears here by itself; <b>Verify</b>"
    " reads the org again whenever you want to check it.",
}
READ_ONLY_GUIDANCE: dict[str, str] = {
    "plan": "Change the thresholds if you need to, click <b>Plan</b> to read the org, and"
    " read the report.",
    "apply": "",
    "verify": "The findings appear here as checks after each <b>Plan</b> (read) above.",
}


def _display_data(obj: object) -> JsonObject:
    """A notebook output (nbformat ``display_data``) of ``obj``: its text and its HTML."""
    to_text = getattr(obj, "to_text", None)
    data: JsonObject = {"text/plain": to_text() if callable(to_text) else str(obj)}
    to_html = getattr(obj, "_repr_html_", None)
    if callable(to_html):
        data["text/html"] = to_html()
    return {"output_type": "display_data", "data": data, "metadata": {}}


def put(output: w.Output, obj: object) -> None:
    """Append ``obj`` (HTML and text) to an Output widget, with or without a kernel."""
    output.outputs = (*output.outputs, _display_data(obj))


class RunbookForm:
    """The form of one runbook; ``widget`` is what the notebook displays.

    Every handler works without a browser (tests set widget values and call
    :meth:`on_plan` / :meth:`on_apply`).
    """

    def __init__(self, runbook: Runbook) -> None:
        self.runbook = runbook
        self.model = runbook.procedure.params
        self.inputs = field_inputs(self.model, runbook.params)
        self.general = w.HTML(value="")
        self.plan_button = _button(
            "Plan", "info", "search", "Read the org and show what Apply would change"
        )
        self.plan_output = w.Output()
        attested = runbook.attestation or {}
        self.ticket = w.Text(
            value=runbook.change_id,
            description="Change ticket",
            placeholder="e.g. CHG-1234",
            style=LABEL,
            layout=wide(),
        )
        self.attest_by = w.Text(
            description="Manual steps done by",
            value=str(attested.get("by", "")),
            placeholder="who did them (name or admin login)",
            style=LABEL,
            layout=wide(),
        )
        self.attest_statement = w.Textarea(
            description="What was done",
            rows=3,
            value=str(attested.get("statement", "")),
            placeholder="what was changed, where",
            style=LABEL,
            layout=wide("54em"),
        )
        self.attestation_box = w.VBox([self.attest_by, self.attest_statement])
        self.attestation_box.layout.display = "none"
        self.reach_ack, self.reach_text, self.reach_box = _acknowledgement(
            "I have read the impact section and accept this reach", "kmsi-reach"
        )
        self.privileged_ack, self.privileged_text, self.privileged_box = _acknowledgement(
            "I know this changes privileged access, and I mean to", "kmsi-privileged"
        )
        #: tickets used by the applies of this form session, oldest first
        self.used_tickets: list[str] = []
        self.reuse_ack, _, self.reuse_box = _acknowledgement(
            "Use this ticket again (it approved an earlier apply in this session)",
            "kmsi-ticket-reuse",
            explained=False,
        )
        self.apply_button = _button(
            "Apply", "danger", "check", "Write the plan shown above to the org", disabled=True
        )
        self.apply_hint = w.HTML(value="")
        self.progress = w.IntProgress(value=0, min=0, max=1, description="Progress")
        self.progress_text = w.HTML(value="")
        self.progress_box = w.HBox([self.progress, self.progress_text])
        self.progress_box.add_class("kmsi-progress")
        self.progress_box.layout.display = "none"
        self.apply_output = w.Output()
        self.verify_button = _button(
            "Verify", "info", "refresh", "Read the org again and check every field", disabled=True
        )
        self.verify_hint = w.HTML(value="")
        self.verify_output = w.Output()
        # what the plan step made: a Plan, or an audit's report (None: not planned)
        self.plan: object = None
        self.applied = False

        for item in self.inputs:
            item.widget.observe(self._changed, names="value")
        for widget in (
            self.ticket,
            self.attest_by,
            self.attest_statement,
            self.reach_ack,
            self.privileged_ack,
            self.reuse_ack,
        ):
            widget.observe(lambda _change: self.refresh(), names="value")
        self.plan_button.on_click(lambda _b: self.on_plan())
        self.apply_button.on_click(lambda _b: self.on_apply())
        self.verify_button.on_click(lambda _b: self.on_verify())

        title = escape(runbook.procedure.title)
        read_only = not runbook.writes
        guidance = READ_ONLY_GUIDANCE if read_only else GUIDANCE
        #: the rollback form's list of this session's applies (None on other forms)
        self.picker: ApplyPicker | None = None
        if any(i.name == "apply_result" for i in self.inputs):
            self.picker = ApplyPicker(
                applies_dir(runbook.evidence_dir), self.by_name("apply_result").widget
            )
        self.steps: dict[str, w.VBox] = {
            "plan": _step_box(
                "plan",
                f"<h3>{title}: {'read' if read_only else 'plan'}</h3>",
                guidance["plan"],
                [
                    *([self.picker.widget] if self.picker is not None else []),
                    *(item.row for item in self.inputs),
                    self.general,
                    self.plan_button,
                    self.plan_output,
                ],
            ),
            # the audit only reads: nothing to apply, its findings are the verify step
            "apply": _step_box(
                "apply",
                f"<h3>{title}: apply</h3>",
                guidance["apply"],
                [
                    self.reach_box,
                    self.privileged_box,
                    self.attestation_box,
                    w.HBox([self.ticket, self.apply_button]),
                    self.reuse_box,
                    self.apply_hint,
                    self.progress_box,
                    self.apply_output,
                ]
                if not read_only
                else [
                    w.HTML(value="<i>This procedure only reads: there is nothing to apply.</i>"),
                ],
            ),
            "verify": _step_box(
                "verify",
                f"<h3>{title}: verify</h3>",
                guidance["verify"],
                [
                    self.verify_button,
                    self.verify_hint,
                    self.verify_output,
                ],
            ),
        }
        #: every step in one box, for showing the whole form in a single cell
        self.widget = w.VBox([self.steps["plan"], self.steps["apply"], self.steps["verify"]])
        self.check()
        self.refresh()

    # -------------------------------------------------------------- state

    def by_name(self, name: str) -> FieldInput:
        return next(i for i in self.inputs if i.name == name)

    def check(self) -> JsonObject | None:
        """Validate the inputs now; show each message beside its field. The values or None."""
        values, messages, general = validate_values(self.model, self.inputs)
        for item in self.inputs:
            item.show(messages.get(item.name, ""))
        self.general.value = (
            f'<span class="kmsi-form-error" style="color:#b3261e">{escape(general)}</span>'
            if general
            else ""
        )
        return values

    def _changed(self, _change: object) -> None:
        if self.plan is not None:
            self.plan = None
            self.plan_output.outputs = ()
            put(self.plan_output, _note("The form changed after planning: plan again."))
        self.check()
        self.refresh()

    @property
    def needs_attestation(self) -> bool:
        return isinstance(self.plan, Plan) and bool(self.plan.manual_steps)

    @property
    def wide_reach(self) -> PlanImpact | None:
        """The plan's impact when its reach is wider than what was named and the plan's own
        ``acknowledge_reach`` does not already confirm it (then the checkbox must), else None."""
        if not isinstance(self.plan, Plan) or not self.plan.impact:
            return None
        impact = PlanImpact.from_dict(self.plan.impact)
        if not impact.wider_than_named or self.plan.params.get(ACKNOWLEDGE_FIELD) == impact.reach:
            return None
        return impact

    @property
    def privileged(self) -> list[str]:
        """The privileged things the plan names (the Admin Console, administrator groups),
        in words; Apply waits for :attr:`privileged_ack` while there are any."""
        if not isinstance(self.plan, Plan) or (self.plan.is_empty and not self.plan.manual_steps):
            return []
        return privileged_selection(self.plan.params, self.plan.impact)

    @property
    def ticket_reused(self) -> bool:
        """The ticket entered approved an earlier apply of this session."""
        return self.ticket.value.strip() in self.used_tickets

    def apply_blocker(self) -> str:
        """Why Apply is disabled now ('' when it is enabled)."""
        if not self.runbook.writes:
            return "This procedure only reads: there is nothing to apply."
        if self.applied:
            return "Applied. Plan again to make another change."
        if self.plan is None:
            return "Click Plan and read the diff first."
        if not isinstance(self.plan, Plan) or (self.plan.is_empty and not self.plan.manual_steps):
            return "Nothing to apply: the org already matches."
        if not self.ticket.value.strip():
            return "Enter the change ticket that approved this plan."
        problem = change_id_problem(self.ticket.value)
        if problem:
            return f"Change ticket: {problem}."
        if self.ticket_reused and not self.reuse_ack.value:
            return (
                f"The ticket {self.ticket.value.strip()!r} approved an earlier apply in this"
                " session: enter the ticket of this change, or tick the box to use it again."
            )
        if self.needs_attestation and not (
            self.attest_by.value.strip() and self.attest_statement.value.strip()
        ):
            return "Do the manual steps listed in the plan, then say who did them and what."
        if self.wide_reach is not None and not self.reach_ack.value:
            return (
                f"This change reaches {self.wide_reach.reach} app(s), more than you named:"
                " read the impact section, then tick the box to accept that reach."
            )
        if self.privileged and not self.privileged_ack.value:
            return (
                "This plan names privileged access ("
                + "; ".join(self.privileged)
                + "): tick the box to confirm that you mean it."
            )
        return ""

    def verify_blocker(self) -> str:
        """Why Verify is disabled now ('' when it is enabled)."""
        if self.runbook.writes and not self.applied:
            return "Apply first: the verify step reads back what the apply wrote."
        if not self.runbook.writes and self.plan is None:
            return "Click Plan (read the posture) first."
        return ""

    def refresh(self) -> None:
        blocker = self.apply_blocker()
        self.apply_button.disabled = bool(blocker)
        self.apply_hint.value = f"<i>{escape(blocker)}</i>" if blocker else ""
        self.attestation_box.layout.display = "" if self.needs_attestation else "none"
        wide_reach = self.wide_reach
        self.reach_box.layout.display = "" if wide_reach is not None else "none"
        self.reach_text.value = (
            f'<p class="kmsi-warning" style="background:#fef7e0;padding:4px 8px">'
            f"<b>Reach:</b> {escape(wide_reach.headline())}</p>"
            if wide_reach is not None
            else ""
        )
        privileged = self.privileged
        self.privileged_box.layout.display = "" if privileged else "none"
        self.privileged_text.value = (
            '<p class="kmsi-warning" style="background:#fce8e6;padding:4px 8px">'
            "<b>Privileged:</b> this plan names "
            + escape("; ".join(privileged))
            + ". A remembered or longer session there is a risk: confirm it explicitly.</p>"
            if privileged
            else ""
        )
        self.reuse_box.layout.display = "" if self.ticket_reused else "none"
        waiting = self.verify_blocker()
        self.verify_button.disabled = bool(waiting)
        self.verify_hint.value = f"<i>{escape(waiting)}</i>" if waiting else ""

    @contextmanager
    def _into(self, output: w.Output) -> Iterator[None]:
        """Route what the runbook displays into ``output`` while a button runs."""
        before = self.runbook.display
        self.runbook.display = lambda obj: put(output, obj)
        try:
            yield
        finally:
            self.runbook.display = before

    def _run(self, output: w.Output, step: Callable[[], T]) -> T | None:
        """Run one runbook step with its display routed into ``output``, then show its
        result there too. None when it failed: the runbook has shown and recorded the
        error; a wrong parameter the org revealed (no such app) is also marked on its field.
        """
        with self._into(output):
            try:
                made = step()
            except ParameterError as exc:
                owner = field_of(exc.field, [i.name for i in self.inputs])
                if owner is not None:
                    self.by_name(owner).show(exc.message)
                return None
            except Exception:
                return None
        if made is not None:
            put(output, made)
        return made

    # -------------------------------------------------------------- buttons

    def on_plan(self) -> object:
        """Validate, plan and show the diff; enables Apply once a ticket is entered."""
        self.plan = None
        self.reach_ack.value = False
        self.privileged_ack.value = False
        self.applied = False
        self.plan_output.outputs = ()
        self.apply_output.outputs = ()
        self.verify_output.outputs = ()
        values = self.check()
        if values is None:
            put(self.plan_output, _note("Fix the fields marked in red, then click Plan."))
            self.refresh()
            return None
        made = self._run(self.plan_output, lambda: self.runbook.plan(values, show=False))
        if made is not None and not self.runbook.writes:
            # the audit has no Apply: its findings-as-checks table follows its report in
            # the verify step, as the headless run shows it
            self._verify()
        self.plan = made
        self.refresh()
        return made

    def _verify(self) -> object:
        """Run the runbook's verify step into the verify output; the verification or None."""
        self.verify_output.outputs = ()
        return self._run(
            self.verify_output, lambda: self.runbook.verify(show=False, from_form=True)
        )

    def on_verify(self) -> object:
        """Read the org again and check it against the parameters that were planned and applied."""
        if self.verify_blocker():
            self.refresh()
            return None
        self.verify_button.disabled = True
        try:
            return self._verify()
        finally:
            self.refresh()

    def on_apply(self) -> ApplyResult | None:
        """Apply the plan shown, then verify; both outputs end up in the form."""
        if self.apply_blocker():
            self.refresh()
            return None
        assert isinstance(self.plan, Plan)
        self.apply_button.disabled = True
        self.plan_button.disabled = True
        wide_reach = self.wide_reach
        self.runbook.acknowledged_reach = wide_reach.reach if wide_reach is not None else None
        ticket = self.ticket.value.strip()
        self.runbook.apply_notes = self._confirmations(ticket)
        if self.needs_attestation:
            self.runbook.attestation = {
                "by": self.attest_by.value.strip(),
                "statement": self.attest_statement.value.strip(),
            }
        bulk = self.runbook.procedure.bulk
        if bulk:
            self.progress_box.layout.display = ""
            self._progress(0, len(self.plan.changes))
        self.apply_output.outputs = ()
        self.verify_output.outputs = ()
        plan = self.plan
        try:
            outcome = self._run(
                self.apply_output,
                lambda: self.runbook.apply(
                    plan,
                    change_id=self.ticket.value,
                    show=False,
                    from_form=True,
                    progress=self._progress if bulk else None,
                ),
            )
            if outcome is not None:
                self.applied = True
                # a ticket approves one change: the next apply asks for one again
                self.used_tickets.append(ticket)
                self.ticket.value = ""
                self.reuse_ack.value = False
                self._verify()
        finally:
            self.plan_button.disabled = False
            self.refresh()
        return outcome

    def _confirmations(self, ticket: str) -> list[str]:
        """What the operator confirmed with the form's boxes, as the apply result's notes."""
        notes = []
        if self.privileged:
            notes.append(
                "the operator acknowledged privileged selections at apply: "
                + "; ".join(self.privileged)
            )
        if ticket in self.used_tickets:
            notes.append(
                f"the change ticket {ticket!r} approved an earlier apply of this form session"
                " too: using it again was confirmed at apply"
            )
        return notes

    def _progress(self, done: int, total: int) -> None:
        self.progress.max = max(1, total)
        self.progress.value = done
        self.progress_text.value = f"{done} of {total} done"


def _button(
    description: str, style: str, icon: str, tooltip: str, *, disabled: bool = False
) -> w.Button:
    """One of the form's step buttons (Plan, Apply, Verify)."""
    return w.Button(
        description=description,
        button_style=style,
        icon=icon,
        tooltip=tooltip,
        disabled=disabled,
    )


def _acknowledgement(
    description: str, css_class: str, *, explained: bool = True
) -> tuple[w.Checkbox, w.HTML, w.VBox]:
    """An acknowledgement of the apply step: its checkbox, the text that says what is
    acknowledged (above it, when ``explained``) and their box, hidden until needed."""
    checkbox = w.Checkbox(value=False, description=description, indent=False, layout=wide("54em"))
    text = w.HTML(value="")
    box = w.VBox([text, checkbox] if explained else [checkbox])
    box.add_class(css_class)
    box.layout.display = "none"
    return checkbox, text, box


def _step_box(step: str, heading: str, guidance: str, children: list[w.Widget]) -> w.VBox:
    """One step's part of the form: a heading, what to do (:data:`GUIDANCE`), then its
    inputs and outputs."""
    guide = [w.HTML(value=f'<p class="kmsi-guide">{guidance}</p>')] if guidance else []
    box = w.VBox([w.HTML(value=heading), *guide, *children])
    box.add_class("kmsi-form")
    box.add_class(f"kmsi-step-{step}")
    return box


def _note(text: str) -> Html:
    return notice("warn", text)
