"""`manage.py cms_cut_points --star-year 2026 [--json] [--seed N] [--resamples N]`: recompute the
non-CAHPS cut points the way CMS does and compare each stage with CMS's published figures."""

import json
import time

from django.core.management.base import BaseCommand, CommandError

from hedis_portal.formats import matched_of
from ratings.benchmark.cut_points import cut_points_reproduce
from ratings.benchmark.selectors import loaded_star_years

STAGE_LABELS = (
    ("tukey", "matched", "Tukey outlier cutoffs (Tables K-5/K-6), exact"),
    ("resampling", "within_precision", "Mean-resampling thresholds (Tables K-3/K-4), at display precision"),
    ("guardrails_from_cms", "matched", "CMS's Tables K-3/K-4 through these guardrails and rounding"),
    ("final", "matched", "Final thresholds (published cut points)"),
)


class Command(BaseCommand):
    help = (
        "Recompute every non-CAHPS measure's cut points from an imported star year's measure data "
        "(Tukey outlier deletion, mean resampling with Ward's hierarchical clustering, guardrails "
        "from the prior year's imported cut points, rounding) and compare each stage with CMS."
    )

    def add_arguments(self, parser):
        parser.add_argument("--star-year", type=int, required=True)
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print one JSON object instead of text."
        )
        parser.add_argument(
            "--seed", type=int, default=8675309, help="Seed of the random 10-group splits (default: CMS's)."
        )
        parser.add_argument(
            "--resamples",
            type=int,
            default=10,
            help="Random 10-group splits per measure (CMS makes one); their mean and spread are reported.",
        )

    def handle(self, *args, star_year, as_json, seed, resamples, **options):
        if resamples < 1:
            raise CommandError("--resamples must be at least 1.")
        if star_year not in loaded_star_years():
            raise CommandError(
                f"Star year {star_year} is not imported; "
                f"run import_cms_star_data --star-year {star_year} first."
            )
        started = time.monotonic()
        report = cut_points_reproduce(star_year=star_year, seed=seed, resamples=resamples)
        if as_json:
            self.stdout.write(json.dumps(report.as_json(), indent=2))
            return
        self.stdout.write(
            f"Star year {star_year} non-CAHPS cut points, recomputed from the imported measure data "
            f"(seed {seed}, {resamples} random 10-group split(s) per measure, "
            f"{time.monotonic() - started:.1f} s)."
        )
        self.stdout.write(
            f"Guardrails from the {report.prior_year} cut points."
            if report.prior_year
            else "No prior-year cut points imported: thresholds are not guarded."
        )
        summary = report.as_json()
        for stage, key, label in STAGE_LABELS:
            self.stdout.write(
                f"  {label}: {matched_of(summary[stage][key], summary[stage]['compared'], places=1)}"
            )
        for note in report.notes:
            self.stdout.write(f"Note: {note}")
        if report.differences:
            self.stdout.write("Differences (stage, measure, star or cutoff: computed vs CMS — reason):")
        for difference in report.differences:
            where = difference.cutoff if difference.star is None else f"{difference.star} stars"
            org = f" {difference.org_type}" if difference.org_type else ""
            computed = "not computed" if difference.computed is None else str(difference.computed)
            self.stdout.write(
                f"  {difference.stage:<10} {difference.measure}{org} {where}: {computed} vs "
                f"{difference.published} — {difference.reason}"
            )
