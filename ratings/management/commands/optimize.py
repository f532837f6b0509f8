"""`manage.py optimize --contract H1234 --measurement-year 2026 --budget 250000 [--name NAME] [--json]
[--propose USER]`."""

import json
from decimal import Decimal, InvalidOperation

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from hedis_portal.errors import ApplicationError
from members.models import Contract
from ratings.planning import services as planning
from ratings.planning.cut_points import add_cut_points_argument


class Command(BaseCommand):
    help = (
        "Choose the interventions that move a contract's Star Rating most within a budget (MILP, HiGHS), "
        "store the plan, re-score the worklist priorities, and optionally propose the interventions."
    )

    def add_arguments(self, parser):
        parser.add_argument("--contract", required=True, help="CMS contract ID, e.g. H1234")
        parser.add_argument("--measurement-year", type=int, required=True)
        parser.add_argument("--budget", required=True, help="Dollars, e.g. 250000")
        parser.add_argument("--objective", choices=planning.OBJECTIVES, default="expected_overall")
        parser.add_argument("--draws", type=int, default=10_000)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--time-limit", type=float, default=60.0, help="Seconds per solver call.")
        add_cut_points_argument(parser)
        parser.add_argument("--name", default="", help='The run\'s name, e.g. "25k, phone first".')
        parser.add_argument(
            "--propose",
            metavar="USERNAME",
            help="Also create the plan's interventions as proposed, on behalf of this user.",
        )
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="Print the plan as one JSON object."
        )

    def handle(
        self,
        *args,
        contract,
        measurement_year,
        budget,
        objective,
        draws,
        seed,
        time_limit,
        cut_points,
        name,
        propose,
        as_json,
        **options,
    ):
        target = Contract.objects.filter(contract_id=contract.strip().upper()).first()
        if target is None:
            raise CommandError(f"No contract {contract!r}.")
        try:
            amount = Decimal(budget)
        except InvalidOperation:
            raise CommandError(f"--budget {budget!r} is not a number.") from None
        if amount <= 0:
            raise CommandError("--budget must be more than zero.")
        proposer = None
        if propose:
            proposer = get_user_model().objects.filter(username=propose, is_active=True).first()
            if proposer is None or not proposer.has_perm("interventions.add_intervention"):
                raise CommandError(f"{propose!r} is not an active user who may propose interventions.")
        try:
            run = planning.optimizer_run_create(
                contract=target,
                measurement_year=measurement_year,
                user=proposer,
                budget=amount,
                objective=objective,
                draws=draws,
                seed=seed,
                time_limit=time_limit,
                name=name,
                cut_points=cut_points,
            )
            proposed = planning.optimizer_run_propose(run=run, user=proposer) if proposer else None
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        result = run.result
        if as_json:
            self.stdout.write(json.dumps({"run": run.pk, "proposed": proposed, **result}, indent=2))
            return
        lines = [
            f"{target.contract_id} MY{measurement_year}, budget ${amount:,.2f} ({objective}): "
            f"{len(result['interventions'])} interventions costing ${result['total_cost']:,.2f}",
            "  expected overall {expected_overall_before:.3f} → {expected_overall_after:.3f}".format(
                **result
            ),
            "  P(≥ 4.0) {p_overall_at_least_4_before:.3f} → {p_overall_at_least_4_after:.3f}".format(
                **result
            ),
            f"  ${result['budget_left']['unspent']:,.2f} unspent: {result['budget_left']['reason']}",
            f"  solver {result['solver_status']}, optimality gap {result['optimality_gap']} "
            f"({result['bound_method']})",
            f"  cut points: {run.inputs['cut_points']['note']}",
            f"  run #{run.pk} in {run.duration_ms / 1000:.1f} s",
        ]
        if proposed is not None:
            lines.append(f"  {proposed} interventions proposed for approval")
        self.stdout.write("\n".join(lines))
