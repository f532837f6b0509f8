"""The ratings API: every endpoint by persona, scoping (404), writes, validation, query counts."""

from decimal import Decimal

import pytest
from auditlog.models import LogEntry

from hedis_portal import roles
from ratings.models import (
    CmsContract,
    CmsMeasureValue,
    ContractMeasureScore,
    ContractRatingProfile,
    CutPoint,
    Measure,
    PortfolioSnapshot,
)
from ratings.models import StarYearMeasure as Edition
from tests.conftest import finished_job, query_count
from tests.factories import CareGapFactory, MemberFactory, UserFactory

pytestmark = pytest.mark.django_db
PERSONAS = ["care_manager", "colleague", "analyst", "administrator", None]


@pytest.fixture
def other_analyst(other_contract):
    """An analyst assigned only to the other contract."""
    return UserFactory(username="other-analyst", role=roles.QUALITY_ANALYST, contracts=[other_contract])


def client_for(request, api, persona):
    return api(request.getfixturevalue(persona) if persona else None)


def edition(cms_id: str) -> Edition:
    return Edition.objects.get(star_year=2026, cms_id=cms_id)


@pytest.fixture
def score(contract, analyst):
    return ContractMeasureScore.objects.create(
        contract=contract,
        star_year=2028,
        measure=edition("C03").measure,
        score=Decimal(68),
        entered_by=analyst,
    )


@pytest.fixture
def snapshot(contract):
    return PortfolioSnapshot.objects.create(
        contract=contract, measurement_year=2026, star_year=2028, data={"overall": {"rating": 4.0}}
    )


# --- status codes by persona -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("care_manager", 200), ("colleague", 200), ("analyst", 200), ("administrator", 200), (None, 401)],
)
def test_catalog_and_cut_points_by_persona(request, api, small_2026, persona, expected):
    client = client_for(request, api, persona)
    bcs = Measure.objects.get(code="BCS")
    cut = CutPoint.objects.get(edition=edition("C01"))
    for url in [
        "/api/measures/",
        f"/api/measures/{bcs.pk}/",
        "/api/cut-points/",
        f"/api/cut-points/{cut.pk}/",
    ]:
        assert client.get(url).status_code == expected, url


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("care_manager", 403), ("colleague", 403), ("analyst", 200), ("administrator", 200), (None, 401)],
)
def test_national_benchmark_by_persona(request, api, small_2026, persona, expected):
    client = client_for(request, api, persona)
    h0001 = CmsContract.objects.get(star_year=2026, contract_id="H0001")
    value = CmsMeasureValue.objects.filter(contract=h0001).first()
    for url in [
        "/api/cms-contracts/",
        f"/api/cms-contracts/{h0001.pk}/",
        f"/api/cms-contracts/{h0001.pk}/rank/",
        "/api/benchmark/",
        f"/api/benchmark/{value.pk}/",
    ]:
        assert client.get(url).status_code == expected, url


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("care_manager", 200), ("colleague", 404), ("analyst", 200), ("administrator", 200), (None, 401)],
)
def test_live_rating_and_equity_by_persona(request, api, small_2026, persona, expected):
    client = client_for(request, api, persona)
    for url in [
        "/api/contracts/H1001/rating/?measurement_year=2026",
        "/api/contracts/H1001/equity/?measurement_year=2026",
    ]:
        assert client.get(url).status_code == expected, url


@pytest.mark.parametrize(
    ("persona", "read", "write"),
    [
        ("care_manager", 403, 403),
        ("colleague", 403, 403),
        ("analyst", 200, 201),
        ("administrator", 200, 201),
        ("other_analyst", 404, 404),
        (None, 401, 401),
    ],
)
def test_contract_measure_scores_by_persona(request, api, score, persona, read, write):
    client = client_for(request, api, persona)
    assert client.get(f"/api/contract-measure-scores/{score.pk}/").status_code == read
    created = client.post(
        "/api/contract-measure-scores/",
        {"contract": "H1001", "star_year": 2028, "measure": edition("C04").measure.pk, "score": "72"},
    )
    assert created.status_code == write
    list_status = 200 if persona == "other_analyst" else read
    assert client.get("/api/contract-measure-scores/").status_code == list_status


@pytest.mark.parametrize(
    ("persona", "read", "write"),
    [
        ("care_manager", 403, 403),
        ("colleague", 403, 403),
        ("analyst", 200, 201),
        ("administrator", 200, 201),
        ("other_analyst", 404, 404),
        (None, 401, 401),
    ],
)
def test_rating_profiles_by_persona(request, api, contract, persona, read, write):
    profile = ContractRatingProfile.objects.create(contract=contract, star_year=2027)
    client = client_for(request, api, persona)
    assert client.get(f"/api/rating-profiles/{profile.pk}/").status_code == read
    assert client.post("/api/rating-profiles/", {"contract": "H1001", "star_year": 2028}).status_code == write


@pytest.mark.parametrize(
    ("persona", "detail", "take", "trend"),
    [
        ("care_manager", 200, 403, 200),
        ("colleague", 404, 403, 404),
        ("analyst", 200, 202, 200),
        ("administrator", 200, 202, 200),
        ("other_analyst", 404, 404, 404),
        (None, 401, 401, 401),
    ],
)
def test_snapshots_by_persona(request, api, small_2026, snapshot, run_jobs, persona, detail, take, trend):
    client = client_for(request, api, persona)
    assert client.get("/api/snapshots/").status_code == (401 if persona is None else 200)
    assert client.get(f"/api/snapshots/{snapshot.pk}/").status_code == detail
    with run_jobs():
        taken = client.post("/api/snapshots/take/", {"contract": "H1001", "measurement_year": 2026})
    assert taken.status_code == take
    assert PortfolioSnapshot.objects.count() == (2 if take == 202 else 1)
    assert client.get("/api/snapshots/trend/?contract=H1001&measurement_year=2026").status_code == trend


# --- behaviour -------------------------------------------------------------------------------------


def test_measures_show_their_editions(api, care_manager):
    response = api(care_manager).get("/api/measures/?code=bcs").json()
    (bcs,) = response["results"]
    assert (bcs["part"], bcs["member_level"]) == ("C", True)
    assert bcs["editions"] == [
        {
            "star_year": 2025,
            "cms_id": "C01",
            "name": "Breast Cancer Screening",
            "weight": "1",
            "display_precision": 0,
            "improvement": False,
            "source": "methodology",
        },
        {
            "star_year": 2026,
            "cms_id": "C01",
            "name": "Breast Cancer Screening",
            "weight": "1",
            "display_precision": 0,
            "improvement": False,
            "source": "methodology",
        },
    ]


def test_cut_points_are_written_as_cms_writes_them(api, care_manager, small_2026):
    (c18,) = api(care_manager).get("/api/cut-points/?star_year=2026&code=PCR").json()["results"]
    assert (c18["cms_id"], c18["direction"], c18["org_type"]) == ("C18", "lower", "")
    assert c18["thresholds"] == [
        {"stars": 2, "value": "12", "inclusive": True},
        {"stars": 3, "value": "10", "inclusive": True},
        {"stars": 4, "value": "9", "inclusive": True},
        {"stars": 5, "value": "7", "inclusive": True},
    ]


def test_benchmark_values_keep_statuses(api, analyst, small_2026):
    rows = api(analyst).get("/api/benchmark/?contract=h0002&measure=C01").json()["results"]
    assert [(r["score"], r["score_status"], r["star"], r["star_status"]) for r in rows] == [
        (None, "Plan too small to be measured", None, "Plan too small to be measured")
    ]
    (row,) = api(analyst).get("/api/benchmark/?contract=H0001&code=PCR").json()["results"]
    assert (row["cms_id"], row["score"], row["star"]) == ("C18", "11", 2)


def test_a_contract_ranks_among_all_contracts(api, analyst, small_2026):
    h0001 = CmsContract.objects.get(star_year=2026, contract_id="H0001")
    ranks = {
        m["cms_id"]: m for m in api(analyst).get(f"/api/cms-contracts/{h0001.pk}/rank/").json()["measures"]
    }
    # C02: 69% against H0002's 75%: worse than one of two → (0 + ½) ÷ 2 = 25th percentile, rank 2.
    assert {k: ranks["C02"][k] for k in ("score", "percentile", "rank", "contracts")} == {
        "score": "69",
        "percentile": 25.0,
        "rank": 2,
        "contracts": 2,
    }
    # C18 (lower is better) and C01: the only contract with a score.
    assert (ranks["C18"]["rank"], ranks["C01"]["contracts"]) == (1, 1)
    only = api(analyst).get(f"/api/cms-contracts/{h0001.pk}/rank/?measure=c02").json()["measures"]
    assert [m["cms_id"] for m in only] == ["C02"]


def test_live_rating_shows_the_measures_and_intermediates(api, care_manager, small_2026, contract):
    for _ in range(4):
        CareGapFactory(
            member=MemberFactory(contract=contract),
            compliance_status="closed",
            evidence_date="2026-02-01",
            evidence_source="claims",
        )
    CareGapFactory(member=MemberFactory(contract=contract))
    body = api(care_manager).get("/api/contracts/h1001/rating/?measurement_year=2026").json()
    bcs = next(m for m in body["measures"] if m["measure"] == "BCS")
    assert (bcs["rate"], bcs["star"], bcs["members_to_next_cut_point"]) == (80.0, 4, 1)
    assert body["overall"]["status"] == "Not enough data available"
    assert set(body["overall"]) >= {"with_improvement", "without_improvement", "path", "minimum_required"}


def test_live_rating_needs_a_measurement_year(api, care_manager):
    response = api(care_manager).get("/api/contracts/H1001/rating/")
    assert response.status_code == 400
    assert "measurement_year" in response.json()["extra"]["fields"]


def test_contract_scores_are_validated_and_audited(api, analyst, contract):
    client = api(analyst)
    member_level = client.post(
        "/api/contract-measure-scores/",
        {
            "contract": "H1001",
            "star_year": 2028,
            "measure": Measure.objects.get(code="BCS").pk,
            "score": "70",
        },
    )
    assert member_level.status_code == 400
    assert "computed from care gaps" in member_level.json()["extra"]["fields"]["measure"][0]
    both = client.post(
        "/api/contract-measure-scores/",
        {
            "contract": "H1001",
            "star_year": 2028,
            "measure": edition("C03").measure.pk,
            "score": "70",
            "status": "x",
        },
    )
    assert both.status_code == 400
    created = client.post(
        "/api/contract-measure-scores/",
        {
            "contract": "H1001",
            "star_year": 2028,
            "measure": edition("C03").measure.pk,
            "status": "No data available",
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["score"], body["status"], body["entered_by"], body["measure_code"]) == (
        None,
        "No data available",
        "analyst",
        "ANNUAL-FLU-VACCINE",
    )
    entry = ContractMeasureScore.objects.get(pk=body["id"])
    assert LogEntry.objects.get_for_object(entry).get().actor == analyst
    changed = client.patch(f"/api/contract-measure-scores/{entry.pk}/", {"score": "71", "status": ""})
    assert changed.status_code == 200
    assert (changed.json()["score"], changed.json()["contract"], changed.json()["star_year"]) == (
        "71",
        "H1001",
        2028,
    )
    duplicate = client.post(
        "/api/contract-measure-scores/",
        {"contract": "H1001", "star_year": 2028, "measure": edition("C03").measure.pk, "score": "1"},
    )
    assert duplicate.status_code == 400


def test_rating_profile_categories_must_exist_in_the_cai_tables(api, analyst):
    client = api(analyst)
    wrong = client.post("/api/rating-profiles/", {"contract": "H1001", "star_year": 2028, "part_c_fac": 12})
    assert wrong.status_code == 400
    assert "1–8" in wrong.json()["extra"]["fields"]["part_c_fac"][0]
    created = client.post(
        "/api/rating-profiles/",
        {"contract": "H1001", "star_year": 2028, "part_c_fac": 8, "contract_type": "ccp_only_isnp"},
    )
    assert created.status_code == 201
    assert created.json()["updated_by"] == "analyst"


def _snapshot_taken(client, run_jobs) -> dict:
    """Take a snapshot of H1001 for MY2026; the job that took it, once it has run."""
    with run_jobs():
        started = client.post("/api/snapshots/take/", {"contract": "H1001", "measurement_year": 2026})
    return finished_job(client, started)


def test_take_snapshot_and_read_the_trend(api, analyst, small_2026, run_jobs):
    client = api(analyst)
    job = _snapshot_taken(client, run_jobs)
    assert (job["kind"], job["status"], job["progress"], job["error"]) == ("snapshot", "succeeded", 1.0, None)
    first = client.get(job["result"]["url"]).json()
    assert job["result"] == {
        "snapshot": first["id"],
        "url": f"/api/snapshots/{first['id']}/",
        "admin_url": f"/admin/ratings/portfoliosnapshot/{first['id']}/change/",
    }
    assert job["parameters"] == {"measurement_year": 2026}
    assert _snapshot_taken(client, run_jobs)["status"] == "succeeded"
    assert (first["contract"], first["star_year"], first["taken_by"]) == ("H1001", 2028, "analyst")
    assert first["data"]["cut_point_star_year"] == 2026
    trend = client.get("/api/snapshots/trend/?contract=H1001&measurement_year=2026").json()
    assert [point["id"] for point in trend] == [first["id"], trend[1]["id"]]
    assert trend[0]["overall_rating"] is None  # not enough rated measures yet
    listed = client.get("/api/snapshots/?contract=H1001").json()["results"]
    assert "data" not in listed[0] and listed[0]["id"] != first["id"]  # newest first


def test_snapshots_cannot_be_changed_or_deleted_through_the_api(api, administrator, snapshot):
    # No role holds a change or delete permission (403), and even a superuser finds no such route (405).
    superuser = UserFactory(username="root", is_superuser=True)
    for user, expected in ((administrator, 403), (superuser, 405)):
        client = api(user)
        assert client.put(f"/api/snapshots/{snapshot.pk}/", {}).status_code == expected
        assert client.patch(f"/api/snapshots/{snapshot.pk}/", {}).status_code == expected
        assert client.delete(f"/api/snapshots/{snapshot.pk}/").status_code == expected
    assert PortfolioSnapshot.objects.get(pk=snapshot.pk).data == {"overall": {"rating": 4.0}}


# --- constant query counts on list endpoints --------------------------------------------------------


def _grow(contract, analyst, n):
    """Add n rows to every listed table."""
    start = CmsContract.objects.count()
    for i in range(n):
        national = CmsContract.objects.create(
            star_year=2026, contract_id=f"H8{start + i:03d}", organization_type="Local CCP"
        )
        CmsMeasureValue.objects.create(contract=national, edition=edition("C01"), score=Decimal(70 + i % 20))
        PortfolioSnapshot.objects.create(
            contract=contract, measurement_year=2026, star_year=2028, taken_by=analyst, data={"overall": None}
        )
        ContractRatingProfile.objects.create(contract=contract, star_year=2030 + start + i)
        ContractMeasureScore.objects.create(
            contract=contract,
            star_year=2030 + start + i,
            measure=edition("C03").measure,
            score=1,
            entered_by=analyst,
        )
        measure = Measure.objects.create(
            code=f"X{start + i}", part="C", name="x", data_source="", direction="higher"
        )
        extra = Edition.objects.create(
            star_year=2026, measure=measure, cms_id=f"Z{start + i:02d}", name="x", source="data_tables"
        )
        CutPoint.objects.create(
            edition=extra, direction="higher", two_star=1, three_star=2, four_star=3, five_star=4
        )


@pytest.mark.parametrize(
    "url",
    [
        "/api/measures/",
        "/api/cut-points/",
        "/api/cms-contracts/",
        "/api/benchmark/",
        "/api/contract-measure-scores/",
        "/api/rating-profiles/",
        "/api/snapshots/",
        "/api/snapshots/trend/?contract=H1001&measurement_year=2026",
    ],
)
def test_list_query_count_is_constant_as_rows_grow(api, administrator, analyst, contract, small_2026, url):
    client = api(administrator)
    _grow(contract, analyst, 2)
    few = query_count(lambda: client.get(url))
    _grow(contract, analyst, 12)
    assert query_count(lambda: client.get(url)) == few
