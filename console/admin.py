"""Admin screens that compose several apps: the front page with the Star Ratings console, and the
worklist with its actions that record outreach done and propose interventions."""

from functools import partial

from django import forms
from django.contrib import admin, messages
from django.template.defaultfilters import pluralize
from django.utils import timezone

from gaps.admin import CareGapAdmin
from gaps.models import CareGap, WorkflowState
from hedis_portal.admin import action_with_form
from interventions.models import (
    InterventionType,
    OutreachChannel,
    OutreachGap,
    OutreachOutcome,
    OutreachRecord,
)
from interventions.services import (
    MAX_OUTREACH_GAPS,
    interventions_create_for_gaps,
    outreach_records_create,
)
from interventions.workflow import OUTCOME_STATES

OUTREACH_PERMISSION = "interventions.add_outreachrecord"


class InterventionActionForm(forms.Form):
    intervention_type = forms.ModelChoiceField(queryset=InterventionType.objects.filter(active=True))
    notes = forms.CharField(max_length=500, required=False, help_text="No names, IDs or clinical details.")


def _outcome_help() -> str:
    """What each outcome does to the gaps, in words (from `OUTCOME_STATES`)."""
    moves = "; ".join(
        f"{OutreachOutcome(outcome).label} → {WorkflowState(state).label}"
        for outcome, state in OUTCOME_STATES.items()
    )
    return f"Moves each gap's workflow: {moves}. A gap already there stays."


class OutreachActionForm(forms.Form):
    """Outreach already made about the selected gaps: which of them, how, what came of it, when.

    The gaps' versions are read when the form is first shown and sent back with it: a gap
    someone changed in between is refused (nothing is recorded) rather than overwritten.
    """

    gaps = forms.TypedMultipleChoiceField(
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        help_text="The gaps this outreach was about; each member gets one record.",
    )
    channel = forms.ChoiceField(choices=OutreachChannel.choices)
    outcome = forms.ChoiceField(choices=OutreachOutcome.choices)
    contacted_on = forms.DateField(
        label="Date", widget=forms.DateInput(attrs={"type": "date"}), help_text="The day of the outreach."
    )
    note = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=OutreachRecord._meta.get_field("note").help_text,
    )
    versions = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, data=None, *, gaps: list[CareGap]):
        super().__init__(data)
        self.fields["gaps"].choices = [
            (gap.pk, f"{gap} ({gap.measure.name}), {gap.get_workflow_state_display()}") for gap in gaps
        ]
        self.fields["outcome"].help_text = _outcome_help()
        today = timezone.localdate()
        self.fields["contacted_on"].widget.attrs["max"] = today.isoformat()
        self.initial = {
            "gaps": [gap.pk for gap in gaps],
            "contacted_on": today,
            "versions": ",".join(f"{gap.pk}:{gap.version}" for gap in gaps),
        }

    def clean_contacted_on(self):
        day = self.cleaned_data["contacted_on"]
        if day > timezone.localdate():
            raise forms.ValidationError("The date is in the future; record outreach once it is done.")
        return day

    def clean_versions(self):
        try:
            pairs = (pair.split(":") for pair in self.cleaned_data["versions"].split(","))
            return {int(pk): int(version) for pk, version in pairs}
        except ValueError:
            raise forms.ValidationError("The page was damaged; select the gaps again.") from None

    def clean(self):
        cleaned_data = super().clean()
        chosen, versions = cleaned_data.get("gaps"), cleaned_data.get("versions")
        if chosen and versions:
            cleaned_data["versions"] = {pk: versions[pk] for pk in chosen if pk in versions}
        return cleaned_data


# The admin's front page opens with the Star Ratings console: each contract and year one click away.
admin.site.index_template = "admin/star_ratings_index.html"


@admin.register(CareGap)
class WorklistAdmin(CareGapAdmin):
    """The care-gap changelist (`gaps.admin.CareGapAdmin`) plus recording outreach done and proposing
    interventions on the selected gaps."""

    actions = [*CareGapAdmin.actions, "record_outreach", "record_intervention"]

    def has_record_outreach_permission(self, request):
        return request.user.has_perm(OUTREACH_PERMISSION)

    @admin.action(
        description="Record outreach done (a call, letter, visit… on the selected gaps)",
        permissions=["record_outreach"],
    )
    def record_outreach(self, request, queryset):
        gap_ids = list(queryset.values_list("pk", flat=True)[: MAX_OUTREACH_GAPS + 1])
        if len(gap_ids) > MAX_OUTREACH_GAPS:
            message = (
                f"Record outreach for at most {MAX_OUTREACH_GAPS} gaps at a time: select a member's gaps."
            )
            self.message_user(request, message, messages.ERROR)
            return None
        selected = (
            CareGap.objects.filter(pk__in=gap_ids)
            .select_related("member", "measure")
            .order_by("member_id", "pk")
        )

        def apply(gaps, data):
            records = outreach_records_create(
                actor=request.user,
                versions=data["versions"],
                channel=data["channel"],
                outcome=data["outcome"],
                contacted_on=data["contacted_on"],
                note=data["note"],
                one_member=False,
            )
            moves = (
                OutreachGap.objects.filter(record__in=records)
                .select_related("gap__measure", "gap__member")
                .order_by("gap_id")
            )
            said = "; ".join(
                f"{move.gap}: {move.get_state_before_display()} → {move.get_state_after_display()}"
                for move in moves
            )
            members = len(records)
            return f"Outreach recorded for {members} member{pluralize(members)}. Workflow: {said}."

        return action_with_form(
            self,
            request,
            queryset,
            form_class=partial(OutreachActionForm, gaps=list(selected)),
            title="Record outreach done",
            description=(
                "Outreach already made needs no approval. Each member gets one record covering the gaps "
                "you keep checked, and each gap's workflow moves as the outcome says; if the workflow "
                f"does not allow a move for any gap, nothing is recorded. At most {MAX_OUTREACH_GAPS} gaps."
            ),
            apply=apply,
        )

    @admin.action(description="Propose an intervention for approval (one per member, covering their gaps)")
    def record_intervention(self, request, queryset):
        def apply(gaps, data):
            created = interventions_create_for_gaps(
                gaps=gaps,
                intervention_type=data["intervention_type"],
                created_by=request.user,
                notes=data["notes"],
            )
            return f"{len(created)} interventions proposed, covering {gaps.count()} gaps."

        return action_with_form(
            self,
            request,
            queryset,
            form_class=InterventionActionForm,
            title="Propose an intervention",
            description="Each member gets one proposed intervention covering all of their selected gaps "
            "(a bundle); it needs approval before the outreach. For outreach already made, use "
            "“Record outreach done”.",
            apply=apply,
        )
