"""The API reads its inputs strictly: what the schema does not allow is a 400 (or 404, 405, 413,
415) in the one error shape, never quietly ignored, coerced or answered with an HTML page."""

import pytest
from django.test import override_settings

from interventions.models import Intervention
from ratings.models import ContractMeasureScore, Measure
from tests.factories import CareGapFactory, InterventionFactory, InterventionTypeFactory, MemberFactory


def error_fields(response) -> dict:
    body = response.json()
    assert set(body) == {"message", "extra"}
    return body["extra"].get("fields", {})


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("mesure=BCS", "mesure"),  # a misspelt filter used to return every gap
        ("page_size=null", "page_size"),
        ("page_size=0", "page_size"),
        ("page_size=501", "page_size"),
        ("page_size=2.5", "page_size"),
        ("measurement_year=2026.5", "measurement_year"),
        ("unassigned=maybe", "unassigned"),
        ("unassigned=null&unassigned=null", "unassigned"),
        ("contract=H1001&contract=H1002", "contract"),
        ("risk_tier=", "risk_tier"),
        ("ordering=member", "ordering"),
    ],
)
def test_a_list_refuses_query_parameters_it_does_not_know_or_cannot_read(api, care_manager, query, parameter):
    response = api(care_manager).get(f"/api/gaps/?{query}")
    assert response.status_code == 400
    assert list(error_fields(response)) == [parameter]


@pytest.mark.django_db
def test_a_list_reads_the_parameters_it_documents(api, care_manager, contract):
    CareGapFactory(member=MemberFactory(contract=contract))
    query = "contract=H1001&measure=&unassigned=true&page_size=5&ordering=-priority_score,id&format=json"
    response = api(care_manager).get(f"/api/gaps/?{query}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


@pytest.mark.django_db
def test_an_unreadable_cursor_points_at_no_page(api, care_manager):
    response = api(care_manager).get("/api/gaps/?cursor=cD1hYmM%3D")  # base64("p=abc"): not a score
    assert response.status_code == 404
    assert response.json() == {"message": "Invalid cursor", "extra": {}}


@pytest.mark.django_db
def test_one_objects_route_ignores_the_lists_filters(api, care_manager, contract):
    gap = CareGapFactory(member=MemberFactory(contract=contract))
    assert api(care_manager).get(f"/api/gaps/{gap.pk}/?measure=COL").status_code == 200


@pytest.mark.django_db
def test_an_api_path_that_matches_no_route_answers_json(api, care_manager):
    response = api(care_manager).get("/api/gaps/0.5/")
    assert response.status_code == 404
    assert response.json() == {"message": "Not found.", "extra": {}}


@pytest.mark.django_db
@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1000)
@pytest.mark.parametrize("path", ["/api/gaps/bulk-assign/", "/api/contracts/", "/api/auth/login/"])
def test_an_oversized_body_is_413_in_the_error_shape_on_any_endpoint(api, care_manager, path):
    body = '{"gaps": [' + ",".join(["1"] * 600) + '], "assignee": null}'
    response = api(care_manager).generic("POST", path, body, content_type="application/json")
    assert response.status_code == 413
    assert response.json() == {
        "message": "The request body is larger than 1000 bytes.",
        "extra": {"max_bytes": 1000},
    }


@pytest.mark.django_db
def test_a_form_encoded_body_is_415(api, administrator):
    response = api(administrator).post("/api/intervention-types/", {"name": "Mailer"}, format="multipart")
    assert response.status_code == 415
    assert set(response.json()) == {"message", "extra"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [("note", 0), ("code", 1), ("gaps", ["1"]), ("gaps", [True])],
)
def test_a_json_value_of_the_wrong_type_is_refused_not_coerced(api, care_manager, contract, field, value):
    gap = CareGapFactory(member=MemberFactory(contract=contract))
    body = {"gaps": [gap.pk], "code": "patient-refused", "note": "", field: value}
    response = api(care_manager).post("/api/gaps/bulk-remark/", body)
    assert response.status_code == 400
    assert field in error_fields(response)
    assert not gap.remarks.exists()


@pytest.mark.django_db
def test_a_decimal_is_sent_as_a_string(api, administrator):
    client = api(administrator)
    number = client.post("/api/intervention-types/", {"name": "Mailer", "channel": "mail", "unit_cost": 2})
    assert number.status_code == 400
    assert "unit_cost" in error_fields(number)
    text = client.post("/api/intervention-types/", {"name": "Mailer", "channel": "mail", "unit_cost": "2.50"})
    assert text.status_code == 201


@pytest.mark.django_db
def test_an_id_in_the_body_that_names_nothing_is_404(api, care_manager, contract):
    gap = CareGapFactory(member=MemberFactory(contract=contract))
    response = api(care_manager).post("/api/gaps/bulk-assign/", {"gaps": [gap.pk], "assignee": 10**9})
    assert response.status_code == 404
    assert response.json()["extra"]["fields"]["assignee"] == [
        'Invalid pk "1000000000" - object does not exist.'
    ]


@pytest.mark.django_db
def test_a_put_is_not_offered_and_an_empty_patch_changes_nothing(api, analyst, administrator, contract):
    entry = ContractMeasureScore.objects.create(
        contract=contract,
        star_year=2026,
        measure=Measure.objects.filter(member_level=False).first(),
        score="80",
        entered_by=administrator,
    )
    client = api(analyst)
    assert client.put(f"/api/contract-measure-scores/{entry.pk}/", {}).status_code == 405
    response = client.patch(f"/api/contract-measure-scores/{entry.pk}/", {})
    assert response.status_code == 200
    entry.refresh_from_db()
    assert entry.entered_by == administrator
    assert response.json()["entered_by"] == "admin"


@pytest.mark.django_db
def test_bulk_proposals_are_capped_at_1000_gaps_before_anything_is_read(
    api, care_manager, contract, django_assert_max_num_queries
):
    visit = InterventionTypeFactory()
    client = api(care_manager)
    body = {"gaps": list(range(1, 40_001)), "intervention_type": visit.pk}
    # Authentication and permissions only: the 40,000 ids are never looked up.
    with django_assert_max_num_queries(6):
        response = client.post("/api/interventions/bulk/", body)
    assert response.status_code == 400
    assert error_fields(response)["gaps"] == ["Ensure this field has no more than 1000 elements."]
    assert not Intervention.objects.exists()


@pytest.mark.django_db
def test_outcomes_are_capped_at_1000_gaps(api, administrator, contract):
    intervention = InterventionFactory(member=MemberFactory(contract=contract), status="completed")
    outcomes = {str(gap_id): "closed" for gap_id in range(1, 40_001)}
    response = api(administrator).post(
        f"/api/interventions/{intervention.pk}/outcomes/", {"outcomes": outcomes}
    )
    assert response.status_code == 400
    assert error_fields(response)["outcomes"] == ["Give at most 1000 gap outcomes."]
