"""`manage.py forecast --contract H1234 --measurement-year 2026 [--json]`: the year-end outlook."""

import json

from django.core.management.base import BaseCommand, CommandError

from hedis_portal.errors import ApplicationError
from members.models import Contract
from ratings.planning import services as planning
from ratings.planning.cut_points import add_cut_points_argument


class Command(BaseCommand):
    help = "Forecast a contract's year-end measure stars and overall rating (Monte Carlo) and store the run."

    def add_arguments(self, parser):
        parser.add_argument("--contract", required=True, help="CMS contract ID, e.g. H1234")
        parser.add_argument("--measurement-year", type=int, required=True)
        parser.add_argument("--draws", type=int, default=10_000)
        parser.add_argument("--seed", type=int, default=0)
        add_cut_points_argument(parser)
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="Print the whole result as one JSON object."
        )

    def handle(
        self,
        *args,
        contract: str,
        measurement_year: int,
        draws: int,
        seed: int,
        cut_points: str,
        as_json: bool,
        **options,
    ):
        target = Contract.objects.filter(contract_id=contract.strip().upper()).first()
        if target is None:
            raise CommandError(f"No contract {contract!r}.")
        try:
            run = planning.forecast_run_create(
                contract=target,
                measurement_year=measurement_year,
                user=None,
                draws=draws,
                seed=seed,
                cut_points=cut_points,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        result = run.result
        if as_json:
            self.stdout.write(json.dumps({"run": run.pk, **result}, indent=2))
            return
        self.stdout.write(
            f"{target.contract_id} MY{measurement_year}: today {result['current_rating']} stars; year-end "
            f"expected {result['expected_overall']:.3f}, P(≥ 4.0) = {result['p_overall_at_least_4']:.3f} "
            f"({result['draws']} draws, seed {result['seed']}; run #{run.pk})"
        )
        self.stdout.write(f"Cut points: {run.inputs['cut_points']['note']}")
        for measure in result["measures"]:
            self.stdout.write(f"  {_measure_line(measure)}")


def _measure_line(measure: dict) -> str:
    stars = ", ".join(f"{s}★ {p:.2f}" for s, p in measure["star_probabilities"].items() if p)
    return f"{measure['cms_id']}: expected rate {measure['expected_rate']:.1f}%  {stars}"
