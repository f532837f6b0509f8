"""`manage.py import_gaps FILE.csv --contract H1234 --measurement-year 2026 [--full-snapshot]`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from gaps.importing import gaps_import_csv
from hedis_portal.audit import command_actor
from hedis_portal.errors import DatabaseBusy
from hedis_portal.import_errors import ImportRejected
from members.models import Contract


class Command(BaseCommand):
    help = "Import a HEDIS engine's gap file for one contract and measurement year (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--contract", required=True, help="CMS contract ID, e.g. H1234")
        parser.add_argument("--measurement-year", type=int, required=True)
        parser.add_argument(
            "--full-snapshot",
            action="store_true",
            help="The file is the complete list: open gaps missing from it leave the denominator.",
        )

    def handle(self, *args, file: Path, contract: str, measurement_year: int, full_snapshot: bool, **options):
        try:
            target = Contract.objects.get(contract_id=contract.strip().upper())
        except Contract.DoesNotExist:
            raise CommandError(f"No contract {contract!r}.") from None
        try:
            data = file.read_bytes()
        except OSError as exc:
            # Not the path: file names often carry member or vendor identifiers.
            raise CommandError(f"Cannot read the file: {exc.strerror}") from None

        with tqdm(total=data.count(b"\n"), unit=" rows", desc="validating", disable=None) as bar:

            def progress(stage: str, done: int, total: int) -> None:
                if stage == "validating":
                    bar.update(done - bar.n)

            try:
                with command_actor("import_gaps"):
                    result = gaps_import_csv(
                        data=data,
                        contract=target,
                        measurement_year=measurement_year,
                        full_snapshot=full_snapshot,
                        channel="command",
                        progress=progress,
                    )
            except ImportRejected as exc:
                for error in exc.errors:
                    self.stderr.write(f"line {error['line']}, {error['field']}: {error['message']}")
                raise CommandError(exc.message) from None
            except DatabaseBusy as exc:
                # Concurrent writes to the same rows outlasted the retries; nothing was written.
                raise CommandError(exc.message) from None
            bar.update(bar.total - bar.n)
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.rows} rows: {result.gaps_created} gaps created, {result.gaps_updated} updated, "
                f"{result.gaps_unchanged} unchanged, {result.gaps_left_denominator} left the denominator; "
                f"{result.members_created} members created (sha256 {result.sha256[:12]}…)."
            )
        )
