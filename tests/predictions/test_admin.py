"""The predictions admin: read-only, scoped to the user's contracts, constant queries."""

import pytest
from auditlog.models import LogEntry

from predictions.models import Prediction
from tests.conftest import query_count
from tests.factories import PredictionFactory, UserFactory, measure

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/predictions/prediction/"


@pytest.fixture
def prediction(contract):
    return PredictionFactory(member__contract=contract)


@pytest.fixture
def other_prediction(other_contract):
    return PredictionFactory(member__contract=other_contract)


def test_changelist_shows_only_the_users_contracts(client, care_manager, prediction, other_prediction):
    client.force_login(care_manager)
    response = client.get(CHANGELIST)
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [prediction]


def test_the_list_shows_the_newest_loaded_first(client, care_manager, contract):
    # Loaded in turn, each predicted a day before the one loaded before it.
    loaded = [
        PredictionFactory(member__contract=contract, predicted_at=f"2026-06-{day:02d}T00:00Z")
        for day in (20, 19, 18)
    ]
    client.force_login(care_manager)
    shown = list(client.get(CHANGELIST).context["cl"].result_list)
    assert shown == sorted(loaded, key=lambda prediction: prediction.pk, reverse=True)


def test_administrator_sees_both_contracts(client, administrator, prediction, other_prediction):
    client.force_login(administrator)
    assert set(client.get(CHANGELIST).context["cl"].result_list) == {prediction, other_prediction}


def test_other_contracts_prediction_page_is_absent(client, care_manager, other_prediction):
    client.force_login(care_manager)
    response = client.get(f"{CHANGELIST}{other_prediction.pk}/change/")
    assert response.status_code == 302
    assert response.url == "/admin/"


def test_prediction_page_is_read_only_and_its_read_is_audited(client, care_manager, prediction):
    client.force_login(care_manager)
    response = client.get(f"{CHANGELIST}{prediction.pk}/change/")
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    entry = LogEntry.objects.get(action=LogEntry.Action.ACCESS)
    assert (entry.actor, entry.object_pk) == (care_manager, str(prediction.pk))


@pytest.mark.parametrize("persona", ["care_manager", "administrator", "superuser"])
def test_nobody_adds_changes_or_deletes_predictions_in_the_admin(request, client, prediction, persona):
    user = UserFactory(is_superuser=True) if persona == "superuser" else request.getfixturevalue(persona)
    client.force_login(user)
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    assert client.post(f"{CHANGELIST}{prediction.pk}/change/", {"probability": 0.99}).status_code == 403
    assert client.post(f"{CHANGELIST}{prediction.pk}/delete/", {"post": "yes"}).status_code == 403
    prediction.refresh_from_db()
    assert prediction.probability == 0.4


def test_filters_offer_visible_contracts_and_member_level_measures_only(client, care_manager, prediction):
    client.force_login(care_manager)
    filters = {spec.title: spec for spec in client.get(CHANGELIST).context["cl"].filter_specs}
    assert [label for _, label in filters["contract"].lookup_choices] == ["H1001"]
    measure_codes = {label.split(" – ")[0] for _, label in filters["measure"].lookup_choices}
    assert "BCS" in measure_codes
    assert "CUSTOMER-SERVICE" not in measure_codes


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("risk_tier=high", ["high"]),
        ("measure=COL", ["col"]),
        ("measurement_year=2025", []),
    ],
)
def test_list_filters_narrow_the_list(client, care_manager, contract, query, expected):
    rows = {
        "high": PredictionFactory(member__contract=contract, risk_tier="high"),
        "col": PredictionFactory(member__contract=contract, measure=measure("COL")),
    }
    client.force_login(care_manager)
    response = client.get(f"{CHANGELIST}?{query.format(col=measure('COL').pk)}")
    names = {p.pk: name for name, p in rows.items()}
    assert sorted(names[p.pk] for p in response.context["cl"].result_list) == expected


def test_changelist_query_count_does_not_grow_with_rows(client, care_manager, contract):
    client.force_login(care_manager)
    PredictionFactory.create_batch(3, member__contract=contract)
    few = query_count(lambda: client.get(CHANGELIST))
    PredictionFactory.create_batch(40, member__contract=contract, model_version="other-model")
    assert query_count(lambda: client.get(CHANGELIST)) == few
    assert Prediction.objects.count() == 43
