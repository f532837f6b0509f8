"""`manage.py verify_cms_ratings --star-year 2026 [--json]`: reproduce CMS's published ratings."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from hedis_portal.formats import matched_of
from ratings.benchmark.selectors import (
    VERIFICATION_KEYS,
    cms_ratings_verify,
    loaded_star_years,
    verification_summary,
)
from ratings.cms.contract_types import read_contract_types
from ratings.cms.lineage import LineageError
from ratings.cms.tables import CmsTableError
from ratings.models import ContractType

LABELS = {
    "measure_stars": "Measure stars",
    "measure_stars_non_cahps": "Measure stars (non-CAHPS)",
    "part_c_summary": "Part C summary",
    "part_d_summary": "Part D summary",
    "overall": "Overall rating",
}


class Command(BaseCommand):
    help = (
        "Recompute measure stars (from measure data + cut points) and Part C / Part D summary and "
        "overall ratings (from measure stars + CAI) for an imported star year, compare them with "
        "CMS's published values, and explain every mismatch."
    )

    def add_arguments(self, parser):
        parser.add_argument("--star-year", type=int, required=True)
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Print one JSON object instead of text."
        )
        parser.add_argument(
            "--contract-type",
            action="append",
            default=[],
            metavar="CONTRACT=TYPE",
            help=(
                "A contract's Tables 4-7 type when known from outside the tables, e.g. "
                "H1234=ccp_only_isnp (from CMS's SNP Comprehensive Report). Repeatable; wins "
                "over --contract-types and the types given at import."
            ),
        )
        parser.add_argument(
            "--contract-types",
            type=Path,
            metavar="FILE",
            help=(
                "A CSV with the header contract,type (as import_cms_star_data takes); wins over "
                "the types given at import."
            ),
        )

    def handle(
        self,
        *args,
        star_year: int,
        as_json: bool,
        contract_type: list[str],
        contract_types: Path | None,
        **options,
    ):
        if star_year not in loaded_star_years():
            raise CommandError(
                f"No CMS data tables imported for star year {star_year}; run "
                f"`manage.py import_cms_star_data --star-year {star_year} DIR` first."
            )
        try:
            report = cms_ratings_verify(
                star_year, self._from_file(contract_types) | self._contract_types(contract_type)
            )
        except LineageError as error:
            raise CommandError(str(error)) from error
        summary = verification_summary(report)
        if as_json:
            self._print_json(summary, report.skipped)
        else:
            self._print_text(summary, report, star_year)

    @staticmethod
    def _from_file(path: Path | None) -> dict[str, str]:
        """The types of a `contract,type` file, or none without one."""
        if path is None:
            return {}
        try:
            rows = read_contract_types(path, dict(ContractType.choices))
        except CmsTableError as error:
            raise CommandError(f"--contract-types: {error}") from None
        return {contract_id: row.contract_type for contract_id, row in rows.items()}

    @staticmethod
    def _contract_types(pairs: list[str]) -> dict[str, str]:
        """Parse `CONTRACT=TYPE` pairs, checking the types against Tables 4-7."""
        known = {choice.value for choice in ContractType}
        types = {}
        for pair in pairs:
            contract_id, _, contract_type = pair.partition("=")
            if contract_type not in known:
                raise CommandError(
                    f"--contract-type {pair!r}: expected CONTRACT=TYPE with TYPE one of "
                    f"{', '.join(sorted(known))}."
                )
            types[contract_id.strip().upper()] = contract_type
        return types

    def _print_json(self, summary: dict, skipped: list[str]) -> None:
        # stdout carries exactly the JSON object; what was not verified goes to stderr.
        self.stdout.write(json.dumps(summary, indent=2))
        for item in skipped:
            self.stderr.write(f"skipped: {item}")

    def _print_text(self, summary: dict, report, star_year: int) -> None:
        self.stdout.write(f"CMS Star Ratings verification, star year {summary['star_year']}")
        self.stdout.write("")
        for key in VERIFICATION_KEYS:
            counts = summary[key]
            if counts is None:
                self.stdout.write(f"{LABELS[key]}: not verified")
                continue
            outside_compared = counts["compared"] - counts["disaster_compared"]
            outside_matched = counts["matched"] - counts["disaster_matched"]
            self.stdout.write(
                f"{LABELS[key]}: {matched_of(counts['matched'], counts['compared'])} matched; "
                f"outside the disaster rules {matched_of(outside_matched, outside_compared)}; "
                f"disaster contracts {matched_of(counts['disaster_matched'], counts['disaster_compared'])}"
            )
            for rule, by_rule in sorted(counts["by_rule"].items()):
                self.stdout.write(f"  by {rule}: {matched_of(by_rule['matched'], by_rule['compared'])}")
        self.stdout.write("")
        self.stdout.write("Rules:")
        for rule, text in summary["rules"].items():
            self.stdout.write(f"  {rule}: {text}")
        if summary["fitted_cai"]:
            self.stdout.write(
                "CAI ranges fitted to the published ratings (the year documents no CAI values):"
            )
            for fitted in summary["fitted_cai"]:
                self.stdout.write(
                    f"  {fitted['rating']} category {fitted['category']}: "
                    f"{fitted['low']} to below {fitted['high']}"
                )
        if summary["prior_star_year"] is None:
            self.stdout.write(
                self.style.WARNING(
                    f"The {star_year - 1} tables are not imported: the disaster rules that compare "
                    "with the prior year's measure stars are not applied."
                )
            )
        self.stdout.write("")
        self.stdout.write("Per measure (measure stars):")
        for measure_id, counts in sorted(report.per_measure.items()):
            outside_compared = counts["compared"] - counts["disaster_compared"]
            outside_matched = counts["matched"] - counts["disaster_matched"]
            self.stdout.write(
                f"  {measure_id}: {matched_of(counts['matched'], counts['compared'])}; "
                f"outside the disaster rules {matched_of(outside_matched, outside_compared)}"
            )
        self.stdout.write("")
        self.stdout.write(f"Mismatches ({len(summary['mismatches'])}):")
        for mismatch in summary["mismatches"]:
            self.stdout.write(
                f"  {mismatch['contract']} {mismatch['what']}: published {mismatch['published']}, "
                f"computed {mismatch['computed']} — {mismatch['reason']}"
            )
        for item in report.skipped:
            self.stdout.write(self.style.WARNING(f"Skipped: {item}"))
