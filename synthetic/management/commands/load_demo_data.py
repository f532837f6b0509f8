"""Load the demo plan (idempotent), print new demo users' passwords once and member IDs to search for."""

from django.core.management.base import BaseCommand

from synthetic.demo import DEMO_USERS, demo_member_ids, load_demo_data


class Command(BaseCommand):
    help = (
        "Load the demo plan (contracts, members, gaps, predictions, outreach, a forecast and two earlier "
        "measurement years of snapshots per contract, one user per role); idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args, seed: int, **options):
        result = load_demo_data(seed=seed)
        created = ", ".join(result.contracts_created) or "none (already loaded)"
        self.stdout.write(
            f"Contracts created: {created}; members created: {result.members_created}; "
            f"gaps: {result.gaps_created}; predictions: {result.predictions_created}; "
            f"interventions: {result.interventions_created}; forecasts: {result.forecasts_created}; "
            f"optimizer runs: {result.plans_created}; "
            f"snapshots: {result.snapshots_created}"
        )
        if result.new_credentials:
            self.stdout.write(self.style.WARNING("Demo users (passwords shown only this once):"))
            for username, password in result.new_credentials.items():
                role, contracts = DEMO_USERS[username]
                self.stdout.write(f"  {username:<16} {password:<20} {role}, contracts {', '.join(contracts)}")
        else:
            self.stdout.write("Demo users already exist; reset one with `manage.py changepassword USER`.")
        self.stdout.write("Demo member IDs to type in a search box (members with open gaps):")
        for contract_id, raw_ids in demo_member_ids().items():
            self.stdout.write(f"  {contract_id}: {', '.join(raw_ids)}")
