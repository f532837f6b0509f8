"""`manage.py project_cut_points --star-year 2028 [--json]`: the cut points of a star year not yet
published, projected as a distribution; `--backtest` projects an imported year from the year
before it and compares with what CMS published."""

import json
import time

from django.core.management.base import BaseCommand, CommandError

from ratings.benchmark.projection import (
    DEFAULT_DRAWS,
    DEFAULT_SEED,
    Backtest,
    NoBaseYear,
    Projection,
    backtest,
    cut_point_projection_create,
    project_cut_points,
)


class Command(BaseCommand):
    help = (
        "Project every non-CAHPS measure's cut points for a star year from the newest imported "
        "year before it: the score distribution resampled and moved by the contracts' year-to-year "
        "trend, CMS's method (Tukey fences, mean resampling, guardrails, rounding) run on each "
        "draw; each threshold's median and 10th-90th percentile interval. With --backtest, "
        "project an imported star year from the year before it and compare the projection and "
        "the 'cut points stay where they are' rule with the published cut points."
    )

    def add_arguments(self, parser):
        parser.add_argument("--star-year", type=int, required=True, help="The star year to project.")
        parser.add_argument(
            "--backtest",
            action="store_true",
            dest="run_backtest",
            help="Project this (imported) star year from the year before it and compare with CMS.",
        )
        parser.add_argument("--draws", type=int, default=DEFAULT_DRAWS, help="Draws of the projection.")
        parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="Seed of the draws.")
        parser.add_argument(
            "--save",
            action="store_true",
            help="Keep the projection: the forecasts and optimizer runs working toward the star year use it.",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print one JSON object instead of text."
        )

    def handle(self, *args, star_year, run_backtest, save, draws, seed, as_json, **options):
        if draws < 1:
            raise CommandError("--draws must be at least 1.")
        if save and run_backtest:
            raise CommandError("--save keeps a projection; a backtest is not kept.")
        if save:
            return self._save(star_year, draws=draws, seed=seed)
        started = time.monotonic()
        try:
            result = (
                backtest(star_year=star_year, draws=draws, seed=seed)
                if run_backtest
                else project_cut_points(target_star_year=star_year, draws=draws, seed=seed)
            )
        except NoBaseYear as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(result.as_json(), indent=2))
            return
        elapsed = time.monotonic() - started
        if isinstance(result, Backtest):
            self._write_backtest(result, elapsed)
        else:
            self._write_projection(result, elapsed)

    def _save(self, star_year: int, *, draws: int, seed: int) -> None:
        started = time.monotonic()
        try:
            stored = cut_point_projection_create(target_star_year=star_year, draws=draws, seed=seed)
        except NoBaseYear as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Kept the star year {star_year} projection from {stored.base_star_year} "
            f"({draws} draws, seed {seed}, {time.monotonic() - started:.1f} s): "
            f"{sum(1 for measure in stored.data['measures'] if measure['draws'])} measures projected."
        )

    def _write_projection(self, projection: Projection, elapsed: float) -> None:
        self.stdout.write(
            f"Star year {projection.target_star_year} cut points projected from "
            f"{projection.base_star_year} ({projection.draws} draws, seed {projection.seed}, "
            f"{elapsed:.1f} s): median [10th-90th percentile] beside the {projection.base_star_year} "
            "cut points."
        )
        for note in projection.notes:
            self.stdout.write(f"Note: {note}")
        for measure in projection.measures:
            org = f" ({measure.org_type})" if measure.org_type else ""
            self.stdout.write(
                f"{measure.cms_id}{org} {measure.name}{f' — {measure.note}' if measure.note else ''}"
            )
            for level, standing in measure.standing.items():
                projected = measure.thresholds.get(level)
                shown = (
                    f"{projected.median:g} [{projected.low:g}-{projected.high:g}]"
                    if projected
                    else "not projected"
                )
                self.stdout.write(f"  {level} stars: {standing} -> {shown}")

    def _write_backtest(self, result: Backtest, elapsed: float) -> None:
        projection = result.projection
        self.stdout.write(
            f"Backtest: star year {projection.target_star_year} projected from {projection.base_star_year} "
            f"({projection.draws} draws, seed {projection.seed}, {elapsed:.1f} s), against the published "
            "cut points; mean absolute error of the projected medians and of 'stand still' (the "
            f"{projection.base_star_year} cut points)."
        )
        for label, percent_scale in (("Percentage measures", True), ("Other measures", False)):
            summary = result.summary(percent_scale=percent_scale)
            if not summary["measures"]:
                continue
            self.stdout.write(
                f"  {label} ({summary['measures']}): projection {summary['projection_mae']}, stand still "
                f"{summary['stand_still_mae']}; projection closer for {summary['projection_better']}, "
                f"stand still for {summary['stand_still_better']}"
            )
        for note in projection.notes + result.notes:
            self.stdout.write(f"Note: {note}")
        for measure in result.measures:
            org = f" ({measure.org_type})" if measure.org_type else ""
            self.stdout.write(
                f"  {measure.cms_id}{org}: projection {measure.projection_error:.3g}, "
                f"stand still {measure.standing_error:.3g}"
            )
