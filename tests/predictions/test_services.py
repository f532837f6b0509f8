"""The prediction bulk upsert: exact counts, the gaps' current prediction, validation, scope, queries."""

import logging
from datetime import UTC, datetime

import pytest
from auditlog.context import auditlog_value
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gaps.models import CareGap
from hedis_portal.backends import visible_contract_ids
from hedis_portal.import_errors import ImportRejected
from predictions.models import Prediction
from predictions.services import (
    MEMBER_NOT_FOUND,
    BulkUpsertResult,
    PredictionBatchTooLarge,
    predictions_bulk_upsert,
)
from tests.factories import CareGapFactory, MemberFactory, PredictionFactory, UserFactory, measure
from tests.predictions.conftest import (
    OTHER_RAW_ID,
    OWN_RAW_ID,
    database_text_contains,
    prediction_row,
    raw_member_ids,
)

pytestmark = pytest.mark.django_db


def _upsert(user, rows):
    return predictions_bulk_upsert(user=user, rows=rows, source="test")


def _rejection(user, rows) -> list[dict]:
    with pytest.raises(ImportRejected) as caught:
        _upsert(user, rows)
    return caught.value.extra["errors"]


def test_first_upsert_creates_and_the_next_updates_with_exact_counts(analyst, contract):
    raw_ids = raw_member_ids(contract, 3)
    first = _upsert(analyst, [prediction_row(raw) for raw in raw_ids])
    assert first == BulkUpsertResult(received=3, created=3, updated=0)

    changed = [prediction_row(raw, probability=0.2, risk_tier="low") for raw in raw_ids]
    second = _upsert(analyst, [*changed, prediction_row(raw_ids[0], measure="COL")])
    assert second == BulkUpsertResult(received=4, created=1, updated=3)
    assert Prediction.objects.count() == 4
    bcs = Prediction.objects.filter(measure=measure("BCS"))
    assert set(bcs.values_list("probability", "risk_tier")) == {(0.2, "low")}


def test_rows_are_stored_with_the_members_contract_and_typed_values(analyst, member, contract):
    _upsert(analyst, [prediction_row(top_features=["a1c_last_year", {"visits": 3}])])
    prediction = Prediction.objects.get()
    assert (prediction.member, prediction.contract, prediction.measure) == (member, contract, measure("BCS"))
    assert prediction.measurement_year == 2026
    assert prediction.model_version == "gbm-2026.1"
    assert prediction.probability == 0.73
    assert prediction.top_features == ["a1c_last_year", {"visits": 3}]
    assert prediction.predicted_at == datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def test_top_features_are_optional_and_default_to_an_empty_list(analyst, member):
    row = prediction_row()
    del row["top_features"]
    _upsert(analyst, [row])
    assert Prediction.objects.get().top_features == []


def test_reposting_the_same_batch_changes_nothing_but_counts_as_updated(analyst, contract):
    rows = [prediction_row(raw) for raw in raw_member_ids(contract, 5)]
    _upsert(analyst, rows)
    before = list(Prediction.objects.order_by("pk").values())
    assert _upsert(analyst, rows) == BulkUpsertResult(received=5, created=0, updated=5)
    assert list(Prediction.objects.order_by("pk").values()) == before


def test_an_empty_batch_writes_nothing(analyst):
    assert _upsert(analyst, []) == BulkUpsertResult(received=0, created=0, updated=0)
    assert not LogEntry.objects.filter(object_pk="batch").exists()


def _current(gap) -> Prediction | None:
    gap.refresh_from_db()
    return gap.current_prediction


def test_gap_points_at_the_latest_prediction_after_each_upsert(analyst, member, contract):
    gap = CareGapFactory(member=member, measure=measure("BCS"), measurement_year=2026)
    _upsert(analyst, [prediction_row(model_version="v1", predicted_at="2026-03-01T08:00:00Z")])
    assert _current(gap).model_version == "v1"

    _upsert(analyst, [prediction_row(model_version="v2", predicted_at="2026-04-01T08:00:00Z")])
    assert _current(gap).model_version == "v2"

    # An older prediction arriving later does not replace the newer one.
    _upsert(analyst, [prediction_row(model_version="v0", predicted_at="2026-01-15T08:00:00+02:00")])
    assert _current(gap).model_version == "v2"

    # Re-scoring v1 makes it the latest again.
    _upsert(analyst, [prediction_row(model_version="v1", predicted_at="2026-05-01T08:00:00Z")])
    assert _current(gap).model_version == "v1"


def test_on_equal_prediction_times_the_gap_points_at_the_newest_row(analyst, member):
    gap = CareGapFactory(member=member, measure=measure("BCS"), measurement_year=2026)
    _upsert(analyst, [prediction_row(model_version="a")])
    _upsert(analyst, [prediction_row(model_version="b")])
    assert _current(gap) == Prediction.objects.get(model_version="b")


def test_gap_pointing_at_an_older_prediction_is_repointed(analyst, member):
    older = PredictionFactory(member=member, predicted_at=datetime(2026, 1, 1, tzinfo=UTC))
    gap = CareGapFactory(
        member=member, measure=measure("BCS"), measurement_year=2026, current_prediction=older
    )
    _upsert(analyst, [prediction_row()])
    assert _current(gap).model_version == "gbm-2026.1"


def test_only_gaps_of_the_batch_keys_are_repointed(analyst, member, contract):
    bcs_2026 = CareGapFactory(member=member, measure=measure("BCS"), measurement_year=2026)
    col_2026 = CareGapFactory(member=member, measure=measure("COL"), measurement_year=2026)
    bcs_2025 = CareGapFactory(member=member, measure=measure("BCS"), measurement_year=2025)
    PredictionFactory(member=member, measure=measure("COL"))
    _upsert(analyst, [prediction_row()])
    assert _current(bcs_2026) is not None
    assert _current(col_2026) is None
    assert _current(bcs_2025) is None


def _tier(gap) -> tuple[str | None, str | None]:
    """The gap's own tier and its current prediction's: the upsert keeps them equal."""
    current = _current(gap)
    return gap.risk_tier, None if current is None else current.risk_tier


def test_gap_carries_its_current_predictions_tier_through_each_upsert(analyst, member):
    gap = CareGapFactory(member=member, measure=measure("BCS"), measurement_year=2026)
    assert _tier(gap) == (None, None)
    _upsert(analyst, [prediction_row(model_version="v1", risk_tier="high")])
    assert _tier(gap) == ("high", "high")
    # A newer model version moves the pointer and the tier.
    _upsert(
        analyst, [prediction_row(model_version="v2", risk_tier="low", predicted_at="2026-04-01T08:00:00Z")]
    )
    assert _tier(gap) == ("low", "low")
    # A re-score of the current prediction that changes only its tier: same pointer, new tier.
    _upsert(
        analyst, [prediction_row(model_version="v2", risk_tier="medium", predicted_at="2026-04-01T08:00:00Z")]
    )
    assert (_current(gap).model_version, _tier(gap)) == ("v2", ("medium", "medium"))
    # An older prediction arriving later changes neither.
    _upsert(
        analyst, [prediction_row(model_version="v0", risk_tier="high", predicted_at="2026-01-01T08:00:00Z")]
    )
    assert _tier(gap) == ("medium", "medium")
    assert CareGap.objects.filter(risk_tier="medium").count() == 1


def test_the_tier_filter_finds_the_gap_by_its_current_prediction_only(analyst, member, care_manager, api):
    gap = CareGapFactory(member=member, measure=measure("BCS"), measurement_year=2026)
    _upsert(analyst, [prediction_row(model_version="v1", risk_tier="high")])
    _upsert(
        analyst, [prediction_row(model_version="v2", risk_tier="low", predicted_at="2026-04-01T08:00:00Z")]
    )
    client = api(care_manager)

    def tier(value):
        return [row["id"] for row in client.get(f"/api/gaps/?risk_tier={value}").json()["results"]]

    assert (tier("high"), tier("low")) == ([], [gap.pk])


def test_deleting_the_current_prediction_clears_the_gaps_pointer_and_tier(member):
    prediction = PredictionFactory(member=member, risk_tier="high")
    gap = CareGapFactory(member=member, current_prediction=prediction)
    assert _tier(gap) == ("high", "high")
    prediction.delete()
    assert _tier(gap) == (None, None)


def test_gap_version_is_not_bumped_by_a_new_prediction(analyst, member):
    gap = CareGapFactory(member=member, measure=measure("BCS"), measurement_year=2026)
    _upsert(analyst, [prediction_row()])
    gap.refresh_from_db()
    assert gap.version == 1


# (row overrides, field named in the error, words of its message)
INVALID_ROWS = [
    ({"member_id": None}, "member_id", "required"),
    ({"member_id": "   "}, "member_id", "blank"),
    ({"member_id": "X" * 65}, "member_id", "longer than 64"),
    ({"member_id": True}, "member_id", "must be a string"),
    ({"member_id": "RAW-OWN\x000001"}, "member_id", "control, format or other invisible character"),
    ({"member_id": "RAW-OWN-0001\u200b"}, "member_id", "control, format or other invisible character"),
    ({"member_id": "RAW-NOBODY"}, "member_id", MEMBER_NOT_FOUND),
    ({"measure": None}, "measure", "required"),
    ({"measure": "XYZ"}, "measure", "not a member-level measure"),
    ({"measure": "CUSTOMER-SERVICE"}, "measure", "not a member-level measure"),
    ({"measure": 7}, "measure", "measure code"),
    ({"measurement_year": 1999}, "measurement_year", "between 2000 and 2100"),
    ({"measurement_year": 2101}, "measurement_year", "between 2000 and 2100"),
    ({"measurement_year": "2026"}, "measurement_year", "integer"),
    ({"measurement_year": 2026.0}, "measurement_year", "integer"),
    ({"measurement_year": True}, "measurement_year", "integer"),
    ({"model_version": ""}, "model_version", "non-blank"),
    ({"model_version": "v" * 51}, "model_version", "at most 50"),
    ({"model_version": 3}, "model_version", "string"),
    ({"probability": -0.01}, "probability", "between 0 and 1"),
    ({"probability": 1.01}, "probability", "between 0 and 1"),
    ({"probability": float("nan")}, "probability", "between 0 and 1"),
    ({"probability": float("inf")}, "probability", "between 0 and 1"),
    ({"probability": True}, "probability", "number"),
    ({"probability": "0.5"}, "probability", "number"),
    ({"probability": None}, "probability", "required"),
    ({"risk_tier": "extreme"}, "risk_tier", "low, medium, high"),
    ({"risk_tier": None}, "risk_tier", "required"),
    ({"top_features": "prior_screening"}, "top_features", "list"),
    ({"top_features": list(range(21))}, "top_features", "at most 20"),
    ({"top_features": [float("nan")]}, "top_features", "JSON values"),
    ({"top_features": [object()]}, "top_features", "JSON values"),
    ({"predicted_at": "yesterday"}, "predicted_at", "ISO-8601"),
    ({"predicted_at": "2026-03-01T08:00:00"}, "predicted_at", "time zone"),
    ({"predicted_at": "2026-03-01"}, "predicted_at", "time zone"),
    ({"predicted_at": 1767225600}, "predicted_at", "ISO-8601"),
    ({"predicted_at": None}, "predicted_at", "required"),
    (
        {"member_name": "anything"},
        "non_field_errors",
        "1 unknown field at position 9 (did you mean member_id?)",
    ),
]


@pytest.mark.parametrize(("overrides", "field", "words"), INVALID_ROWS)
def test_each_invalid_field_is_named_with_its_row(analyst, member, overrides, field, words):
    # A second model version, so that only the field under test can make row 2 bad.
    rows = [prediction_row(), prediction_row(**{"model_version": "v2", **overrides})]
    errors = _rejection(analyst, rows)
    assert [(e["line"], e["field"]) for e in errors] == [(2, field)]
    assert words in errors[0]["message"]
    assert not Prediction.objects.exists()


def test_a_row_that_is_not_an_object_is_an_error(analyst, member):
    errors = _rejection(analyst, [prediction_row(), "BCS,2026"])
    assert errors == [{"line": 2, "field": "non_field_errors", "message": errors[0]["message"]}]


def test_every_bad_row_is_listed_and_nothing_is_half_written(analyst, member, contract):
    gap = CareGapFactory(member=member, measure=measure("BCS"), measurement_year=2026)
    good = [prediction_row(raw) for raw in raw_member_ids(contract, 3)]
    rows = [
        good[0],
        prediction_row(probability=2, risk_tier="extreme"),
        good[1],
        prediction_row(measure="XYZ"),
        good[2],
    ]
    errors = _rejection(analyst, rows)
    assert [(e["line"], e["field"]) for e in errors] == [
        (2, "probability"),
        (2, "risk_tier"),
        (4, "measure"),
    ]
    assert not Prediction.objects.exists()
    assert _current(gap) is None
    assert not LogEntry.objects.filter(object_pk="batch").exists()


def test_a_rejected_batch_says_how_many_rows_are_bad(analyst, member):
    with pytest.raises(ImportRejected) as caught:
        _upsert(analyst, [prediction_row(probability=5, risk_tier="x"), prediction_row(measure="?")])
    assert caught.value.message == "The batch was rejected (2 of 2 rows invalid); nothing was written."
    assert caught.value.status_code == 400


def test_a_duplicate_in_one_batch_names_both_rows(analyst, member):
    rows = [
        prediction_row(),
        prediction_row(measure="COL"),
        # The same key once the raw ID and model version are normalized.
        prediction_row(f"  {OWN_RAW_ID} ", model_version=" gbm-2026.1 ", probability=0.1),
    ]
    errors = _rejection(analyst, rows)
    assert errors == [
        {
            "line": 3,
            "field": "non_field_errors",
            "message": "same member, measure, measurement_year and model_version as line 1",
        }
    ]


UNKNOWN_MEMBER_NAME = (
    "1 unknown field at position 8 (did you mean member_id?); known fields: member_id, measure, "
    "measurement_year, model_version, probability, risk_tier, top_features, predicted_at"
)


def test_problems_of_one_row_come_in_field_order_with_the_member_lookup_last(analyst, member):
    row = prediction_row("RAW-NOBODY", probability=2, member_name="x")
    del row["measure"]
    errors = _rejection(analyst, [prediction_row(), row])
    assert [(e["line"], e["field"], e["message"]) for e in errors] == [
        (2, "non_field_errors", UNKNOWN_MEMBER_NAME),
        (2, "measure", "this field is required"),
        (2, "probability", "must be between 0 and 1"),
        (2, "member_id", MEMBER_NOT_FOUND),
    ]


def test_a_value_repeated_on_several_rows_is_reported_on_each(analyst, contract):
    raw_ids = raw_member_ids(contract, 3)
    rows = [
        prediction_row(raw_ids[0]),
        prediction_row(raw_ids[1], predicted_at="yesterday", risk_tier="extreme"),
        prediction_row(raw_ids[2], predicted_at="yesterday", risk_tier="extreme"),
    ]
    errors = _rejection(analyst, rows)
    assert [(e["line"], e["field"]) for e in errors] == [
        (2, "risk_tier"),
        (2, "predicted_at"),
        (3, "risk_tier"),
        (3, "predicted_at"),
    ]


def test_a_boolean_is_not_taken_for_the_number_it_equals(analyst, contract):
    MemberFactory(contract=contract, raw_member_id="1")
    rows = [
        prediction_row(1, model_version="a", probability=1),
        prediction_row(True, model_version="b", probability=True),
        prediction_row(1, model_version="c", probability=1),
    ]
    errors = _rejection(analyst, rows)
    assert [(e["line"], e["field"], e["message"]) for e in errors] == [
        (2, "member_id", "must be a string"),
        (2, "probability", "must be a number"),
    ]


def test_a_numeric_member_id_is_the_same_member_as_its_text(analyst, contract):
    MemberFactory(contract=contract, raw_member_id="12345")
    assert _upsert(analyst, [prediction_row(12345)]).created == 1
    errors = _rejection(analyst, [prediction_row("12345"), prediction_row(12345)])
    assert [(e["line"], e["field"]) for e in errors] == [(2, "non_field_errors")]


def test_the_same_wall_clock_time_in_two_offsets_is_two_instants(analyst, member):
    _upsert(
        analyst,
        [
            prediction_row(model_version="utc", predicted_at="2026-03-01T08:00:00Z"),
            prediction_row(model_version="cet", predicted_at="2026-03-01T08:00:00+02:00"),
            prediction_row(model_version="same-instant", predicted_at="2026-03-01T10:00:00+02:00"),
        ],
    )
    stored = dict(Prediction.objects.values_list("model_version", "predicted_at"))
    assert stored == {
        "utc": datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        "cet": datetime(2026, 3, 1, 6, 0, tzinfo=UTC),
        "same-instant": datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
    }


def test_the_same_member_and_measure_under_two_model_versions_is_not_a_duplicate(analyst, member):
    result = _upsert(analyst, [prediction_row(model_version="a"), prediction_row(model_version="b")])
    assert result.created == 2


@pytest.mark.parametrize("raw_id", [OTHER_RAW_ID, "RAW-NEVER-ENROLLED"])
def test_member_outside_the_users_contracts_is_not_found_whether_or_not_it_exists(
    analyst, member, other_member, raw_id
):
    errors = _rejection(analyst, [prediction_row(), prediction_row(raw_id)])
    assert errors == [{"line": 2, "field": "member_id", "message": MEMBER_NOT_FOUND}]


def test_superuser_may_upsert_for_any_contract(member, other_member):
    result = _upsert(UserFactory(is_superuser=True), [prediction_row(), prediction_row(OTHER_RAW_ID)])
    assert result.created == 2


def test_more_rows_than_the_maximum_is_refused_before_anything_else(settings, analyst, member):
    settings.PREDICTIONS_BULK_MAX_ROWS = 2
    with pytest.raises(PredictionBatchTooLarge) as caught:
        _upsert(analyst, [prediction_row(model_version=f"v{n}") for n in range(3)])
    assert caught.value.status_code == 413
    assert caught.value.extra == {"received": 3, "max_rows": 2}
    assert _upsert(analyst, [prediction_row(model_version=f"v{n}") for n in range(2)]).created == 2


def test_raw_member_ids_are_stored_nowhere_logged_nowhere_and_echoed_nowhere(analyst, member, caplog):
    caplog.set_level(logging.DEBUG)
    _upsert(analyst, [prediction_row()])
    with pytest.raises(ImportRejected) as caught:
        _upsert(analyst, [prediction_row("RAW-NOT-ENROLLED-77"), prediction_row(OWN_RAW_ID, probability=9)])
    for raw in [OWN_RAW_ID, "RAW-NOT-ENROLLED-77"]:
        assert raw not in caplog.text
        assert raw not in str(caught.value.extra)
        assert raw not in caught.value.message
        assert database_text_contains(raw) == []


def test_one_audit_entry_per_call_with_actor_counts_and_model_versions(analyst, member, contract):
    raw_ids = raw_member_ids(contract, 2)
    token = auditlog_value.set({"actor": analyst})
    try:
        _upsert(analyst, [prediction_row(raw_ids[0], model_version="b"), prediction_row(raw_ids[1])])
        _upsert(analyst, [prediction_row(raw_ids[0], model_version="b", probability=0.5)])
    finally:
        auditlog_value.reset(token)
    first, second = LogEntry.objects.filter(object_pk="batch").order_by("pk")
    assert (first.actor, first.action) == (analyst, LogEntry.Action.CREATE)
    assert first.content_type.model_class() is Prediction
    assert first.additional_data["batch"] == {
        "count": 2,
        "channel": "test",
        "file": None,
        "created": 2,
        "updated": 0,
        "model_versions": ["b", "gbm-2026.1"],
        "gaps_repointed": 0,
    }
    assert second.additional_data["batch"]["updated"] == 1
    assert first.object_repr == "2 predictions from test: 2 created, 0 updated"


def _statements(user, rows) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        _upsert(user, rows)
    return [query["sql"] for query in queries.captured_queries]


def test_query_count_does_not_grow_with_the_batch(analyst, contract):
    raw_ids = raw_member_ids(contract, 500)
    CareGap.objects.bulk_create(
        CareGap(member=m, contract=contract, measure=measure("BCS"), measurement_year=2026)
        for m in contract.members.all()
    )
    ContentType.objects.get_for_model(Prediction)  # the audit entry's content type, cached from here on
    visible_contract_ids(analyst)  # read once per user object, as within one request
    ten = _statements(analyst, [prediction_row(raw) for raw in raw_ids[:10]])
    five_hundred = _statements(analyst, [prediction_row(raw) for raw in raw_ids])
    assert CareGap.objects.filter(current_prediction__isnull=False).count() == 500
    if connection.vendor == "postgresql":
        assert len(five_hundred) == len(ten)
        return
    # SQLite: bulk_create splits its INSERT into statements of max_query_params // 10 rows;
    # every other query is the same.
    rows_per_insert = connection.features.max_query_params // 10

    def inserts(statements):
        return [sql for sql in statements if sql.startswith('INSERT INTO "predictions_prediction"')]

    assert len(inserts(ten)) == 1
    assert len(inserts(five_hundred)) == -(-500 // rows_per_insert)
    assert len(five_hundred) - len(inserts(five_hundred)) == len(ten) - len(inserts(ten))


def test_text_with_tabs_newlines_and_backslashes_is_stored_as_sent(analyst, member):
    # The PostgreSQL path COPYs rows in text format, where these characters must be escaped.
    features = ["a\tb", "line\nbreak", "back\\slash", {"q": 'say "\\N"'}]
    _upsert(analyst, [prediction_row(model_version="v1\\beta\ttab", top_features=features)])
    prediction = Prediction.objects.get()
    assert (prediction.model_version, prediction.top_features) == ("v1\\beta\ttab", features)
