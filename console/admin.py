"""Admin screens that compose several apps: the front page with the Star Ratings console, and the
worklist with its record-an-intervention action."""

from django import forms
from django.contrib import admin

from gaps.admin import CareGapAdmin
from gaps.models import CareGap
from hedis_portal.admin import action_with_form
from interventions.models import InterventionType
from interventions.services import interventions_create_for_gaps


class InterventionActionForm(forms.Form):
    intervention_type = forms.ModelChoiceField(queryset=InterventionType.objects.filter(active=True))
    notes = forms.CharField(max_length=500, required=False, help_text="No names, IDs or clinical details.")


# The admin's front page opens with the Star Ratings console: each contract and year one click away.
admin.site.index_template = "admin/star_ratings_index.html"


@admin.register(CareGap)
class WorklistAdmin(CareGapAdmin):
    """The care-gap changelist (`gaps.admin.CareGapAdmin`) plus recording outreach on the selected gaps."""

    actions = [*CareGapAdmin.actions, "record_intervention"]

    @admin.action(description="Record an intervention (one per member, covering their selected gaps)")
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
            title="Record an intervention",
            description="Each member gets one intervention covering all of their selected gaps (a bundle).",
            apply=apply,
        )
