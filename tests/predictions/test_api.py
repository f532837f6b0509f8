"""Predictions through the API: personas, scoping, the bulk upsert, errors, audit and query counts."""

import hashlib
import json
import logging

import pytest
from auditlog.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from hedis_portal.models import ApiRequestLog
from predictions.models import Prediction
from predictions.services import MEMBER_NOT_FOUND
from tests.conftest import query_count
from tests.factories import CareGapFactory, MemberFactory, PredictionFactory, UserFactory, measure
from tests.predictions.conftest import (
    OTHER_RAW_ID,
    OWN_RAW_ID,
    database_text_contains,
    prediction_row,
    raw_member_ids,
)

pytestmark = pytest.mark.django_db

BULK = "/api/predictions/bulk/"


@pytest.fixture
def prediction(member):
    return PredictionFactory(member=member)


@pytest.fixture
def other_prediction(other_member):
    return PredictionFactory(member=other_member)


def _client(request, api, persona):
    return api(request.getfixturevalue(persona) if persona else None)


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("care_manager", 200), ("colleague", 200), ("analyst", 200), ("administrator", 200), (None, 401)],
)
def test_list_status_by_persona(request, api, prediction, persona, expected):
    assert _client(request, api, persona).get("/api/predictions/").status_code == expected


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("care_manager", 200), ("colleague", 404), ("analyst", 200), ("administrator", 200), (None, 401)],
)
def test_retrieve_status_by_persona(request, api, prediction, persona, expected):
    response = _client(request, api, persona).get(f"/api/predictions/{prediction.pk}/")
    assert response.status_code == expected
    if expected == 200:
        body = response.json()
        assert (body["member"], body["contract"], body["measure"]) == (prediction.member_id, "H1001", "BCS")
        assert "id_hash" not in str(body)


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("care_manager", 403), ("colleague", 403), ("analyst", 200), ("administrator", 200), (None, 401)],
)
def test_bulk_status_by_persona(request, api, member, persona, expected):
    response = _client(request, api, persona).post(BULK, {"predictions": [prediction_row()]})
    assert response.status_code == expected
    assert Prediction.objects.exists() == (expected == 200)
    if expected != 200:
        assert set(response.json()) == {"message", "extra"}


@pytest.mark.parametrize(
    ("persona", "expected_contracts"),
    [("care_manager", ["H1001"]), ("colleague", ["H1002"]), ("administrator", ["H1001", "H1002"])],
)
def test_list_shows_only_assigned_contracts(
    request, api, prediction, other_prediction, persona, expected_contracts
):
    results = _client(request, api, persona).get("/api/predictions/").json()["results"]
    assert sorted({p["contract"] for p in results}) == expected_contracts


def test_colleague_gets_404_in_the_error_shape_for_the_other_contracts_prediction(api, colleague, prediction):
    response = api(colleague).get(f"/api/predictions/{prediction.pk}/")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


def test_retrieve_is_audited_as_an_access_with_actor(api, care_manager, prediction):
    api(care_manager).get(f"/api/predictions/{prediction.pk}/")
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS)
    assert (entry.actor, entry.object_pk) == (care_manager, str(prediction.pk))


def test_predictions_cannot_be_written_one_by_one(api, administrator, prediction):
    assert api(administrator).delete(f"/api/predictions/{prediction.pk}/").status_code == 403
    superuser = UserFactory(is_superuser=True)
    assert api(superuser).post("/api/predictions/", {}).status_code == 405
    assert api(superuser).delete(f"/api/predictions/{prediction.pk}/").status_code == 405
    assert Prediction.objects.filter(pk=prediction.pk).exists()


def test_bulk_upsert_answers_counts_and_updates_on_a_second_call(api, analyst, member, contract):
    gap = CareGapFactory(member=member, measure=measure("BCS"), measurement_year=2026)
    client = api(analyst)
    first = client.post(BULK, {"predictions": [prediction_row(), prediction_row(measure="COL")]})
    assert first.status_code == 200
    assert first.json() == {"received": 2, "created": 2, "updated": 0}
    second = client.post(BULK, {"predictions": [prediction_row(probability=0.1, risk_tier="low")]})
    assert second.json() == {"received": 1, "created": 0, "updated": 1}
    gap.refresh_from_db()
    assert gap.current_prediction.probability == 0.1


def test_bulk_rejection_lists_every_bad_row_in_the_error_shape(api, analyst, member):
    rows = [prediction_row(), prediction_row(measure="XYZ"), prediction_row(OTHER_RAW_ID, probability=3)]
    response = api(analyst).post(BULK, {"predictions": rows})
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "The batch was rejected (2 of 3 rows invalid); nothing was written."
    assert body["extra"]["errors"] == [
        {"line": 2, "field": "measure", "message": "is not a member-level measure code"},
        {"line": 3, "field": "probability", "message": "must be between 0 and 1"},
        {"line": 3, "field": "member_id", "message": MEMBER_NOT_FOUND},
    ]
    assert body["extra"]["error_count"] == 3
    assert not Prediction.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        [prediction_row()],
        {"rows": [prediction_row()]},
        {"predictions": prediction_row()},
        {"predictions": "all of them"},
    ],
)
def test_bulk_body_must_be_an_object_with_a_list(api, analyst, member, body):
    response = api(analyst).post(BULK, body)
    assert response.status_code == 400
    assert response.json()["message"] == "Validation error"
    assert "predictions" in response.json()["extra"]["fields"]
    assert not Prediction.objects.exists()


def test_bulk_refuses_a_non_json_body(api, analyst, member):
    response = api(analyst).post(BULK, {"predictions": "x"}, format="multipart")
    assert response.status_code == 415


def test_bulk_over_the_maximum_answers_413_in_the_error_shape(settings, api, analyst, member):
    settings.PREDICTIONS_BULK_MAX_ROWS = 3
    rows = [prediction_row(model_version=f"v{n}") for n in range(4)]
    response = api(analyst).post(BULK, {"predictions": rows})
    assert response.status_code == 413
    assert response.json()["extra"] == {"received": 4, "max_rows": 3}
    assert "at most 3" in response.json()["message"]
    assert not Prediction.objects.exists()


def test_bulk_body_over_the_upload_limit_answers_413_before_parsing(settings, api, analyst, member):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    rows = [prediction_row(model_version=f"v{n}") for n in range(10)]
    response = api(analyst).post(BULK, {"predictions": rows})
    assert response.status_code == 413
    assert response.json()["extra"] == {"max_bytes": 1000}
    assert not Prediction.objects.exists()


def test_each_bulk_call_writes_one_audit_entry_naming_the_caller(api, analyst, administrator, contract):
    raw_ids = raw_member_ids(contract, 25)
    api(analyst).post(BULK, {"predictions": [prediction_row(raw) for raw in raw_ids]})
    api(administrator).post(BULK, {"predictions": [prediction_row(raw_ids[0], model_version="v9")]})
    entries = LogEntry.objects.filter(object_pk="batch").order_by("pk")
    assert [(e.actor, e.additional_data["batch"]["count"]) for e in entries] == [
        (analyst, 25),
        (administrator, 1),
    ]
    assert entries[0].action == LogEntry.Action.CREATE
    assert entries[0].remote_addr == "127.0.0.1"
    assert entries[0].additional_data["batch"]["channel"] == "api"
    assert "command_line" not in entries[0].additional_data
    # auditlog's per-row signals do not fire for the set-based write: one entry per call, not per row.
    assert LogEntry.objects.get_for_model(Prediction).count() == 2


def test_the_audit_entry_keeps_the_bodys_hash_size_and_row_count(api, analyst, contract):
    raw_ids = raw_member_ids(contract, 3)
    body = json.dumps({"predictions": [prediction_row(raw) for raw in raw_ids]}).encode()
    assert api(analyst).post(BULK, body, content_type="application/json").status_code == 200
    batch = LogEntry.objects.get(object_pk="batch").additional_data["batch"]
    assert (batch["channel"], batch["file"]) == (
        "api",
        {"sha256": hashlib.sha256(body).hexdigest(), "size_bytes": len(body), "rows": 3},
    )


def test_raw_member_ids_are_stored_nowhere_and_logged_nowhere(api, analyst, member, caplog):
    caplog.set_level(logging.DEBUG)
    client = api(analyst)
    accepted = client.post(BULK, {"predictions": [prediction_row()]})
    rejected = client.post(BULK, {"predictions": [prediction_row("RAW-NOT-ENROLLED-77")]})
    assert (accepted.status_code, rejected.status_code) == (200, 400)
    assert ApiRequestLog.objects.filter(route="api/predictions/bulk/").count() == 2
    for raw in [OWN_RAW_ID, "RAW-NOT-ENROLLED-77"]:
        assert raw not in caplog.text
        assert raw not in rejected.content.decode()
        assert database_text_contains(raw) == []


def test_bulk_query_count_does_not_grow_with_the_batch(api, analyst, contract):
    client = api(analyst)
    raw_ids = raw_member_ids(contract, 300)
    ContentType.objects.get_for_model(Prediction)
    ten = query_count(lambda: client.post(BULK, {"predictions": [prediction_row(r) for r in raw_ids[:10]]}))
    many = query_count(lambda: client.post(BULK, {"predictions": [prediction_row(r) for r in raw_ids]}))
    if connection.vendor == "postgresql":
        assert many == ten
    else:
        # SQLite: bulk_create's INSERT is split into statements of max_query_params // 10 rows.
        rows_per_insert = connection.features.max_query_params // 10
        assert many - ten == -(-300 // rows_per_insert) - 1


def test_list_query_count_does_not_grow_with_rows(api, care_manager, contract):
    client = api(care_manager)
    PredictionFactory.create_batch(3, member__contract=contract)
    few = query_count(lambda: client.get("/api/predictions/"))
    PredictionFactory.create_batch(30, member__contract=contract)
    assert query_count(lambda: client.get("/api/predictions/")) == few
    assert len(client.get("/api/predictions/").json()["results"]) == 33


@pytest.fixture
def scored(member, contract, other_member):
    """Four predictions of H1001 and one of H1002, varied in every filterable field."""
    second = MemberFactory(contract=contract)
    return {
        "low_bcs": PredictionFactory(member=member, probability=0.1, risk_tier="low"),
        "high_col": PredictionFactory(
            member=member, measure=measure("COL"), probability=0.9, risk_tier="high"
        ),
        "v2": PredictionFactory(member=member, model_version="v2", probability=0.5),
        "second_2025": PredictionFactory(member=second, measurement_year=2025, probability=0.6),
        "other": PredictionFactory(member=other_member),
    }


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("measure=COL", ["high_col"]),
        ("risk_tier=low", ["low_bcs"]),
        ("model_version=v2", ["v2"]),
        ("measurement_year=2025", ["second_2025"]),
        ("probability_min=0.55", ["high_col", "second_2025"]),
        ("probability_max=0.5", ["low_bcs", "v2"]),
        ("contract=H1001", ["high_col", "low_bcs", "second_2025", "v2"]),
        ("contract=H1002", []),
    ],
)
def test_filters(api, analyst, scored, query, expected):
    results = api(analyst).get(f"/api/predictions/?{query}").json()["results"]
    names = {p.pk: name for name, p in scored.items()}
    assert sorted(names[r["id"]] for r in results) == expected


def test_member_filter_takes_the_portal_member_id(api, analyst, scored, member):
    results = api(analyst).get(f"/api/predictions/?member={member.pk}").json()["results"]
    assert {r["member"] for r in results} == {member.pk}
    assert len(results) == 3


def test_ordering_by_probability_and_predicted_at(api, analyst, scored):
    client = api(analyst)
    by_probability = [
        r["probability"] for r in client.get("/api/predictions/?ordering=-probability").json()["results"]
    ]
    assert by_probability == [0.9, 0.6, 0.5, 0.1]
    by_time = [
        r["predicted_at"] for r in client.get("/api/predictions/?ordering=predicted_at").json()["results"]
    ]
    assert by_time == sorted(by_time)


def test_pages_over_tied_probabilities_walk_them_in_id_order(api, analyst, contract):
    """Every list ordering ends in the primary key (hedis_portal.filters.OrderingFilter), so cursor
    pages over equal values neither repeat nor skip a row."""
    tied = [PredictionFactory(member=MemberFactory(contract=contract), probability=0.5) for _ in range(7)]
    client = api(analyst)
    for ordering, expected in (
        ("-probability", sorted((p.pk for p in tied), reverse=True)),
        ("probability", sorted(p.pk for p in tied)),
    ):
        seen, path = [], f"/api/predictions/?ordering={ordering}&page_size=3"
        while path:
            body = client.get(path).json()
            seen += [row["id"] for row in body["results"]]
            path = body["next"] and body["next"].split("testserver", 1)[-1]
        assert seen == expected


def test_openapi_schema_documents_the_bulk_upsert(api, analyst):
    schema = api(analyst).get("/api/schema/?format=json").json()
    responses = schema["paths"]["/api/predictions/bulk/"]["post"]["responses"]
    assert {"200", "400", "413"} <= set(responses)
