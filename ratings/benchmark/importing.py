"""Import one star year's CMS Star Ratings data tables into the national benchmark.

`cms_star_data_import` reads every CSV it is given with the engine's parser (`ratings.cms.tables`,
which recognises each table by its content), checks everything, then replaces the star year's
benchmark in one transaction with set-based inserts — or writes nothing. A folder as CMS ships it
can be given whole: the tables the engine does not read (disenrollment reasons, domain stars, high
and low performing contracts) are listed as skipped, with why. Every refusal is an
`ImportRejected` whose one error row names the file, line and field (the column's header).
Measures are matched to the year's `StarYearMeasure` editions by the IDs in the file's header;
for a year whose methodology is not shipped, editions are created from the header (weights
unknown), so that year's measure stars can still be verified.
"""

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import SequenceMatcher
from pathlib import Path

from auditlog.models import LogEntry
from django.db import transaction
from django.utils.text import slugify

from hedis_portal import import_errors as problems
from hedis_portal.audit import log_batch
from hedis_portal.import_errors import ImportRejected, row_error
from ratings.cms.contract_types import is_contract_type_file, read_contract_types
from ratings.cms.lineage import Lineage, normalized_name
from ratings.cms.tables import (
    CaiRow,
    CellValue,
    CmsTableError,
    CutPoints,
    MeasureTable,
    SummaryRow,
    TableKind,
    read_table,
)
from ratings.models import (
    STATUS_LENGTH,
    CatalogSource,
    CmsContract,
    CmsDataImport,
    CmsMeasureValue,
    ContractType,
    CutPoint,
    Direction,
    Measure,
    StarYearMeasure,
)

BATCH_SIZE = 2000
# Scores are stored with six decimals and twelve digits (`ratings.models.SCORE_DIGITS`).
MAX_ABS_SCORE = Decimal(10) ** 6
TABLE_LABELS = {
    TableKind.PART_C_CUT_POINTS: "Part C cut points",
    TableKind.PART_D_CUT_POINTS: "Part D cut points",
    TableKind.MEASURE_DATA: "measure data",
    TableKind.MEASURE_STARS: "measure stars",
    TableKind.SUMMARY_RATINGS: "summary ratings",
    TableKind.CAI: "CAI",
}
# What each table is checked against, so a folder missing one of CMS's files is refused rather
# than imported in part: published stars are recomputed from the scores, and summary ratings
# from the measure stars and the CAI (which adjusts nothing without them). The cut points a
# table's measures need are checked by part (`_check_complete`).
NEEDS = {
    TableKind.MEASURE_STARS: (TableKind.MEASURE_DATA,),
    TableKind.SUMMARY_RATINGS: (TableKind.MEASURE_STARS, TableKind.CAI),
    TableKind.CAI: (TableKind.SUMMARY_RATINGS,),
}
# The titles CMS gives the tables in its file names ("2025 Star Ratings Data Table - CAI (…).csv").
CMS_FILE_TITLES = {
    TableKind.PART_C_CUT_POINTS: "Part C Cut Points",
    TableKind.PART_D_CUT_POINTS: "Part D Cut Points",
    TableKind.MEASURE_DATA: "Measure Data",
    TableKind.MEASURE_STARS: "Measure Stars",
    TableKind.SUMMARY_RATINGS: "Summary Ratings",
    TableKind.CAI: "CAI",
}


def _rejected(description: str, *, file: str = "", line: int = 0, field: str = "file") -> ImportRejected:
    """The refusal of the files, with one error row `{"file", "line", "field", "message"}`.

    `line` 0 when no one line is at fault (a whole file or column); `field` is the column's header
    cell, or "file" when no one column is; `file` is "" when no file is at fault.
    """
    where = [f"file {file}"] if file else []
    if line:
        where.append(f"line {line}")
    if field != "file":
        where.append(f"column {field!r}")
    return ImportRejected(
        f"{description} ({', '.join(where)})" if where else description,
        [row_error(line, field, problems.cms_table_problem(description), file=file)],
    )


@dataclass(frozen=True)
class CmsImportResult:
    """What an import stored."""

    star_year: int
    files: list[dict]
    contracts: int
    cut_points: int
    measure_values: int
    editions_created: int
    replaced: bool
    notes: list[str] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    contract_types: int = 0


@dataclass
class _ParsedFiles:
    """The parsed tables of one import, each with the file it came from.

    `files` are the imported ones (`name`, `table`, `encoding`, `rows`, `sha256`); `skipped` the
    tables the engine does not read (`name`, `table`, `reason`).
    """

    files: list[dict] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    cut_points: list[tuple[str, CutPoints]] = field(default_factory=list)
    measure_data: tuple[str, MeasureTable] | None = None
    measure_stars: tuple[str, MeasureTable] | None = None
    summary: tuple[str, dict[str, SummaryRow]] | None = None
    cai: tuple[str, dict[str, CaiRow]] | None = None
    contract_types: Path | None = None


def cms_star_data_import(
    *,
    star_year: int,
    paths: Sequence[Path],
    imported_by=None,
    source: str,
    progress: Callable[[str], None] | None = None,
    contract_types: Path | None = None,
) -> CmsImportResult:
    """Replace a star year's national benchmark with the tables in `paths`, atomically.

    `source` says who ran it (e.g. "import_cms_star_data /data/2026") for the audit entry.
    `paths` may be a whole folder as CMS ships it; the tables the engine does not read are
    skipped (the result's `skipped`); a file with the header `contract,type` among them is the
    contract-type file (as `contract_types`, below). Raises `ImportRejected` for the first problem found
    (another year's file, a missing or duplicated table, an unreadable file or cell); nothing
    is written then. `contract_types` is a user's `contract,type` file
    (`ratings.cms.contract_types`): each listed contract, which must be in the tables, keeps
    that Tables 4-7 type.
    """
    say = progress or (lambda message: None)
    parsed = _parse_all(star_year, paths, say)
    if contract_types is not None and parsed.contract_types is not None:
        raise _rejected(
            f"two contract-type files: {contract_types.name} and {parsed.contract_types.name}",
            file=parsed.contract_types.name,
        )
    types_file = contract_types or parsed.contract_types
    types = _contract_types(types_file, parsed) if types_file is not None else {}
    with transaction.atomic():
        editions, created, notes = _editions(star_year, parsed)
        _check_values(parsed, editions)
        replaced = _delete_star_year(star_year)
        say(f"star year {star_year}: {'replacing the stored' if replaced else 'no'} benchmark")
        contracts = _write_contracts(star_year, parsed, types)
        say(f"stored {len(contracts)} contracts{f', {len(types)} with a given type' if types else ''}")
        cut_points = _write_cut_points(parsed, editions)
        say(f"stored {cut_points} cut point rows")
        values = _write_values(parsed, editions, contracts, say)
        say(f"stored {values} measure values")
        CmsDataImport.objects.create(
            star_year=star_year,
            imported_by=imported_by,
            files=parsed.files,
            contract_count=len(contracts),
            cut_point_count=cut_points,
            measure_value_count=values,
        )
        log_batch(
            model=CmsDataImport,
            action=LogEntry.Action.CREATE,
            count=len(contracts) + cut_points + values,
            summary=f"Imported the {star_year} CMS Star Ratings data tables",
            details={
                "source": source,
                "star_year": star_year,
                "replaced": replaced,
                "files": parsed.files,
                "skipped": parsed.skipped,
                "contracts": len(contracts),
                "cut_points": cut_points,
                "measure_values": values,
                "contract_types": {"file": types_file.name, "contracts": len(types)} if types_file else None,
            },
        )
    return CmsImportResult(
        contract_types=len(types),
        star_year=star_year,
        files=parsed.files,
        contracts=len(contracts),
        cut_points=cut_points,
        measure_values=values,
        editions_created=created,
        replaced=replaced,
        notes=notes,
        skipped=parsed.skipped,
    )


# --- reading ------------------------------------------------------------------------------


def _parse_all(star_year: int, paths: Sequence[Path], say: Callable[[str], None]) -> _ParsedFiles:
    """Parse and identify every file; refuse other years' files, duplicate and missing tables."""
    if not paths:
        raise _rejected("no CSV files to import")
    parsed = _ParsedFiles()
    seen: dict[TableKind, str] = {}
    for path in sorted(Path(p) for p in paths):
        if is_contract_type_file(path):
            if parsed.contract_types is not None:
                raise _rejected(
                    f"two contract-type files: {parsed.contract_types.name} and {path.name}", file=path.name
                )
            parsed.contract_types = path
            say(f"read {path.name}: contract types")
            continue
        try:
            read = read_table(path)
        except CmsTableError as exc:
            raise _rejected(
                exc.message, file=exc.file, line=exc.row or 0, field=exc.column or "file"
            ) from None
        kind, year, table = read.kind, read.star_year, read.content
        if year is not None and year != star_year:
            named = "name" if read.star_year_from_name else "title row"
            raise _rejected(
                f"the {named} says star year {year}, not {star_year}: a file from another year",
                file=path.name,
                line=0 if read.star_year_from_name else 1,
            )
        if table is None:
            parsed.skipped.append({"name": path.name, "table": kind.value, "reason": read.skipped})
            say(f"skipped {path.name}: {read.skipped}")
            continue
        if kind in seen:
            raise _rejected(f"two {TABLE_LABELS[kind]} tables: {seen[kind]} and {path.name}", file=path.name)
        seen[kind] = path.name
        parsed.files.append(
            {
                "name": path.name,
                "table": kind.value,
                "encoding": read.encoding,
                "rows": read.rows,
                "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            }
        )
        if isinstance(table, list):
            parsed.cut_points.extend((path.name, cut) for cut in table)
            say(f"read {path.name}: {TABLE_LABELS[kind]}, {len(table)} measure rows ({read.encoding})")
        elif isinstance(table, MeasureTable):
            entry = (path.name, table)
            if kind is TableKind.MEASURE_DATA:
                parsed.measure_data = entry
            else:
                parsed.measure_stars = entry
            say(
                f"read {path.name}: {TABLE_LABELS[kind]}, {len(table.contracts)} contracts × "
                f"{len(table.measures)} measures ({read.encoding})"
            )
        elif kind is TableKind.SUMMARY_RATINGS:
            parsed.summary = (path.name, table)
            say(f"read {path.name}: summary ratings, {len(table)} contracts ({read.encoding})")
        else:
            parsed.cai = (path.name, table)
            say(f"read {path.name}: CAI, {len(table)} contracts ({read.encoding})")
    _check_complete(star_year, parsed, seen)
    return parsed


def _check_complete(star_year: int, parsed: _ParsedFiles, seen: dict[TableKind, str]) -> None:
    """Refuse a set missing a table another one needs (`NEEDS`), or the cut points of a part
    whose measures a measure table holds; the error names the file that needs it and what CMS
    calls the missing one."""
    if not seen:
        raise _rejected(
            "none of the files is a table the ratings engine reads (cut points, measure data, "
            "measure stars, summary ratings, CAI); skipped: "
            + "; ".join(f"{s['name']} ({s['reason']})" for s in parsed.skipped)
        )
    needs = {kind: list(needed) for kind, needed in NEEDS.items()}
    for kind, entry in (
        (TableKind.MEASURE_DATA, parsed.measure_data),
        (TableKind.MEASURE_STARS, parsed.measure_stars),
    ):
        if entry is not None:
            parts = {header.measure_id[0] for header in entry[1].measures}
            needs[kind] = needs.get(kind, []) + [
                cuts
                for part, cuts in (("C", TableKind.PART_C_CUT_POINTS), ("D", TableKind.PART_D_CUT_POINTS))
                if part in parts
            ]
    for kind, file in seen.items():
        for needed in needs.get(kind, []):
            if needed not in seen:
                raise _rejected(
                    f"the {TABLE_LABELS[needed]} table is missing, and the {TABLE_LABELS[kind]} table "
                    f"needs it (CMS ships it as '{star_year} Star Ratings Data Table - "
                    f"{CMS_FILE_TITLES[needed]} (…).csv')",
                    file=file,
                )


@dataclass(frozen=True)
class _Header:
    """A measure column as one file names it."""

    measure_id: str
    name: str
    file: str

    @property
    def column(self) -> str:
        """The header cell, as errors quote it."""
        return f"{self.measure_id}: {self.name}"


def _headers(parsed: _ParsedFiles) -> list[_Header]:
    """Every measure column of every file, in reading order."""
    found = [_Header(cut.measure_id, cut.measure_name, file) for file, cut in parsed.cut_points]
    for entry in (parsed.measure_data, parsed.measure_stars):
        if entry is not None:
            file, table = entry
            found.extend(_Header(h.measure_id, h.name, file) for h in table.measures)
    return found


# --- measure editions ---------------------------------------------------------------------


def _editions(star_year: int, parsed: _ParsedFiles) -> tuple[dict[str, StarYearMeasure], int, list[str]]:
    """The star year's edition of every header ID: from the shipped catalog, or from the headers."""
    headers = _headers(parsed)
    catalog = {
        e.cms_id: e for e in StarYearMeasure.objects.filter(star_year=star_year).select_related("measure")
    }
    if any(e.source == CatalogSource.METHODOLOGY for e in catalog.values()):
        for header in headers:
            if header.measure_id not in catalog:
                raise _rejected(
                    f"measure {header.measure_id} is not in the {star_year} catalog",
                    file=header.file,
                    field=header.column,
                )
        _check_names(headers, {cms_id: e.name for cms_id, e in catalog.items()}, f"the {star_year} catalog")
        return catalog, 0, []
    first_names: dict[str, str] = {}
    for header in headers:
        first_names.setdefault(header.measure_id, header.name)
    _check_names(headers, first_names, "the other files")
    return _editions_from_headers(star_year, parsed, first_names, catalog)


def _check_names(headers: list[_Header], reference: dict[str, str], where: str) -> None:
    """Refuse a column whose name is closer to another measure's than to its own ID's.

    Names differ slightly between files and the Technical Notes (C14 'Controlling High Blood
    Pressure' vs 'Controlling Blood Pressure'), so only a name that fits another ID better is
    refused: the sign of a file whose measure IDs belong to another year.
    """
    for header in headers:
        own = _similarity(header.name, reference[header.measure_id])
        for other_id, other_name in reference.items():
            other_of_part = other_id != header.measure_id and other_id[0] == header.measure_id[0]
            if other_of_part and _similarity(header.name, other_name) > own:
                raise _rejected(
                    f"column {header.measure_id} is named like {other_id} ({other_name}) of {where}, not "
                    f"like {header.measure_id} ({reference[header.measure_id]}): the measure IDs do not "
                    "match that star year",
                    file=header.file,
                    field=header.column,
                )


def _similarity(left: str, right: str) -> float:
    """How alike two measure names are (1.0: the same once normalised)."""
    return SequenceMatcher(None, normalized_name(left), normalized_name(right)).ratio()


def _editions_from_headers(
    star_year: int,
    parsed: _ParsedFiles,
    names: dict[str, str],
    existing: dict[str, StarYearMeasure],
) -> tuple[dict[str, StarYearMeasure], int, list[str]]:
    """Create the editions of a year without shipped methodology from the header rows.

    Each header is linked to the stable measure of the same name and part (any year's
    name, or the name the measure lineage links it to, e.g. "Controlling High Blood
    Pressure" to CBP), so COL stays COL when its ID shifts; unknown names become new measures. Weight
    is unknown; precision is the number of decimals of the cut points as written. The
    year's previous header editions go first (with their benchmark rows, replaced anyway),
    so an ID that moved to another measure cannot collide with its old edition.
    """
    CmsMeasureValue.objects.filter(edition__in=existing.values()).delete()
    CutPoint.objects.filter(edition__in=existing.values()).delete()
    StarYearMeasure.objects.filter(pk__in=[e.pk for e in existing.values()]).delete()
    decimals: dict[str, int] = {}
    directions: dict[str, str] = {}
    for _, cut in parsed.cut_points:
        decimals[cut.measure_id] = max(decimals.get(cut.measure_id, 0), _written_decimals(cut))
        directions[cut.measure_id] = cut.direction.value
    known = _measures_by_name()
    lineage = Lineage.shipped()
    editions: dict[str, StarYearMeasure] = {}
    used: set[int] = set()
    for measure_id, name in sorted(names.items()):
        part = measure_id[0]
        linked = lineage.measure(measure_id, name)
        measure = known.get((part, normalized_name(linked.name if linked else name)))
        if measure is None or measure.pk in used:
            measure = _new_measure(part, name, directions.get(measure_id, Direction.HIGHER))
            known[(part, normalized_name(name))] = measure
        used.add(measure.pk)
        # Saved one by one (a few dozen rows) so each edition gets its audit entry.
        editions[measure_id] = StarYearMeasure.objects.create(
            star_year=star_year,
            cms_id=measure_id,
            measure=measure,
            name=name[:200],
            weight=None,
            display_precision=decimals.get(measure_id),
            # The improvement measures are named "... Quality Improvement" in every year's tables.
            improvement="quality improvement" in name.lower(),
            source=CatalogSource.DATA_TABLES,
        )
    notes = [
        f"star year {star_year} has no shipped methodology: {len(editions)} measures were read from "
        "the header rows with unknown weights, so only measure stars can be verified"
    ]
    return editions, len(editions), notes


def _measures_by_name() -> dict[tuple[str, str], Measure]:
    """Stable measures by (part, normalised name), under their own and every edition's name."""
    found: dict[tuple[str, str], Measure] = {}
    for measure in Measure.objects.all():
        found[(measure.part, normalized_name(measure.name))] = measure
    for edition in StarYearMeasure.objects.select_related("measure"):
        found.setdefault((edition.measure.part, normalized_name(edition.name)), edition.measure)
    return found


def _new_measure(part: str, name: str, direction: str) -> Measure:
    """A stable measure for a header name no catalog knows; its data source is not known."""
    base = slugify(name).upper()[:55] or "MEASURE"
    code, suffix = base, 1
    while Measure.objects.filter(part=part, code=code).exists():
        suffix += 1
        code = f"{base}-{suffix}"
    return Measure.objects.create(
        code=code, part=part, name=name[:200], data_source="", direction=direction, member_level=False
    )


def _written_decimals(cut: CutPoints) -> int:
    """The most decimals any threshold of a measure's cut points is written with."""
    return max(max(-t.value.as_tuple().exponent, 0) for t in cut.thresholds.values())


# --- checks -------------------------------------------------------------------------------


def _check_values(parsed: _ParsedFiles, editions: dict[str, StarYearMeasure]) -> None:
    """Range-check scores and stars, and require cut points for every scored measure."""
    with_cut_points = {cut.measure_id for _, cut in parsed.cut_points}
    for entry in (parsed.measure_data, parsed.measure_stars):
        if entry is not None:
            file, table = entry
            headers = {h.measure_id: f"{h.measure_id}: {h.name}" for h in table.measures}
            for (_, measure_id), value in table.values.items():
                if value.value.status is not None and len(value.value.status) > STATUS_LENGTH:
                    raise _rejected(
                        f"status text longer than {STATUS_LENGTH} characters",
                        file=file,
                        line=value.row,
                        field=headers[measure_id],
                    )
    if parsed.measure_data is not None:
        file, table = parsed.measure_data
        headers = {h.measure_id: f"{h.measure_id}: {h.name}" for h in table.measures}
        for (_, measure_id), value in table.values.items():
            number = value.value.number
            if number is None:
                continue
            if value.percent and not 0 <= number <= 100:
                raise _rejected(
                    f"score {number}% is out of range (0 to 100%)",
                    file=file,
                    line=value.row,
                    field=headers[measure_id],
                )
            if abs(number) >= MAX_ABS_SCORE or -number.as_tuple().exponent > 6:
                raise _rejected(
                    f"score {number} is out of range (below 1,000,000 with at most 6 decimals)",
                    file=file,
                    line=value.row,
                    field=headers[measure_id],
                )
            if measure_id not in with_cut_points:
                raise _rejected(
                    f"measure {measure_id} has scores but no cut points for this star year",
                    file=file,
                    line=value.row,
                    field=headers[measure_id],
                )
    if parsed.measure_stars is not None:
        file, table = parsed.measure_stars
        headers = {h.measure_id: f"{h.measure_id}: {h.name}" for h in table.measures}
        for (_, measure_id), value in table.values.items():
            number = value.value.number
            if number is not None and (number != number.to_integral_value() or not 1 <= number <= 5):
                raise _rejected(
                    f"measure star {number} is not a whole star from 1 to 5",
                    file=file,
                    line=value.row,
                    field=headers[measure_id],
                )


# --- writing ------------------------------------------------------------------------------


def _delete_star_year(star_year: int) -> bool:
    """Remove the year's stored benchmark (set-based deletes); True if there was one."""
    existed = CmsDataImport.objects.filter(star_year=star_year).exists()
    CmsMeasureValue.objects.filter(contract__star_year=star_year).delete()
    CmsContract.objects.filter(star_year=star_year).delete()
    CutPoint.objects.filter(edition__star_year=star_year).delete()
    CmsDataImport.objects.filter(star_year=star_year).delete()
    return existed


def _rating_fields(prefix: str, cell: CellValue | None) -> dict:
    """A published rating cell as the number and status fields of `CmsContract`."""
    if cell is None:
        return {prefix: None, f"{prefix}_status": ""}
    return {prefix: cell.number, f"{prefix}_status": cell.status or ""}


def _contract_types(path: Path, parsed: _ParsedFiles) -> dict[str, str]:
    """A user's contract types, each contract checked against the parsed tables."""
    try:
        rows = read_contract_types(path, dict(ContractType.choices))
    except CmsTableError as exc:
        raise _rejected(exc.message, file=exc.file, line=exc.row or 0, field=exc.column or "file") from None
    known = set()
    for entry in (parsed.measure_data, parsed.measure_stars):
        if entry is not None:
            known.update(entry[1].contracts)
    for contract_id, row in rows.items():
        if contract_id not in known:
            raise _rejected(
                f"{contract_id} is not in this star year's measure tables",
                file=path.name,
                line=row.row,
                field="contract",
            )
    return {contract_id: row.contract_type for contract_id, row in rows.items()}


def _write_contracts(star_year: int, parsed: _ParsedFiles, types: dict[str, str]) -> dict[str, int]:
    """Insert one `CmsContract` per contract of any table; returns contract ID → primary key."""
    info = {}
    for entry in (parsed.measure_data, parsed.measure_stars):
        if entry is not None:
            info.update(entry[1].contracts)
    summary = parsed.summary[1] if parsed.summary else {}
    cai = parsed.cai[1] if parsed.cai else {}
    rows = []
    for contract_id in sorted(set(info) | set(summary) | set(cai)):
        described = info.get(contract_id)
        rated = summary.get(contract_id)
        categories = cai.get(contract_id)
        rows.append(
            CmsContract(
                star_year=star_year,
                contract_id=contract_id,
                organization_type=(described.org_type if described else rated.org_type if rated else "")[
                    :100
                ],
                contract_name=(described.contract_name if described else "")[:200],
                marketing_name=(described.marketing_name if described else "")[:200],
                parent_organization=(described.parent_organization if described else "")[:200],
                snp=rated.snp if rated else None,
                disaster_percent=(
                    {str(y): (str(p) if p is not None else None) for y, p in rated.disaster_percent.items()}
                    if rated
                    else {}
                ),
                **_rating_fields("part_c_summary", rated.part_c if rated else None),
                **_rating_fields("part_d_summary", rated.part_d if rated else None),
                **_rating_fields("overall", rated.overall if rated else None),
                puerto_rico_only=categories.puerto_rico_only if categories else None,
                part_c_fac=categories.part_c_fac if categories else None,
                part_d_mapd_fac=categories.part_d_mapd_fac if categories else None,
                part_d_pdp_fac=categories.part_d_pdp_fac if categories else None,
                overall_fac=categories.overall_fac if categories else None,
                contract_type=types.get(contract_id, ""),
            )
        )
    CmsContract.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    # Read the keys back rather than rely on bulk_create returning them on every backend.
    return dict(CmsContract.objects.filter(star_year=star_year).values_list("contract_id", "pk"))


def _write_cut_points(parsed: _ParsedFiles, editions: dict[str, StarYearMeasure]) -> int:
    """Insert the cut points, one row per measure edition and organization type."""
    rows = []
    for _, cut in parsed.cut_points:
        thresholds = cut.thresholds
        rows.append(
            CutPoint(
                edition_id=editions[cut.measure_id].pk,
                org_type=cut.org_type or "",
                direction=cut.direction.value,
                two_star=thresholds[2].value,
                two_star_inclusive=thresholds[2].inclusive,
                three_star=thresholds[3].value,
                three_star_inclusive=thresholds[3].inclusive,
                four_star=thresholds[4].value,
                four_star_inclusive=thresholds[4].inclusive,
                five_star=thresholds[5].value,
                five_star_inclusive=thresholds[5].inclusive,
                decimals=_written_decimals(cut),
            )
        )
    CutPoint.objects.bulk_create(rows, batch_size=BATCH_SIZE)
    return len(rows)


def _write_values(
    parsed: _ParsedFiles,
    editions: dict[str, StarYearMeasure],
    contracts: dict[str, int],
    say: Callable[[str], None],
) -> int:
    """Insert each contract's score and star per measure (measure data + measure stars)."""
    data = parsed.measure_data[1].values if parsed.measure_data else {}
    stars = parsed.measure_stars[1].values if parsed.measure_stars else {}
    keys = sorted(set(data) | set(stars))
    rows = []
    for contract_id, measure_id in keys:
        score = data[(contract_id, measure_id)].value if (contract_id, measure_id) in data else None
        star = stars[(contract_id, measure_id)].value if (contract_id, measure_id) in stars else None
        rows.append(
            CmsMeasureValue(
                contract_id=contracts[contract_id],
                edition_id=editions[measure_id].pk,
                score=score.number if score else None,
                score_status=(score.status or "") if score else "",
                star=int(star.number) if star and star.number is not None else None,
                star_status=(star.status or "") if star else "",
            )
        )
    for start in range(0, len(rows), BATCH_SIZE * 5):
        CmsMeasureValue.objects.bulk_create(rows[start : start + BATCH_SIZE * 5], batch_size=BATCH_SIZE)
        say(f"measure values: {min(start + BATCH_SIZE * 5, len(rows))} of {len(rows)}")
    return len(rows)
