"""The scenario workspace's forms: a forecast, a what-if (a row per assumed measure) and an
optimizer run with its intervention types' costs, uplifts and capacities editable for that run.

Every refusal is a sentence naming the measure or intervention type it is about.
"""

from dataclasses import dataclass
from decimal import Decimal

from django import forms

from interventions.models import InterventionType
from ratings.benchmark.projection import DEFAULT_SEED
from ratings.live.rating import contract_live_rating
from ratings.planning.cut_points import cut_point_field
from ratings.planning.services import MAX_CAPACITY, MAX_SEED

DRAWS = {"min_value": 100, "max_value": 200_000, "initial": 10_000}
# What-if assumptions: the job's key for each, and how a person names it.
ASSUMPTION_KINDS = (
    ("extra_closures", "Extra gaps closed"),
    ("target_rate", "Target rate (%)"),
    ("star", "Star"),
    ("score", "Score"),
)
MEMBER_LEVEL_KINDS = ("extra_closures", "target_rate")
OBJECTIVES = (
    ("expected_overall", "Expected overall stars"),
    ("p_at_least_4", "Chance of 4 stars or more"),
)
WHAT_IF_ROWS = 3


@dataclass(frozen=True)
class RatedMeasure:
    """A measure a what-if can assume something about: rated this year, named as people know it."""

    cms_id: str
    code: str
    name: str
    member_level: bool
    open_gaps: int | None

    @property
    def label(self) -> str:
        return f"{self.code} · {self.name} ({self.cms_id})"


def rated_measures(*, contract, measurement_year: int) -> dict[str, RatedMeasure]:
    """The measures the contract's live rating rates this year (with a star), by CMS ID."""
    rating = contract_live_rating(contract=contract, measurement_year=measurement_year)
    return {
        measure.edition.cms_id: RatedMeasure(
            cms_id=measure.edition.cms_id,
            code=measure.measure_code,
            name=measure.name,
            member_level=measure.member_level,
            open_gaps=measure.counts.open if measure.counts else None,
        )
        for measure in rating.measures
        if measure.edition is not None and measure.star is not None
    }


class _RunForm(forms.Form):
    """What every run takes: its Monte Carlo draws and seed."""

    draws = forms.IntegerField(**DRAWS, help_text="Monte Carlo draws of the year-end rating.")
    seed = forms.IntegerField(
        min_value=0, max_value=MAX_SEED, initial=0, help_text="The same seed gives the same draws."
    )
    cut_points = cut_point_field()


class ForecastForm(_RunForm):
    """A year-end forecast from today's gaps and scores, saved by name when given one."""

    name = forms.CharField(
        max_length=200, required=False, help_text="Optional: the name the forecast is saved and compared by."
    )
    field_order = ["name", "cut_points", "draws", "seed"]


class WhatIfForm(_RunForm):
    """A named what-if scenario; its assumptions are the rows of `AssumptionFormSet`."""

    name = forms.CharField(max_length=200, help_text="The name the scenario is saved and compared by.")
    field_order = ["name", "cut_points", "draws", "seed"]


class AssumptionForm(forms.Form):
    """One measure's assumption: the measure, what is assumed about it and the value."""

    measure = forms.ChoiceField(required=False)
    # A blank row posts its kind's initial choice, and counts as unchanged (skipped).
    kind = forms.ChoiceField(label="Assume", choices=ASSUMPTION_KINDS, initial="target_rate")
    value = forms.DecimalField(
        required=False,
        max_digits=12,
        decimal_places=6,
        error_messages={"invalid": "Write the value as a number, e.g. 80 or 72.5."},
    )

    def __init__(self, *args, measures: dict[str, RatedMeasure], **kwargs):
        super().__init__(*args, **kwargs)
        self.measures = measures
        self.fields["measure"].choices = [("", "Choose a measure")] + [
            (cms_id, measure.label) for cms_id, measure in measures.items()
        ]

    def clean(self):
        data = super().clean()
        measure = self.measures.get(data.get("measure"))
        kind, value = data.get("kind"), data.get("value")
        if kind is None or "value" in self.errors:
            return data
        if measure is None:
            raise forms.ValidationError("Choose the measure this row assumes something about.")
        if value is None:
            raise forms.ValidationError(f"{measure.code}: give the value to assume.")
        problem = _assumption_problem(measure, kind, value)
        if problem:
            raise forms.ValidationError(problem)
        data["assumption"] = {kind: int(value) if kind in ("extra_closures", "star") else value}
        return data


def _assumption_problem(measure: RatedMeasure, kind: str, value: Decimal) -> str:
    """What is wrong with assuming `value` as `kind` for the measure, in words ("" when nothing)."""
    code = measure.code
    if measure.member_level and kind not in MEMBER_LEVEL_KINDS:
        return f"{code}: its rate comes from members' gaps; assume extra gaps closed or a target rate."
    if not measure.member_level and kind in MEMBER_LEVEL_KINDS:
        return f"{code}: it is a contract-level score; assume a star or a score."
    if kind == "target_rate" and not 0 <= value <= 100:
        return f"{code}: a target rate is a percentage between 0 and 100."
    if kind == "star" and (value != value.to_integral_value() or not 1 <= value <= 5):
        return f"{code}: a star is a whole number from 1 to 5."
    if kind == "extra_closures":
        most = measure.open_gaps or 0
        if value != value.to_integral_value() or not 0 <= value <= most:
            return f"{code}: extra gaps closed is a whole number from 0 to {most:,} (its open gaps)."
    return ""


class _AssumptionRows(forms.BaseFormSet):
    """The what-if's rows: blank rows are skipped; at least one measure, each measure once."""

    def clean(self):
        if any(self.errors):
            return
        seen = set()
        for form in self.forms:
            measure = form.cleaned_data.get("measure")
            if not measure:
                continue
            if measure in seen:
                raise forms.ValidationError(
                    f"{form.measures[measure].code} is assumed twice; keep one row for it."
                )
            seen.add(measure)
        if not seen:
            raise forms.ValidationError("Assume something about at least one measure.")

    def assumptions(self) -> dict[str, dict]:
        """The rows as the job takes them: by CMS ID, exactly one assumption each."""
        return {
            form.cleaned_data["measure"]: form.cleaned_data["assumption"]
            for form in self.forms
            if form.cleaned_data.get("measure")
        }


AssumptionFormSet = forms.formset_factory(
    AssumptionForm, formset=_AssumptionRows, extra=WHAT_IF_ROWS, max_num=60, validate_max=True
)


class OptimizerForm(forms.Form):
    """An optimizer run: its name, budget, objective and draws (the intervention types are rows of
    their own, `InterventionTypeForm`)."""

    name = forms.CharField(max_length=200, help_text="The name the plan is saved and compared by.")
    budget = forms.DecimalField(
        label="Budget ($)", max_digits=12, decimal_places=2, min_value=Decimal("0.01"), help_text="Dollars."
    )
    objective = forms.ChoiceField(label="Aim for", choices=OBJECTIVES, widget=forms.RadioSelect)
    cut_points = cut_point_field()
    draws = forms.IntegerField(**DRAWS, help_text="Monte Carlo draws of the year-end rating.")
    seed = forms.IntegerField(
        min_value=0, max_value=MAX_SEED, initial=0, help_text="The same seed gives the same draws."
    )
    time_limit = forms.FloatField(
        label="Time limit (seconds)",
        min_value=1,
        max_value=600,
        initial=60,
        help_text="How long the solver may take for each target.",
    )


class InterventionTypeForm(forms.Form):
    """One intervention type's figures for this run: unit cost, capacity and uplift per measure
    (in percentage points of closure probability), prefilled from the stored ones."""

    unit_cost = forms.DecimalField(label="Unit cost ($)", max_digits=9, decimal_places=2, min_value=0)
    capacity = forms.IntegerField(
        min_value=0,
        max_value=MAX_CAPACITY,
        required=False,
        help_text="How many can be done this year (blank: no limit).",
    )

    def __init__(self, *args, intervention_type: InterventionType, **kwargs):
        uplifts = sorted(intervention_type.uplifts.all(), key=lambda uplift: uplift.measure.code)
        initial = {
            "unit_cost": intervention_type.unit_cost,
            "capacity": intervention_type.capacity,
            **{
                f"uplift_{uplift.measure.code}": Decimal(str(round(uplift.uplift * 100, 2)))
                for uplift in uplifts
            },
        }
        super().__init__(*args, prefix=f"type-{intervention_type.pk}", initial=initial, **kwargs)
        self.intervention_type = intervention_type
        self.codes = [uplift.measure.code for uplift in uplifts]
        for code in self.codes:
            self.fields[f"uplift_{code}"] = forms.DecimalField(
                label=f"{code} uplift (pts)",
                max_digits=5,
                decimal_places=2,
                min_value=0,
                max_value=100,
                error_messages={
                    "min_value": f"{intervention_type.name}: the {code} uplift is between 0 and 100 points.",
                    "max_value": f"{intervention_type.name}: the {code} uplift is between 0 and 100 points.",
                },
            )

    def uplift_fields(self):
        """The bound uplift fields, one per measure the type works on."""
        return [self[f"uplift_{code}"] for code in self.codes]

    def as_job_figures(self) -> dict:
        """The type as the optimizer job takes it: uplifts as probabilities (0–1) by measure code."""
        data = self.cleaned_data
        return {
            "id": self.intervention_type.pk,
            "unit_cost": data["unit_cost"],
            "capacity": data["capacity"],
            "uplifts": {code: float(data[f"uplift_{code}"] / 100) for code in self.codes},
        }


def intervention_type_forms(data=None) -> list[InterventionTypeForm]:
    """A form per active intervention type, with its uplifts (two queries)."""
    types = InterventionType.objects.filter(active=True).prefetch_related("uplifts__measure")
    return [InterventionTypeForm(data, intervention_type=kind) for kind in types]


class ProjectionForm(forms.Form):
    """Projecting a star year's cut points: how many draws, and the seed."""

    draws = forms.IntegerField(
        min_value=10,
        max_value=1_000,
        initial=50,
        help_text="Draws of the national score distribution: more give a steadier median and interval, "
        "and take longer (about 3 seconds a draw for a star year two ahead).",
    )
    seed = forms.IntegerField(
        min_value=0, max_value=MAX_SEED, initial=DEFAULT_SEED, help_text="The same seed gives the same draws."
    )
