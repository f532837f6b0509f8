"""Reproduce CMS's published Star Ratings from its own data tables (the correctness oracle).

`verify` recomputes (a) every measure star from the published measure data and cut points and
(b) every Part C summary, Part D summary and overall rating from the published measure stars
and CAI categories, then compares them with what CMS published. Each difference is listed with
the reason it cannot be reproduced from the public tables.

The tables do not say everything the rules need, so `profile_from_tables` infers a contract's
type from its content; the inference and its limits are documented there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal

from ratings.cms.cai_fit import Interval, cai_interval, shared_range
from ratings.cms.disaster import RULES, Decision, DisasterRules
from ratings.cms.engine import (
    TOO_NEW,
    ContractProfile,
    RatingResult,
    RatingType,
    rate_contract,
    rating_column,
    star_for_cell,
)
from ratings.cms.lineage import Lineage
from ratings.cms.methodology import Measure, Methodology, RatedAs, RatingColumn
from ratings.cms.tables import CellValue, CmsTables, CutPoints

__all__ = [
    "RATING_RULES",
    "RULES",
    "DisasterValue",
    "Mismatch",
    "VerificationReport",
    "is_disaster_contract",
    "profile_from_tables",
    "verify",
]

NOT_APPLICABLE = "Not Applicable"
# Statuses meaning "this measure does not apply to the contract" (Attachment Q, Table ).
NOT_REQUIRED = {"plan not required to report measure", "not required to report", "not applicable"}
NO_DATA = "No data available"
# Attachment Q, Table Q-1: the score cell of the improvement measures, which publish no score.
STAR_ONLY = "medicare shows only a star rating for this topic"
RATING_KEYS = {
    RatingType.PART_C: "part_c_summary",
    RatingType.PART_D: "part_d_summary",
    RatingType.OVERALL: "overall",
}
UNEXPLAINED = "UNEXPLAINED"
# The summary table's column of each rating (`SummaryRow`).
_SUMMARY_FIELDS = {RatingType.PART_C: "part_c", RatingType.PART_D: "part_d", RatingType.OVERALL: "overall"}
# The rule that decided a summary or overall rating, by the key the report counts.
RATING_RULES = {
    "weighted_mean": (
        "weighted mean of the measure stars with the improvement measures, plus reward factor "
        "and CAI, rounded to the half star"
    ),
    "improvement_hold_harmless": (
        "improvement-measure hold harmless: the rating without the improvement measures is "
        "4 stars or more and higher, so it is used"
    ),
    "disaster_new_measure_hold_harmless": (
        "disaster contract: the rating without the new measures is higher, so it is used "
        "(new measure hold harmless)"
    ),
    "cai_fitted": (
        "the star year documents no CAI values: the rating without CAI must reach the published "
        "one with the CAI value fitted to its final adjustment category (consistency, not "
        "reproduction; ratings.cms.cai_fit)"
    ),
    "minimum_measures": "too few rated measures for the contract type (Tables 6-7): no rating",
    "not_applicable": "the rating does not apply to the contract type (Table 3)",
}


@dataclass(frozen=True)
class Mismatch:
    """A published value the engine did not reproduce, and why."""

    contract: str
    what: str
    published: str
    computed: str
    reason: str


@dataclass(frozen=True)
class DisasterValue:
    """A measure star a disaster rule decided, and the facts the rule used."""

    contract: str
    measure: str
    rule: str
    published: str
    computed: str
    matched: bool
    detail: str


@dataclass
class VerificationReport:
    """Match counts per comparison, per measure, the mismatches and what was not compared.

    Each count dict has "compared", "matched", "disaster_compared" and "disaster_matched";
    the disaster pair counts contracts with at least 25% of enrollees in FEMA Individual
    Assistance areas in either disaster year of the summary table. `by_rule` splits each
    count key's comparisons ("compared", "matched") by the rule that decided the computed
    value (`RULES` for measure stars, `RATING_RULES` for ratings); `disaster_values` lists
    every measure star a disaster rule decided.
    """

    star_year: int | None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    per_measure: dict[str, dict[str, int]] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    by_rule: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    disaster_values: list[DisasterValue] = field(default_factory=list)
    prior_star_year: int | None = None
    fitted_cai: dict[tuple[RatingColumn, int | None], Interval] = field(default_factory=dict)

    def count(self, key: str, rule: str, matched: bool, disaster: bool) -> None:
        """Add one comparison to a count key and to its rule's counts."""
        _count(self.counts[key], matched, disaster)
        rules = self.by_rule.setdefault(key, {}).setdefault(rule, {"compared": 0, "matched": 0})
        rules["compared"] += 1
        rules["matched"] += matched

    def match_rate(self, key: str, *, disaster: bool | None = None) -> float | None:
        """Share matched for a count key: all contracts (None), disaster or non-disaster ones."""
        counts = self.counts[key]
        if disaster is None:
            compared, matched = counts["compared"], counts["matched"]
        elif disaster:
            compared, matched = counts["disaster_compared"], counts["disaster_matched"]
        else:
            compared = counts["compared"] - counts["disaster_compared"]
            matched = counts["matched"] - counts["disaster_matched"]
        return matched / compared if compared else None

    def as_dict(self) -> dict:
        """Plain-dict form (e.g. for JSON): counts, per-measure counts, mismatches, skipped."""
        result = {key: dict(value) for key, value in self.counts.items()}
        result["star_year"] = self.star_year
        result["per_measure"] = {key: dict(value) for key, value in self.per_measure.items()}
        result["by_rule"] = {
            key: {r: dict(c) for r, c in rules.items()} for key, rules in self.by_rule.items()
        }
        result["disaster_values"] = [asdict(v) for v in self.disaster_values]
        result["mismatches"] = [asdict(m) for m in self.mismatches]
        result["skipped"] = list(self.skipped)
        return result


def _new_counts() -> dict[str, int]:
    """Empty match counts."""
    return {"compared": 0, "matched": 0, "disaster_compared": 0, "disaster_matched": 0}


def _count(counts: dict[str, int], matched: bool, disaster: bool) -> None:
    """Add one comparison to a count dict."""
    counts["compared"] += 1
    counts["matched"] += matched
    if disaster:
        counts["disaster_compared"] += 1
        counts["disaster_matched"] += matched


def _is_status(cell: CellValue | None, statuses: set[str]) -> bool:
    """Whether a cell holds one of the (lower-case) statuses."""
    return cell is not None and cell.status is not None and cell.status.lower() in statuses


def is_disaster_contract(tables: CmsTables, contract_id: str, threshold: Decimal) -> bool:
    """At least `threshold` % of enrollees in FEMA Individual Assistance areas in any year."""
    row = tables.summary.get(contract_id)
    if row is None:
        return False
    return any(p is not None and p >= threshold for p in row.disaster_percent.values())


def _looks_isnp_only(cells: Mapping[str, CellValue], methodology: Methodology) -> bool:
    """Whether a SNP contract's measure cells look like a 'CCP with Only I-SNP' contract.

    The tables flag SNP contracts but not which SNP types they offer, while Tables 6-7 set a
    far lower minimum for contracts offering only I-SNPs (e.g. 9 instead of 16 Part C
    measures). Such contracts are not required to report CAHPS, HOS, HEDIS-HOS, OMW or SPC
    (measure 'Reporting Requirements'), and because no HOS is fielded for them their
    HEDIS-HOS measures show "No data available" (Attachment Q, HEDIS-HOS rules) rather than
    "Plan too small/too new". A SNP contract with no score on any of those measures and
    "No data available" on every HEDIS-HOS measure is taken to offer only I-SNPs.

    This is a judgment, not a CMS rule: the SNP types offered in 2026 are not in the tables. On
    the 2026 tables it misclassifies 6 of 769 contracts (a contract that only had I-SNPs when
    HOS was fielded may offer other SNPs in 2026); `verify` names them, and callers with CMS's
    SNP data can pass the true contract type instead.
    """
    exempt = [
        m
        for m in methodology.measures
        if m.required_for.get("ccp_with_snp") and not m.required_for.get("ccp_only_isnp")
    ]
    if not exempt or any(cells.get(m.id) is not None and cells[m.id].is_number for m in exempt):
        return False
    hedis_hos = [m for m in exempt if m.data_source == "HEDIS-HOS"]
    return bool(hedis_hos) and all(
        cells.get(m.id) is not None and cells[m.id].status == NO_DATA for m in hedis_hos
    )


def profile_from_tables(
    tables: CmsTables,
    contract_id: str,
    methodology: Methodology,
    contract_type: str | None = None,
) -> ContractProfile | None:
    """Build the engine's `ContractProfile` for a contract from the published tables.

    - Contract type family from "Organization Type" (Tables 1 and 3); None if not rated.
    - Drug coverage: a non-PDP contract is MA-PD unless every Part D measure says "Plan not
      required to report measure" (MA-only, Table 3).
    - SNP from the summary table; 'CCP with Only I-SNP' inferred by `_looks_isnp_only`
      unless `contract_type` is given (e.g. from CMS's SNP Comprehensive Report).
    - CAI categories from the CAI table; Puerto Rico-only flag from the CAI table.
    - Too new: the improvement measures show "Plan too new to be measured" exactly when the
      contract's effective date is after 01/01/2024, the same test Attachment Q uses for the
      summary and overall "Plan too new to be measured" message.
    """
    if tables.measure_stars is None:
        raise ValueError("a contract profile needs the measure stars table")
    info = tables.measure_stars.contracts.get(contract_id)
    summary = tables.summary.get(contract_id)
    if info is None:
        return None
    family = methodology.contract_type_family(info.org_type)
    if family is None:
        return None
    cells = tables.measure_stars.contract_values(contract_id)
    part_d = methodology.measures_of_part("D")
    if not family.has_part_c:
        rated_as = RatedAs.PDP
    elif all(_is_status(cells.get(m.id), NOT_REQUIRED) for m in part_d):
        rated_as = RatedAs.MA_ONLY
    else:
        rated_as = RatedAs.MA_PD
    if contract_type is None:
        contract_type = family.base
        if family.base == "ccp":
            snp = summary is not None and summary.snp
            if not snp:
                contract_type = "ccp_without_snp"
            elif _looks_isnp_only(cells, methodology):
                contract_type = "ccp_only_isnp"
            else:
                contract_type = "ccp_with_snp"
    cai = tables.cai.get(contract_id)
    fac: dict[RatingType, int | None] = {}
    if cai is not None:
        fac = {
            RatingType.PART_C: cai.part_c_fac,
            RatingType.PART_D: cai.part_d_pdp_fac if rated_as is RatedAs.PDP else cai.part_d_mapd_fac,
            RatingType.OVERALL: cai.overall_fac,
        }
    too_new = any(
        cells.get(m.id) is not None and cells[m.id].status == TOO_NEW
        for m in methodology.measures
        if m.improvement_measure
    )
    return ContractProfile(
        contract_id=contract_id,
        contract_type=contract_type,
        rated_as=rated_as,
        fac=fac,
        puerto_rico_only=cai.puerto_rico_only if cai is not None else False,
        disaster_percent=dict(summary.disaster_percent) if summary is not None else {},
        too_new=too_new,
    )


def _stars(cells: Mapping[str, CellValue]) -> dict[str, int]:
    """The measures with a numeric star (statuses are simply not rated)."""
    return {mid: int(cell.number) for mid, cell in cells.items() if cell.number is not None}


def _precision(cut: CutPoints, catalog: Measure | None) -> int:
    """Display precision: the catalog's, else the decimals the cut points are written with."""
    if catalog is not None:
        return catalog.precision
    return cut.written_decimals


def verify(
    tables: CmsTables,
    methodology: Methodology | None = None,
    *,
    contract_types: Mapping[str, str] | None = None,
    lineage: Lineage | None = None,
    prior: CmsTables | None = None,
) -> VerificationReport:
    """Compare recomputed measure stars and ratings with CMS's published values.

    Without a methodology (no JSON shipped for the tables' star year) only measure stars are
    verified, using the cut points' own precision; the report lists what was skipped.
    `contract_types` optionally fixes Tables 4-7 contract types by contract ID. CAHPS measures
    are recognised through the measure lineage (default: the shipped one), which links any
    year's header names to their measures; a measure it does not know raises `LineageError`.
    `prior` (the previous star year's tables) lets the disaster rules compare with that year's
    measure stars (`ratings.cms.disaster`); without it the rules are named but not applied.
    """
    if prior is not None and tables.star_year is not None and prior.star_year != tables.star_year - 1:
        raise ValueError(f"prior tables are for star year {prior.star_year}, not {tables.star_year - 1}")
    if methodology is not None and tables.star_year not in (None, methodology.star_year):
        raise ValueError(
            f"tables are for star year {tables.star_year}, methodology for {methodology.star_year}"
        )
    report = VerificationReport(
        star_year=tables.star_year, prior_star_year=prior.star_year if prior is not None else None
    )
    threshold = methodology.disaster_threshold_percent if methodology else Decimal(25)
    _verify_measure_stars(tables, prior, methodology, lineage or Lineage.shipped(), report, threshold)
    if methodology is None:
        report.skipped.append(
            f"summary and overall ratings: no methodology shipped for star year "
            f"{tables.star_year} (weights, reward factor and CAI tables are needed)"
        )
        return report
    if not tables.summary or tables.measure_stars is None:
        report.skipped.append("summary and overall ratings: summary or measure stars table missing")
        return report
    for key, text in methodology.not_documented.items():
        report.skipped.append(f"not documented for star year {methodology.star_year}, {key}: {text}")
    if methodology.rates_contracts:
        _verify_ratings(tables, methodology, report, threshold, contract_types or {})
    else:
        _verify_ratings_without_cai(tables, methodology, report, threshold, contract_types or {})
    return report


def _verify_measure_stars(
    tables: CmsTables,
    prior: CmsTables | None,
    methodology: Methodology | None,
    lineage: Lineage,
    report: VerificationReport,
    threshold: Decimal,
) -> None:
    """Part (a): measure stars recomputed from measure data + cut points.

    The non-CAHPS count leaves out the measures the lineage links to a CAHPS measure. Each
    star is decided by the disaster rules (`DisasterRules.decide`), which give the cut points'
    star to contracts outside them.
    """
    data, stars = tables.measure_data, tables.measure_stars
    if data is None or stars is None or not tables.cut_points:
        report.skipped.append("measure stars: measure data, measure stars or cut points missing")
        return
    measures = lineage.link(tables.star_year, stars.measures)
    prior_measures = (
        lineage.link(prior.star_year, prior.measure_stars.measures)
        if prior is not None and prior.measure_stars is not None
        else {}
    )
    prior_ids = {measure: measure_id for measure_id, measure in prior_measures.items()}
    rules = DisasterRules(tables, prior, measures, prior_ids, threshold)
    report.counts["measure_stars"] = _new_counts()
    report.counts["measure_stars_non_cahps"] = _new_counts()
    not_recomputable: set[str] = set()
    for measure in stars.measures:
        mid = measure.measure_id
        catalog = _catalog_entry(methodology, mid)
        for contract_id, info in stars.contracts.items():
            published = stars.value(contract_id, mid)
            score = data.value(contract_id, mid)
            if published is None or score is None or not (published.is_number or score.is_number):
                continue  # both are statuses: nothing was rated
            cut = tables.cut_points_for(mid, "PDP" if "PDP" in info.org_type else "MA-PD")
            if cut is None or _is_status(score, {STAR_ONLY}):
                not_recomputable.add(mid)
                continue
            computed = star_for_cell(score, cut, _precision(cut, catalog))
            decision = rules.decide(contract_id, mid, score, computed, published)
            matched = decision.star == published
            disaster = is_disaster_contract(tables, contract_id, threshold)
            report.count("measure_stars", decision.rule, matched, disaster)
            _count(report.per_measure.setdefault(mid, _new_counts()), matched, disaster)
            if not measures[mid].is_cahps:
                report.count("measure_stars_non_cahps", decision.rule, matched, disaster)
            if decision.rule != "cut_points":
                report.disaster_values.append(
                    DisasterValue(
                        contract_id,
                        mid,
                        decision.rule,
                        str(published),
                        str(decision.star),
                        matched,
                        decision.detail,
                    )
                )
            if not matched:
                report.mismatches.append(
                    Mismatch(
                        contract_id,
                        f"measure star {mid}",
                        str(published),
                        str(decision.star),
                        _measure_reason(tables, contract_id, measures[mid].is_cahps, score, decision),
                    )
                )
    if not_recomputable:
        report.skipped.append(
            f"measure stars of {', '.join(sorted(not_recomputable))}: no published score to "
            "recompute from (improvement measures show 'Medicare shows only a Star Rating for "
            "this topic', Attachment Q) or no cut points"
        )


def _catalog_entry(methodology: Methodology | None, measure_id: str) -> Measure | None:
    """The catalog measure, or None without a methodology / for an unknown ID."""
    if methodology is None:
        return None
    try:
        return methodology.measure(measure_id)
    except KeyError:
        return None


def _disaster_text(tables: CmsTables, contract_id: str) -> str:
    """The disaster percentages of a contract, e.g. "2023: 0%, 2024: 46%"."""
    row = tables.summary[contract_id]
    return ", ".join(f"{year}: {pct}%" for year, pct in sorted(row.disaster_percent.items()))


def _prior_year(tables: CmsTables) -> str:
    """The prior star year, e.g. "2025"."""
    return "prior year's" if tables.star_year is None else str(tables.star_year - 1)


def _years(tables: CmsTables) -> str:
    """The prior and the tables' star year, e.g. "2025 and 2026"."""
    if tables.star_year is None:
        return "prior year's and this year's"
    return f"{tables.star_year - 1} and {tables.star_year}"


def _measure_reason(
    tables: CmsTables,
    contract_id: str,
    is_cahps: bool,
    score: CellValue,
    decision: Decision,
) -> str:
    """Why the star a rule gives differs from the published one."""
    reasons = []
    if is_cahps:
        reasons.append(
            "CAHPS measure: stars come from base-group cut points combined with a significance "
            "test against the national mean and a low-reliability check (Attachment K, "
            "Table K-7), which need the score's standard error and reliability; the tables "
            "publish only the rounded score"
        )
    if decision.rule == "disaster_prior_year_not_imported":
        reasons.append(
            f"disaster contract ({_disaster_text(tables, contract_id)} of enrollees in FEMA "
            f"Individual Assistance areas): it receives the higher of its {_years(tables)} "
            "measure star with that year's score ('Data Handling of Measures for Contracts "
            f"Affected by a Major Disaster'); the {_prior_year(tables)} tables, which carry the "
            "other star, are not imported"
        )
    elif decision.doubly_affected:
        reasons.append(
            f"doubly affected disaster contract ({_disaster_text(tables, contract_id)}): it "
            "receives the higher of its current star and what its prior-year star would have "
            f"been absent disaster adjustments ({decision.detail}, as published, is itself "
            "adjusted); that unadjusted star is not in the tables"
        )
    elif decision.rule.startswith("disaster_") and not is_cahps:
        reasons.append(
            f"{UNEXPLAINED}: rule {decision.rule} ({decision.detail}) does not give the published star"
        )
    if not reasons:
        reasons.append(f"{UNEXPLAINED}: score {score} does not give the published star")
    return "; ".join(reasons)


def _verify_ratings(
    tables: CmsTables,
    methodology: Methodology,
    report: VerificationReport,
    threshold: Decimal,
    contract_types: Mapping[str, str],
) -> None:
    """Part (b): summary and overall ratings from published measure stars + CAI."""
    rated = _rated_contracts(tables, methodology, report, threshold, contract_types, without_cai=False)
    for contract_id, summary, profile, stars, ratings, disaster in rated:
        for rating_type, field_name in _SUMMARY_FIELDS.items():
            published = getattr(summary, field_name)
            result = ratings.get(rating_type)
            if result is None and published.status == NOT_APPLICABLE:
                continue  # the rating does not apply to this contract type (Table 3)
            computed = result.value if result is not None else CellValue(status=NOT_APPLICABLE)
            matched = computed == published
            report.count(RATING_KEYS[rating_type], _rating_rule(result), matched, disaster)
            if not matched:
                report.mismatches.append(
                    Mismatch(
                        contract_id,
                        RATING_KEYS[rating_type],
                        str(published),
                        str(computed),
                        _rating_reason(
                            tables,
                            methodology,
                            profile,
                            stars,
                            rating_type,
                            published,
                            disaster,
                            contract_id in contract_types,
                        ),
                    )
                )


def _verify_ratings_without_cai(
    tables: CmsTables,
    methodology: Methodology,
    report: VerificationReport,
    threshold: Decimal,
    contract_types: Mapping[str, str],
) -> None:
    """Part (b) for a year with no CAI values: consistency with one CAI per category (`cai_fit`)."""
    pending: dict[tuple[RatingColumn, int | None], list] = {}
    unmatched: list = []  # compared as they are (a status on either side), explained once CAIs are fitted
    rated = _rated_contracts(tables, methodology, report, threshold, contract_types, without_cai=True)
    for contract_id, summary, profile, stars, ratings, disaster in rated:
        for rating_type, key in RATING_KEYS.items():
            result, published = ratings.get(rating_type), getattr(summary, _SUMMARY_FIELDS[rating_type])
            if result is None and published.status == NOT_APPLICABLE:
                continue
            if result is None or result.rating is None or published.number is None:
                computed = result.value if result is not None else CellValue(status=NOT_APPLICABLE)
                matched = computed == published
                report.count(key, _rating_rule(result), matched, disaster)
                if not matched:
                    unmatched.append(
                        (contract_id, rating_type, key, disaster, computed, profile, stars, published)
                    )
                continue
            hold_harmless = rating_type.value in methodology.hold_harmless_ratings.get(profile.rated_as, ())
            interval = cai_interval(result, hold_harmless, published.number, methodology)
            category = (rating_column(rating_type, profile.rated_as), profile.fac.get(rating_type))
            pending.setdefault(category, []).append(
                (contract_id, rating_type, key, disaster, interval, profile, stars, published)
            )
    for category, entries in sorted(pending.items(), key=lambda item: (item[0][0].value, item[0][1] or 0)):
        fitted = (
            shared_range((interval, disaster) for _, _, _, disaster, interval, *_ in entries)
            if category[1] is not None
            else (Decimal(0), Decimal(0))
        )
        if category[1] is not None and fitted is not None:
            report.fitted_cai[category] = fitted
        for contract_id, rating_type, key, disaster, interval, profile, stars, published in entries:
            matched = fitted is not None and interval is not None and interval[0] <= fitted[0] < interval[1]
            report.count(key, "cai_fitted", matched, disaster)
            if not matched:
                computed = "no CAI of its category gives it" if interval is not None else "no CAI gives it"
                unmatched.append(
                    (contract_id, rating_type, key, disaster, computed, profile, stars, published)
                )
    for contract_id, rating_type, key, disaster, computed, profile, stars, published in unmatched:
        category = (rating_column(rating_type, profile.rated_as), profile.fac.get(rating_type))
        fitted = report.fitted_cai.get(category) if category[1] is not None else (Decimal(0), Decimal(0))
        reason = _fitted_reason(
            tables,
            methodology,
            profile,
            stars,
            rating_type,
            published,
            disaster,
            fitted,
            contract_id in contract_types,
        )
        report.mismatches.append(Mismatch(contract_id, key, str(published), str(computed), reason))


def _rated_contracts(
    tables: CmsTables,
    methodology: Methodology,
    report: VerificationReport,
    threshold: Decimal,
    contract_types: Mapping[str, str],
    *,
    without_cai: bool,
):
    """Each rated contract of the summary table: (ID, summary row, profile, measure stars, the
    engine's ratings, disaster contract?); the ratings without CAI when `without_cai`. Starts the
    rating counts and lists the contracts of types not rated as skipped."""
    for key in RATING_KEYS.values():
        report.counts[key] = _new_counts()
    assert tables.measure_stars is not None
    for contract_id, summary in tables.summary.items():
        profile = profile_from_tables(tables, contract_id, methodology, contract_types.get(contract_id))
        if profile is None:
            report.skipped.append(f"{contract_id}: organisation type not rated or no measure stars")
            continue
        stars = _stars(tables.measure_stars.contract_values(contract_id))
        rated = _with_type(profile, profile.contract_type, fac={}) if without_cai else profile
        ratings = rate_contract(stars, rated, methodology)
        yield (
            contract_id,
            summary,
            profile,
            stars,
            ratings,
            is_disaster_contract(tables, contract_id, threshold),
        )


def _fitted_reason(
    tables: CmsTables,
    methodology: Methodology,
    profile: ContractProfile,
    stars: Mapping[str, int],
    rating_type: RatingType,
    published: CellValue,
    disaster: bool,
    fitted: Interval | None,
    type_given: bool,
) -> str:
    """Why a rating is not reached with its category's fitted CAI (`fitted`, None for a rating
    compared as it is: a status on either side)."""
    if not type_given and profile.contract_type in ("ccp_with_snp", "ccp_only_isnp"):
        other = "ccp_with_snp" if profile.contract_type == "ccp_only_isnp" else "ccp_only_isnp"
        result = rate_contract(stars, _with_type(profile, other, fac={}), methodology).get(rating_type)
        hold_harmless = rating_type.value in methodology.hold_harmless_ratings.get(profile.rated_as, ())
        if result is not None and (result.rating is None or published.number is None):
            reached = result.value == published
        elif result is not None and fitted is not None:
            interval = cai_interval(result, hold_harmless, published.number, methodology)
            reached = interval is not None and interval[0] <= fitted[0] < interval[1]
        else:
            reached = False
        if reached:
            return (
                f"contract type: the tables do not say whether it offers only I-SNPs in "
                f"{tables.star_year}; rated as '{methodology.contract_types[other]}' instead of the "
                f"inferred '{methodology.contract_types[profile.contract_type]}' it reaches the "
                f"published {published} with its category's CAI"
            )
    if disaster:
        return (
            f"disaster contract ({_disaster_text(tables, profile.contract_id)}): its rating-level "
            f"rules compare with the {_prior_year(tables)} ratings and mark the values kept from that "
            "year, which the tables do not"
        )
    return (
        f"not reached with its category's fitted CAI: the star year {methodology.star_year} "
        "reward factor thresholds (Tables 8-9) and CAI values (Tables 12, 15, 18, 21) are not "
        "documented, and the thresholds used are derived from the published measure stars"
    )


def _rating_rule(result: RatingResult | None) -> str:
    """The `RATING_RULES` key of the rule that decided a rating."""
    if result is None:
        return "not_applicable"
    if result.rating is None:
        return "minimum_measures"
    if result.new_measures_excluded:
        return "disaster_new_measure_hold_harmless"
    return "improvement_hold_harmless" if result.path == "without_improvement" else "weighted_mean"


def _rating_reason(
    tables: CmsTables,
    methodology: Methodology,
    profile: ContractProfile,
    stars: Mapping[str, int],
    rating_type: RatingType,
    published: CellValue,
    disaster: bool,
    type_given: bool,
) -> str:
    """Why a recomputed summary/overall rating differs from the published one."""
    reasons = []
    if not type_given and profile.contract_type in ("ccp_with_snp", "ccp_only_isnp"):
        other = "ccp_with_snp" if profile.contract_type == "ccp_only_isnp" else "ccp_only_isnp"
        alternative = rate_contract(stars, _with_type(profile, other), methodology).get(rating_type)
        if alternative is not None and alternative.value == published:
            reasons.append(
                f"contract type: the tables flag SNP contracts but not whether a contract offers "
                f"only I-SNPs in {tables.star_year}; its measure statuses suggested "
                f"'{methodology.contract_types[profile.contract_type]}', but rated as "
                f"'{methodology.contract_types[other]}' (Tables 6-7 minimum "
                f"{_minimum_text(methodology, rating_type, other)} instead of "
                f"{_minimum_text(methodology, rating_type, profile.contract_type)}) the engine "
                f"gives exactly the published {published}"
            )
    if disaster and not reasons:
        reasons.append(
            f"disaster contract ({_disaster_text(tables, profile.contract_id)} of enrollees in "
            "FEMA Individual Assistance areas): its rating-level rules (new measure hold harmless, "
            "improvement measures without the values kept from the prior year) need which "
            "measure values were kept, which the tables do not mark"
        )
    if not reasons:
        reasons.append(f"{UNEXPLAINED}: no rule explains the difference")
    return "; ".join(reasons)


def _minimum_text(methodology: Methodology, rating_type: RatingType, contract_type: str) -> str:
    """A Tables 6-7 minimum as text, e.g. "16 of 32"."""
    found = methodology.minimum_rated(rating_type.value, contract_type)
    return f"{found[0]} of {found[1]}" if found else "n/a"


def _with_type(profile: ContractProfile, contract_type: str, fac=None) -> ContractProfile:
    """A copy of a profile with another contract type (and other CAI categories, if given)."""
    return ContractProfile(
        contract_id=profile.contract_id,
        contract_type=contract_type,
        rated_as=profile.rated_as,
        fac=profile.fac if fac is None else fac,
        puerto_rico_only=profile.puerto_rico_only,
        disaster_percent=profile.disaster_percent,
        too_new=profile.too_new,
    )
