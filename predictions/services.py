"""Writes for predictions: one validated, set-based bulk upsert shared by the API and the file import.

Rows carry the plan's raw member ID; it is hashed on arrival and appears in no stored
value, log line or error message. A batch is all or nothing: every row is checked first
and, if any is bad, the whole batch is refused (`ImportRejected`) with every problem listed.
Error messages come from `hedis_portal.import_errors`: they quote no value and no unknown field
name.
"""

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
from typing import NamedTuple

from auditlog.models import LogEntry
from django.conf import settings
from django.db import connection
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils import timezone
from rest_framework import status

from gaps.services import gaps_point_at_latest_predictions, gaps_point_at_latest_predictions_from_table
from hedis_portal import import_errors as problems
from hedis_portal.audit import log_batch
from hedis_portal.db_retry import atomic_with_retry
from hedis_portal.errors import ApplicationError
from hedis_portal.import_errors import ImportRejected, Problem, row_error
from hedis_portal.pgcopy import copy_text
from members.identifiers import InvalidMemberId, member_id_hash
from members.models import Member
from predictions.models import Prediction, RiskTier
from ratings.models import Measure

OPTIONAL_FIELDS = frozenset({"top_features"})
NON_FIELD = "non_field_errors"
MEMBER_NOT_FOUND = problems.MEMBER_NOT_FOUND
MIN_MEASUREMENT_YEAR, MAX_MEASUREMENT_YEAR = 2000, 2100
MAX_MODEL_VERSION_LENGTH = Prediction._meta.get_field("model_version").max_length
MAX_MEASURE_CODE_LENGTH = Measure._meta.get_field("code").max_length
MAX_TOP_FEATURES = 20
# `RiskTier.values` builds a new list on every access; rows are checked against this set.
RISK_TIERS = frozenset(RiskTier.values)
_NOT_A_RISK_TIER = problems.must_be_one_of(RiskTier.values)
_YEAR_OUT_OF_RANGE = problems.must_be_between(MIN_MEASUREMENT_YEAR, MAX_MEASUREMENT_YEAR)
_MODEL_VERSION_TOO_LONG = problems.must_be_at_most_characters(MAX_MODEL_VERSION_LENGTH)
_TOO_MANY_FEATURES = problems.must_have_at_most_items(MAX_TOP_FEATURES)
# One encoder for every row: json.dumps(…, allow_nan=False) would build a new one per call.
_FEATURES_JSON = json.JSONEncoder(allow_nan=False)


class PredictionBatchTooLarge(ApplicationError):
    """More rows than `PREDICTIONS_BULK_MAX_ROWS` in one call; answered as 413."""

    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE

    def __init__(self, *, received: int, max_rows: int):
        super().__init__(
            f"A batch may hold at most {max_rows} predictions; split the {received} rows into smaller ones.",
            {"received": received, "max_rows": max_rows},
        )


@dataclass(frozen=True)
class BulkUpsertResult:
    """What one bulk upsert did: rows received, predictions created, predictions updated."""

    received: int
    created: int
    updated: int


class ValidPrediction(NamedTuple):
    """A checked row, resolved to primary keys; `top_features_json` is `top_features` as JSON text.

    A named tuple rather than a dataclass: 10,000 of them are built per batch, at a third of
    the cost of a frozen dataclass.
    """

    member_id: int
    contract_id: int
    measure_id: int
    measurement_year: int
    model_version: str
    probability: float
    risk_tier: str
    predicted_at: datetime
    top_features: list
    top_features_json: str

    @property
    def key(self) -> tuple[int, int, int, str]:
        """The prediction's identity: (member, measure, measurement year, model version)."""
        return (self.member_id, self.measure_id, self.measurement_year, self.model_version)


class _Invalid(ValueError):
    """A field value that fails its check; its message is a `Problem`, which never contains the value."""

    def __init__(self, problem: Problem):
        super().__init__(problem)
        self.problem = problem


def _clean_member_id(value) -> str:
    # JSON senders may give a numeric ID; either way only its hash is kept.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid(problems.MUST_BE_STRING)
    try:
        return member_id_hash(str(value))
    except InvalidMemberId as exc:
        raise _Invalid(exc.problem) from None


def _clean_measure(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(problems.MUST_BE_MEASURE_CODE)
    if len(value.strip()) > MAX_MEASURE_CODE_LENGTH:
        raise _Invalid(problems.NOT_A_MEMBER_LEVEL_MEASURE)
    return value.strip()


def _clean_measurement_year(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(problems.MUST_BE_INTEGER)
    if not MIN_MEASUREMENT_YEAR <= value <= MAX_MEASUREMENT_YEAR:
        raise _Invalid(_YEAR_OUT_OF_RANGE)
    return value


def _clean_model_version(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(problems.MUST_BE_NON_BLANK_STRING)
    if len(value.strip()) > MAX_MODEL_VERSION_LENGTH:
        raise _Invalid(_MODEL_VERSION_TOO_LONG)
    return value.strip()


def _clean_probability(value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid(problems.MUST_BE_NUMBER)
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise _Invalid(problems.MUST_BE_PROBABILITY)
    return float(value)


def _clean_risk_tier(value) -> str:
    if not isinstance(value, str) or value not in RISK_TIERS:
        raise _Invalid(_NOT_A_RISK_TIER)
    return value


def _clean_top_features(value) -> tuple[list, str]:
    """The features and their JSON text: serialized once here, both to check them and to store them."""
    if not isinstance(value, list):
        raise _Invalid(problems.MUST_BE_LIST)
    if len(value) > MAX_TOP_FEATURES:
        raise _Invalid(_TOO_MANY_FEATURES)
    try:
        return value, _FEATURES_JSON.encode(value)
    except (TypeError, ValueError):
        raise _Invalid(problems.MUST_BE_JSON_VALUES) from None


def _clean_predicted_at(value) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _Invalid(problems.MUST_BE_DATETIME) from None
    else:
        raise _Invalid(problems.MUST_BE_DATETIME_STRING)
    if timezone.is_naive(moment):
        raise _Invalid(problems.MUST_HAVE_TIME_ZONE)
    return moment


_CLEANERS = {
    "member_id": _clean_member_id,
    "measure": _clean_measure,
    "measurement_year": _clean_measurement_year,
    "model_version": _clean_model_version,
    "probability": _clean_probability,
    "risk_tier": _clean_risk_tier,
    "top_features": _clean_top_features,
    "predicted_at": _clean_predicted_at,
}
ROW_FIELDS = tuple(_CLEANERS)


def _checked(clean, value):
    """`clean(value)`, or the `_Invalid` it raised (returned, so that it can be kept for reuse)."""
    try:
        return clean(value)
    except _Invalid as exc:
        return exc


# A batch has one or two model versions, prediction times and measure codes, and each member on
# several rows (hashing a member ID is the costly check): text and integers are checked once per distinct
# value and batch. An exact str or int equals no value of another type that checks differently
# (a bool equals 1 or 0, but is never looked up).
_CHECKED_ONCE = (str, int)


def _clean_column(rows: list[dict], name: str) -> list:
    """One field of every row: the cleaned value, `None` where it is absent, or the `_Invalid` found."""
    clean = _CLEANERS[name]
    checked_once = cache(partial(_checked, clean))
    return [
        None
        if value is None
        else checked_once(value)
        if value.__class__ in _CHECKED_ONCE
        else _checked(clean, value)
        for value in [row.get(name) for row in rows]
    ]


def _clean_rows(rows: list) -> tuple[list[list], list[list[tuple[str, Problem]]]]:
    """Check every row's fields on their own (no database), one field at a time.

    Returns one column per field of `ROW_FIELDS` (see `_clean_column`) and each row's (field,
    problem)s: unknown fields first (one non-field problem giving their positions, never their
    names, which may be a shifted member ID), then the fields in `ROW_FIELDS` order. Checked a
    column at a time, a batch takes half the time of a loop over each row's fields.
    """
    found: list[list[tuple[str, Problem]]] = [[] for _ in rows]
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            found[index].append((NON_FIELD, problems.MUST_BE_OBJECT))
        elif not row.keys() <= _CLEANERS.keys():
            found[index].append(
                (NON_FIELD, problems.unknown_names(list(row), _CLEANERS.keys(), noun="field"))
            )
    objects = [row if isinstance(row, dict) else {} for row in rows]
    columns = [_clean_column(objects, name) for name in ROW_FIELDS]
    for name, column in zip(ROW_FIELDS, columns, strict=True):
        required = name not in OPTIONAL_FIELDS
        for index in [i for i, value in enumerate(column) if value is None or value.__class__ is _Invalid]:
            if not isinstance(rows[index], dict):
                continue  # that one problem, not one per missing field
            if column[index] is not None:
                found[index].append((name, column[index].problem))
            elif required:
                found[index].append((name, problems.REQUIRED))
    return columns, found


def _visible_members(user, hashes: set[str]) -> dict[str, tuple[int, int]]:
    """(primary key, contract) by hash of the members among `hashes` in `user`'s contracts.

    Out-of-scope and unknown members look the same: the caller learns nothing about other
    contracts. On PostgreSQL the hashes travel as one array parameter: with one placeholder per
    hash, 10,000 of them took twice as long to send, parse and plan as the lookup itself.
    """
    members = Member.objects.visible_to(user)
    if connection.vendor == "postgresql":
        column = f"{connection.ops.quote_name(Member._meta.db_table)}.{connection.ops.quote_name('id_hash')}"
        members = members.filter(RawSQL(f"{column} = ANY(%s)", (list(hashes),), output_field=BooleanField()))
    else:
        members = members.filter(id_hash__in=hashes)
    return {
        id_hash: (pk, contract_id)
        for id_hash, pk, contract_id in members.values_list("id_hash", "pk", "contract_id").order_by()
    }


def predictions_validate(
    *,
    user,
    rows: list,
    row_numbers: Sequence[int] | None = None,
    seen_keys: dict[tuple, int] | None = None,
) -> tuple[list[ValidPrediction], list[dict]]:
    """Check every row and resolve members and measures; return the valid rows and every error.

    Two queries whatever the batch size: members by hash (within `user`'s contracts) and
    member-level measures by code. Errors are `row_error`s, `{"line", "field", "message"}`,
    where a row's "line" is its 1-based position in `rows`. A file import validated in chunks
    passes each row's line number in the file (`row_numbers`) and one `seen_keys` for all
    chunks, so duplicates across chunks count.
    """
    numbers = row_numbers if row_numbers is not None else range(1, len(rows) + 1)
    first_row_of_key = seen_keys if seen_keys is not None else {}
    columns, found = _clean_rows(rows)
    members = _visible_members(user, {value for value in columns[0] if value.__class__ is str})
    codes = {value for value in columns[1] if value.__class__ is str}
    measures = dict(
        Measure.objects.filter(member_level=True, code__in=codes).order_by().values_list("code", "pk")
    )

    errors: list[dict] = []
    valid: list[ValidPrediction] = []
    for number, values, row_problems in zip(numbers, zip(*columns, strict=True), found, strict=True):
        member_hash, code, year, model_version, probability, risk_tier, features, predicted_at = values
        member = members.get(member_hash)
        measure_id = measures.get(code)
        if row_problems or member is None or measure_id is None:
            if member is None and member_hash.__class__ is str:
                row_problems.append(("member_id", MEMBER_NOT_FOUND))
            if measure_id is None and code.__class__ is str:
                row_problems.append(("measure", problems.NOT_A_MEMBER_LEVEL_MEASURE))
            errors.extend(row_error(number, name, problem) for name, problem in row_problems)
            continue
        member_pk, contract_id = member
        features, features_json = features or ([], "[]")
        # Positional, in ValidPrediction's field order: half the cost of keywords.
        prediction = ValidPrediction(
            member_pk,
            contract_id,
            measure_id,
            year,
            model_version,
            probability,
            risk_tier,
            predicted_at,
            features,
            features_json,
        )
        first = first_row_of_key.setdefault(prediction.key, number)
        if first != number:
            errors.append(row_error(number, NON_FIELD, problems.same_prediction_as(first)))
            continue
        valid.append(prediction)
    return valid, errors


def predictions_bulk_upsert(
    *, user, rows: list[dict], source: str, file: dict | None = None
) -> BulkUpsertResult:
    """Create or update a batch of predictions for members in `user`'s contracts, all or nothing.

    Raises `ImportRejected` listing every bad row (see `predictions_validate`); nothing is
    written then. The checks only read; the write is `predictions_write`'s transaction.

    Set-based: a constant number of queries on PostgreSQL whatever the batch size (member
    and measure lookups, one upsert, the affected gaps locked and their current prediction
    updated, one audit entry). Re-sending an identical row counts as updated but rewrites nothing.

    `source` is the channel the rows came through ("api", "command", or a job's name), never a
    file name; `file` is what the audit keeps of the file or request body they came in
    (`hedis_portal.audit.file_facts`: SHA-256, size, row count).
    """
    max_rows = settings.PREDICTIONS_BULK_MAX_ROWS
    if len(rows) > max_rows:
        raise PredictionBatchTooLarge(received=len(rows), max_rows=max_rows)
    valid, errors = predictions_validate(user=user, rows=rows)
    if errors:
        bad = len({error["line"] for error in errors})
        raise ImportRejected(
            f"The batch was rejected ({bad} of {len(rows)} rows invalid); nothing was written.", errors
        )
    return predictions_write(valid=valid, source=source, file=file)


@atomic_with_retry
def predictions_write(
    *, valid: list[ValidPrediction], source: str, file: dict | None = None
) -> BulkUpsertResult:
    """Create or update predictions already checked by `predictions_validate`, as one batch.

    The write half of `predictions_bulk_upsert` (which see for `source`, `file` and the
    queries), for rows checked earlier: an uploaded file's, checked at the API's edge and
    written by its job.

    Concurrent batches for the same gaps wait for each other (on PostgreSQL the gaps are locked
    in the order of their ids; on SQLite a writer holds the whole database) and leave each gap
    at its latest prediction whichever commits last. A batch the database still ends in favour
    of another (a deadlock with some other writer of the gaps) is run again
    (`atomic_with_retry`); after the last attempt it raises `DatabaseBusy` (409, "send it again").
    """
    if not valid:
        return BulkUpsertResult(received=0, created=0, updated=0)

    if connection.vendor == "postgresql":
        created, repointed = _upsert_postgresql(valid)
    else:
        created = _upsert_portable(valid)
        repointed = _point_gaps_at_latest_prediction(valid)
    updated = len(valid) - created
    model_versions = sorted({prediction.model_version for prediction in valid})
    log_batch(
        model=Prediction,
        action=LogEntry.Action.CREATE,
        count=len(valid),
        summary=f"{len(valid)} predictions from {source}: {created} created, {updated} updated",
        details={
            "channel": source,
            "file": file,
            "created": created,
            "updated": updated,
            "model_versions": model_versions,
            "gaps_repointed": repointed,
        },
    )
    return BulkUpsertResult(received=len(valid), created=created, updated=updated)


# PostgreSQL: the validated rows are COPYed into a temporary table, then written set-based.
# COPY streams the rows without building a statement; the former INSERT … FROM unnest(%s, …) had every value
# quoted into one multi-megabyte statement by the client and parsed again by the server.
_CREATE_BATCH = """
CREATE TEMPORARY TABLE prediction_batch (
    member_id bigint, contract_id bigint, measure_id bigint, measurement_year smallint,
    model_version text, probability double precision, risk_tier text, top_features jsonb,
    predicted_at timestamptz
) ON COMMIT DROP
"""
_COPY_BATCH = (
    "COPY prediction_batch (member_id, contract_id, measure_id, measurement_year, model_version, "
    "probability, risk_tier, top_features, predicted_at) FROM STDIN"
)

# Rows go in the order of the unique index, which the conflict check probes. The WHERE on
# DO UPDATE skips rows that would not change, so re-sending a batch rewrites (and
# bloats) nothing; such rows still count as updated (received − created). For the row an INSERT
# created, xmax is 0; for a row it updated, xmax holds the updating transaction's ID.
_UPSERT_BATCH = """
WITH upserted AS (
    INSERT INTO predictions_prediction AS existing (
        member_id, contract_id, measure_id, measurement_year, model_version,
        probability, risk_tier, top_features, predicted_at, created_at
    )
    SELECT member_id, contract_id, measure_id, measurement_year, model_version,
           probability, risk_tier, top_features, predicted_at, %s
    FROM prediction_batch
    ORDER BY member_id, measure_id, measurement_year, model_version
    ON CONFLICT (member_id, measure_id, measurement_year, model_version) DO UPDATE SET
        contract_id = EXCLUDED.contract_id,
        probability = EXCLUDED.probability,
        risk_tier = EXCLUDED.risk_tier,
        top_features = EXCLUDED.top_features,
        predicted_at = EXCLUDED.predicted_at
    WHERE (existing.contract_id, existing.probability, existing.risk_tier,
           existing.top_features, existing.predicted_at)
          IS DISTINCT FROM (EXCLUDED.contract_id, EXCLUDED.probability, EXCLUDED.risk_tier,
                            EXCLUDED.top_features, EXCLUDED.predicted_at)
    RETURNING xmax = 0 AS inserted
)
SELECT count(*) FILTER (WHERE inserted) FROM upserted
"""


def _upsert_postgresql(valid: list[ValidPrediction]) -> tuple[int, int]:
    """COPY the batch into a temporary table, upsert from it, repoint the gaps; (created, repointed).

    A constant number of statements whatever the batch size. The temporary table is private to
    this connection and dropped here (and at commit at the latest), so concurrent batches and
    several batches in one transaction (`predictions_import_file`) never see each other's rows.
    """
    # A batch repeats its model versions and prediction times: each is formatted once. Equal
    # times in different offsets share one text, which is the same instant for timestamptz.
    versions = cache(copy_text)
    times = cache(datetime.isoformat)
    lines = [
        f"{p.member_id}\t{p.contract_id}\t{p.measure_id}\t{p.measurement_year}\t"
        f"{versions(p.model_version)}\t{p.probability!r}\t{p.risk_tier}\t"
        f"{copy_text(p.top_features_json)}\t{times(p.predicted_at)}\n"
        for p in valid
    ]
    with connection.cursor() as cursor:
        cursor.execute(_CREATE_BATCH)
        with cursor.copy(_COPY_BATCH) as copy:
            copy.write("".join(lines))
        # A temporary table has no statistics until analyzed: the planner would take a batch
        # of one row for hundreds and repoint by a hash join over a sequential scan of the gaps.
        cursor.execute("ANALYZE prediction_batch")
        cursor.execute(_UPSERT_BATCH, [timezone.now()])
        created = cursor.fetchone()[0]
        repointed = gaps_point_at_latest_predictions_from_table(cursor=cursor, keys_table="prediction_batch")
        cursor.execute("DROP TABLE prediction_batch")
    return created, repointed


def _upsert_portable(valid: list[ValidPrediction]) -> int:
    """Upsert with `bulk_create(update_conflicts=True)` (SQLite); return how many rows were created.

    One query reads the keys that exist already, so the counts are exact. Django splits the
    INSERT into statements of `max_query_params // 10` rows (99 on SQLite), so the query
    count grows by one per 99 rows here; PostgreSQL takes the single-statement path instead.
    """
    existing = set(
        Prediction.objects.filter(
            member_id__in={p.member_id for p in valid},
            measure_id__in={p.measure_id for p in valid},
            measurement_year__in={p.measurement_year for p in valid},
            model_version__in={p.model_version for p in valid},
        ).values_list("member_id", "measure_id", "measurement_year", "model_version")
    )
    Prediction.objects.bulk_create(
        [
            Prediction(
                member_id=p.member_id,
                contract_id=p.contract_id,
                measure_id=p.measure_id,
                measurement_year=p.measurement_year,
                model_version=p.model_version,
                probability=p.probability,
                risk_tier=p.risk_tier,
                top_features=p.top_features,
                predicted_at=p.predicted_at,
            )
            for p in valid
        ],
        update_conflicts=True,
        unique_fields=["member", "measure", "measurement_year", "model_version"],
        update_fields=["contract", "probability", "risk_tier", "top_features", "predicted_at"],
    )
    return sum(1 for p in valid if p.key not in existing)


def _point_gaps_at_latest_prediction(valid: list[ValidPrediction]) -> int:
    """Point the batch's gaps at their latest prediction, through `gaps` (a derived pointer)."""
    return gaps_point_at_latest_predictions(
        member_ids={p.member_id for p in valid},
        measure_ids={p.measure_id for p in valid},
        measurement_years={p.measurement_year for p in valid},
    )
