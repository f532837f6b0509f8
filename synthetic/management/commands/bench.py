"""`manage.py bench --members 200000 [--quick] [--json PATH] [--keep]`: plan-scale benchmark on PostgreSQL."""

import json
import warnings
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from synthetic.bench.figures import BenchError
from synthetic.bench.runner import QUICK_MEMBERS, BenchUnavailable, format_table, run_bench


class Command(BaseCommand):
    help = (
        "Load a synthetic plan (contract H0000) with COPY, measure each figure beside a baseline from "
        "the same run (min / median / p95), print the table and drop the plan. PostgreSQL only."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--members", type=int, default=200_000, help="Members in the synthetic plan (≈6 gaps each)."
        )
        parser.add_argument(
            "--quick",
            action="store_true",
            help=f"The whole harness at a small scale ({QUICK_MEMBERS:,} members unless --members is "
            "smaller), fewer runs; for CI.",
        )
        parser.add_argument("--json", type=Path, metavar="PATH", help="Also write the figures as JSON.")
        parser.add_argument(
            "--keep", action="store_true", help="Leave the synthetic plan in place (to explore its queries)."
        )
        parser.add_argument(
            "--explain",
            action="store_true",
            help="Also print EXPLAIN (ANALYZE, BUFFERS) of the worklist query and the rating aggregate.",
        )

    def handle(
        self, *args, members: int, quick: bool, json: Path | None, keep: bool, explain: bool, **options
    ):
        if quick:
            members = min(members, QUICK_MEMBERS)
        if members < 100:
            raise CommandError("--members must be at least 100.")
        # WhiteNoise warns when collectstatic has not run; the bench serves no static files.
        warnings.filterwarnings("ignore", message="No directory at")
        try:
            result = run_bench(
                members=members, quick=quick, keep=keep, explain=explain, progress=self.stdout.write
            )
        except (BenchUnavailable, BenchError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write("")
        self.stdout.write(format_table(result.table))
        for name, plan in result.plans.items():
            self.stdout.write(f"\nEXPLAIN (ANALYZE, BUFFERS) — {name}\n{plan}")
        if json is not None:
            _write_json(json, result.table)
            self.stdout.write(f"\nFigures written to {json}.")


def _write_json(path: Path, table) -> None:
    path.write_text(json.dumps([figure.as_dict() for figure in table], indent=2) + "\n")
