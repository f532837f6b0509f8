"""`manage.py import_cms_star_data --star-year 2026 DIR`: load a year's CMS data tables from the
folder CMS ships them in."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from hedis_portal.import_errors import ImportRejected
from ratings.benchmark.importing import TABLE_LABELS, cms_star_data_import
from ratings.cms.tables import TableKind


class Command(BaseCommand):
    help = (
        "Import every CMS Star Ratings data table (CSV) in DIR, e.g. the folder CMS ships a year in, "
        "as a star year's national benchmark: cut points, measure data, measure stars, summary ratings "
        "and CAI, in UTF-8 or Windows-1252. Files are recognised by their content; the tables the "
        "engine does not read (disenrollment reasons, domain stars, high and low performing "
        "contracts) are listed as skipped. Re-importing a year replaces it atomically."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path, metavar="DIR")
        parser.add_argument("--star-year", type=int, required=True)
        parser.add_argument(
            "--contract-types",
            type=Path,
            metavar="FILE",
            help=(
                "A CSV with the header contract,type giving contracts' Tables 4-7 types the tables "
                "cannot tell (e.g. H1234,CCP with Only I-SNP); kept with the year and used when "
                "its ratings are verified."
            ),
        )

    def handle(self, *args, directory: Path, star_year: int, contract_types: Path | None, **options):
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        files = sorted(p for p in directory.iterdir() if p.is_file())
        paths = [p for p in files if p.suffix.lower() == ".csv"]
        if not paths:
            raise CommandError(f"No CSV files in {directory}.")
        try:
            result = cms_star_data_import(
                star_year=star_year,
                paths=paths,
                source=f"import_cms_star_data {directory}",
                progress=lambda message: self.stdout.write(message),
                contract_types=contract_types,
            )
        except ImportRejected as exc:
            raise CommandError(f"Nothing imported: {exc.message}") from None
        for note in result.notes:
            self.stdout.write(self.style.WARNING(note))
        self.stdout.write(f"Imported {len(result.files)} files:")
        for file in result.files:
            kind = TableKind(file["table"])
            unit = (
                "measure rows"
                if kind in (TableKind.PART_C_CUT_POINTS, TableKind.PART_D_CUT_POINTS)
                else "contracts"
            )
            self.stdout.write(
                f"  {file['name']}: {TABLE_LABELS[kind]}, {file['rows']} {unit}, {file['encoding']}"
            )
        skipped = [(file["name"], file["reason"]) for file in result.skipped]
        skipped += [(p.name, "not a CSV file") for p in files if p not in paths]
        if skipped:
            self.stdout.write(f"Skipped {len(skipped)} files:")
            for name, reason in sorted(skipped):
                self.stdout.write(f"  {name}: {reason}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Star year {star_year}: {result.contracts} contracts, {result.cut_points} cut point rows, "
                f"{result.measure_values} measure values from {len(result.files)} files"
                f"{f', {len(skipped)} skipped' if skipped else ''}"
                f"{f', {result.contract_types} contract types given' if result.contract_types else ''}"
                f"{' (replaced the previous import)' if result.replaced else ''}."
            )
        )
