"""Reads of the measure catalog and CMS's national benchmark: cut points, contracts, verification."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Prefetch, Q

from ratings.cms.disaster import RULES
from ratings.cms.methodology import Methodology, MethodologyNotAvailable
from ratings.cms.tables import (
    CaiRow,
    CellValue,
    CmsTables,
    ContractInfo,
    ContractMeasureValue,
    MeasureHeader,
    MeasureTable,
    SummaryRow,
    TableKind,
)
from ratings.cms.verify import RATING_RULES, VerificationReport, verify
from ratings.models import (
    CmsContract,
    CmsDataImport,
    CmsMeasureValue,
    CutPoint,
    Direction,
    Measure,
    StarYearMeasure,
)

COUNT_KEYS = ("compared", "matched", "disaster_compared", "disaster_matched")
# The keys of `verify_cms_ratings --json`, a stable interface for scripts that read it.
VERIFICATION_KEYS = (
    "measure_stars",
    "measure_stars_non_cahps",
    "part_c_summary",
    "part_d_summary",
    "overall",
)


def measures_with_editions():
    """Measures with their star-year editions (one prefetch query for the whole page)."""
    return Measure.objects.prefetch_related(
        Prefetch("editions", queryset=StarYearMeasure.objects.order_by("star_year", "cms_id"))
    )


def cut_points():
    """Cut point rows with their edition and measure (joined: no query per row)."""
    return CutPoint.objects.select_related("edition__measure")


def cms_contracts():
    """CMS contracts of every imported star year."""
    return CmsContract.objects.all()


def cms_measure_values():
    """Published scores and stars with their contract and edition (joined: no query per row)."""
    return CmsMeasureValue.objects.select_related("contract", "edition__measure")


def loaded_star_years() -> list[int]:
    """Star years whose CMS data tables were imported, newest first."""
    return list(CmsDataImport.objects.order_by("-star_year").values_list("star_year", flat=True))


def cut_point_star_years() -> set[int]:
    """Star years with cut points loaded."""
    return set(CutPoint.objects.values_list("edition__star_year", flat=True).distinct())


def methodology_or_none(star_year: int) -> Methodology | None:
    """The shipped methodology of a star year, or None when it is not shipped."""
    try:
        return Methodology.for_star_year(star_year)
    except MethodologyNotAvailable:
        return None


def _plain(number: Decimal) -> Decimal:
    """A stored decimal without the trailing zeros of its column ('76.000000' → 76)."""
    return Decimal(format(number.normalize(), "f"))


def _cell(number, status: str) -> CellValue | None:
    """A stored number/status pair as the engine's cell; None when the table had no cell."""
    if number is not None:
        return CellValue(number=_plain(Decimal(number)))
    if status:
        return CellValue(status=status)
    return None


def cms_tables_for(star_year: int) -> CmsTables:
    """Rebuild the engine's `CmsTables` of a star year from the stored benchmark."""
    tables = CmsTables(star_year=star_year)
    tables.cut_points = [
        cut.as_cms() for cut in cut_points().filter(edition__star_year=star_year).order_by("id")
    ]
    contracts = {c.pk: c for c in CmsContract.objects.filter(star_year=star_year)}
    infos = {
        c.pk: ContractInfo(
            c.contract_id, c.organization_type, c.contract_name, c.marketing_name, c.parent_organization
        )
        for c in contracts.values()
    }
    editions = {e.pk: e for e in StarYearMeasure.objects.filter(star_year=star_year)}
    tables_by_kind: dict[TableKind, MeasureTable] = {}
    values = CmsMeasureValue.objects.filter(contract__star_year=star_year).values_list(
        "contract_id", "edition_id", "score", "score_status", "star", "star_status"
    )
    for contract_pk, edition_pk, score, score_status, star, star_status in values.iterator(chunk_size=5000):
        contract_id = contracts[contract_pk].contract_id
        measure_id = editions[edition_pk].cms_id
        for kind, cell in (
            (TableKind.MEASURE_DATA, _cell(score, score_status)),
            (TableKind.MEASURE_STARS, _cell(star, star_status)),
        ):
            if cell is None:
                continue
            table = tables_by_kind.setdefault(kind, MeasureTable(kind, star_year, [], {}, {}))
            table.contracts[contract_id] = infos[contract_pk]
            table.values[(contract_id, measure_id)] = ContractMeasureValue(contract_id, measure_id, cell)
    names = {e.cms_id: e.name for e in editions.values()}
    for table in tables_by_kind.values():
        ids = sorted({measure_id for _, measure_id in table.values})
        table.measures = [MeasureHeader(mid, names[mid], column) for column, mid in enumerate(ids)]
    tables.measure_data = tables_by_kind.get(TableKind.MEASURE_DATA)
    tables.measure_stars = tables_by_kind.get(TableKind.MEASURE_STARS)
    for contract in contracts.values():
        if contract.overall is not None or contract.overall_status:
            tables.summary[contract.contract_id] = SummaryRow(
                contract_id=contract.contract_id,
                org_type=contract.organization_type,
                snp=bool(contract.snp),
                disaster_percent={
                    int(year): Decimal(percent) if percent is not None else None
                    for year, percent in contract.disaster_percent.items()
                },
                part_c=_cell(contract.part_c_summary, contract.part_c_summary_status),
                part_d=_cell(contract.part_d_summary, contract.part_d_summary_status),
                overall=_cell(contract.overall, contract.overall_status),
            )
        if contract.puerto_rico_only is not None:
            tables.cai[contract.contract_id] = CaiRow(
                contract_id=contract.contract_id,
                puerto_rico_only=contract.puerto_rico_only,
                part_c_fac=contract.part_c_fac,
                part_d_mapd_fac=contract.part_d_mapd_fac,
                part_d_pdp_fac=contract.part_d_pdp_fac,
                overall_fac=contract.overall_fac,
            )
    return tables


def cms_ratings_verify(star_year: int, contract_types: dict[str, str] | None = None) -> VerificationReport:
    """Run the engine's verification on the stored benchmark of a star year.

    With the year's shipped methodology it verifies measure stars and the summary and overall
    ratings; without it, measure stars only (the report's `skipped` says so). `contract_types`
    fixes Tables 4-7 contract types the tables do not carry (e.g. 'CCP with Only I-SNP'), over
    those given at import. The prior star year's tables, when imported, feed the disaster rules.
    """
    prior = cms_tables_for(star_year - 1) if star_year - 1 in loaded_star_years() else None
    given = dict(
        CmsContract.objects.filter(star_year=star_year)
        .exclude(contract_type="")
        .values_list("contract_id", "contract_type")
    )
    return verify(
        cms_tables_for(star_year),
        methodology_or_none(star_year),
        contract_types=given | (contract_types or {}),
        prior=prior,
    )


def verification_summary(report: VerificationReport) -> dict:
    """The `verify_cms_ratings --json` object: match counts per comparison and every mismatch.

    A comparison that was not made (no methodology for the year) is null; each made one adds
    `by_rule`, its comparisons counted by the rule that decided the computed value (described
    under `rules`). `disaster_values` lists every measure star a disaster rule decided;
    `fitted_cai` the CAI ranges fitted for a year that documents no CAI values.
    """
    result: dict = {"star_year": report.star_year, "prior_star_year": report.prior_star_year}
    for key in VERIFICATION_KEYS:
        counts = report.counts.get(key)
        result[key] = (
            {name: counts[name] for name in COUNT_KEYS} | {"by_rule": report.by_rule.get(key, {})}
            if counts is not None
            else None
        )
    result["rules"] = RULES | RATING_RULES
    # A year without CAI values: per rating column and final adjustment category, the CAI range
    # its published ratings allow (`ratings.cms.cai_fit`), fitted, not CMS's.
    result["fitted_cai"] = [
        {"rating": column.value, "category": category, "low": str(low), "high": str(high)}
        for (column, category), (low, high) in report.fitted_cai.items()
    ]
    result["disaster_values"] = [
        {
            "contract": v.contract,
            "measure": v.measure,
            "rule": v.rule,
            "published": v.published,
            "computed": v.computed,
            "matched": v.matched,
            "detail": v.detail,
        }
        for v in report.disaster_values
    ]
    result["mismatches"] = [
        {
            "contract": m.contract,
            "what": m.what,
            "published": m.published,
            "computed": m.computed,
            "reason": m.reason,
        }
        for m in report.mismatches
    ]
    return result


@dataclass(frozen=True)
class Percentile:
    """Where a score stands among the national scores of one measure edition.

    `percentile` is the mid-rank percentile: the share of contracts with a worse score plus
    half of those with the same score (direction-aware: lower is better for some measures).
    """

    contracts: int
    worse: int
    same: int

    @property
    def percentile(self) -> float | None:
        """0 (worst) to 100 (best); None when no contract has a score."""
        if not self.contracts:
            return None
        return round(100 * (self.worse + self.same / 2) / self.contracts, 1)

    @property
    def rank(self) -> int | None:
        """1 for the best score; tied scores share a rank."""
        if not self.contracts:
            return None
        return self.contracts - self.worse - self.same + 1


def national_percentiles(scores: dict[int, tuple[Decimal, str]]) -> dict[int, Percentile]:
    """Percentiles of scores among the national scores of their editions, in one query.

    `scores` maps an edition's primary key to (score, direction). One aggregate over the
    benchmark, grouped by edition, with the comparison per edition in conditional counts.
    """
    if not scores:
        return {}
    worse = Q()
    same = Q()
    for edition_pk, (score, direction) in scores.items():
        worse_than = "score__lt" if direction == Direction.HIGHER else "score__gt"
        worse |= Q(edition_id=edition_pk, **{worse_than: score})
        same |= Q(edition_id=edition_pk, score=score)
    rows = (
        CmsMeasureValue.objects.filter(edition_id__in=scores, score__isnull=False)
        .values("edition_id")
        .annotate(contracts=Count("id"), worse=Count("id", filter=worse), same=Count("id", filter=same))
        .order_by()
    )
    found = {row["edition_id"]: Percentile(row["contracts"], row["worse"], row["same"]) for row in rows}
    return {pk: found.get(pk, Percentile(0, 0, 0)) for pk in scores}
