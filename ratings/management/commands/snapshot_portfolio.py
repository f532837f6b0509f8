"""`manage.py snapshot_portfolio [--contract H1234] [--measurement-year 2026]`: record the portfolio."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from members.models import Contract
from ratings.live.services import portfolio_snapshot_create


class Command(BaseCommand):
    help = (
        "Store a portfolio snapshot (per-measure rates, stars, members to the next cut point, "
        "stratified rates and ratings with intermediates) for every contract, or one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--contract", help="CMS contract ID, e.g. H1234 (default: every contract).")
        parser.add_argument(
            "--measurement-year", type=int, default=None, help="Default: the current calendar year."
        )

    def handle(self, *args, contract: str | None, measurement_year: int | None, **options):
        year = measurement_year or timezone.now().year
        contracts = Contract.objects.order_by("contract_id")
        if contract:
            contracts = contracts.filter(contract_id=contract.strip().upper())
            if not contracts.exists():
                raise CommandError(f"No contract {contract!r}.")
        taken = 0
        for target in contracts:
            snapshot = portfolio_snapshot_create(contract=target, measurement_year=year)
            overall = snapshot.data["overall"]
            shown = "n/a" if overall is None else overall["rating"] or overall["status"]
            self.stdout.write(f"{target.contract_id} MY{year}: snapshot #{snapshot.pk}, overall {shown}")
            taken += 1
        self.stdout.write(
            self.style.SUCCESS(f"{taken} portfolio snapshots taken for measurement year {year}.")
        )
