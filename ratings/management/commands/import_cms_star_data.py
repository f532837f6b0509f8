"""`manage.py import_cms_star_data --star-year 2026 DIR`: load a year's CMS data tables."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from hedis_portal.import_errors import ImportRejected
from ratings.benchmark.importing import cms_star_data_import


class Command(BaseCommand):
    help = (
        "Import every CMS Star Ratings data table (CSV) in DIR as a star year's national benchmark: "
        "cut points, measure data, measure stars, summary ratings and CAI. Files are recognised by "
        "their content; re-importing a year replaces it atomically."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path, metavar="DIR")
        parser.add_argument("--star-year", type=int, required=True)

    def handle(self, *args, directory: Path, star_year: int, **options):
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a directory.")
        paths = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == ".csv")
        if not paths:
            raise CommandError(f"No CSV files in {directory}.")
        try:
            result = cms_star_data_import(
                star_year=star_year,
                paths=paths,
                source=f"import_cms_star_data {directory}",
                progress=lambda message: self.stdout.write(message),
            )
        except ImportRejected as exc:
            raise CommandError(f"Nothing imported: {exc.message}") from None
        for note in result.notes:
            self.stdout.write(self.style.WARNING(note))
        self.stdout.write(
            self.style.SUCCESS(
                f"Star year {star_year}: {result.contracts} contracts, {result.cut_points} cut point rows, "
                f"{result.measure_values} measure values from {len(result.files)} files"
                f"{' (replaced the previous import)' if result.replaced else ''}."
            )
        )
