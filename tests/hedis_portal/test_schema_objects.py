"""The schema documents JSON results as objects with their keys, types and a real example, and the
endpoints answer in that shape: each real answer validates against its schema and has no key the
schema does not document."""

from decimal import Decimal

import jsonschema
import pytest
from drf_spectacular.generators import SchemaGenerator

from hedis_portal import roles
from hedis_portal.job_registry import job_kinds
from interventions.services import intervention_type_create
from members.models import Contract
from ratings.models import ContractMeasureScore, StarYearMeasure
from tests.conftest import finished_job
from tests.factories import ContractFactory, MemberFactory, UserFactory, measure
from tests.ratings.conftest import national_2026  # noqa: F401 (fixture)
from tests.ratings.test_live import FOUR_STAR_SCORES, add_gaps

RATING = "/api/contracts/{contract_id}/rating/"
EQUITY = "/api/contracts/{contract_id}/equity/"


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _resolved(node, components: dict):
    """`node` with every `$ref` replaced by its component."""
    if isinstance(node, dict):
        if "$ref" in node:
            return _resolved(components[node["$ref"].rsplit("/", 1)[-1]], components)
        return {key: _resolved(value, components) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolved(item, components) for item in node]
    return node


def _unwrapped(node: dict) -> dict:
    """A property's own schema: drf-spectacular wraps a `$ref` with readOnly or nullable in `allOf`."""
    return node["allOf"][0] if "allOf" in node else node


def _json_schema(node):
    """An OpenAPI 3.0 schema (resolved) as JSON Schema: `nullable` admits null; examples dropped."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {
        key: _json_schema(value) for key, value in node.items() if key not in ("nullable", "example")
    }
    return {"anyOf": [converted, {"type": "null"}]} if node.get("nullable") else converted


def _problems(value, node: dict, path: str = "") -> list[str]:
    """Where `value` breaks its (resolved) schema, and each key it has that the schema does not document."""
    found = [
        f"{path}/{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in jsonschema.Draft7Validator(_json_schema(node)).iter_errors(value)
    ]
    return found + _undocumented(value, node, path)


def _undocumented(value, node: dict, path: str) -> list[str]:
    node = _unwrapped(node)
    if isinstance(value, list) and "items" in node:
        return [key for index, item in enumerate(value) for key in _undocumented(item, node["items"], path)]
    if not isinstance(value, dict):
        return []
    if "properties" not in node:
        return [] if "additionalProperties" in node else [f"{path}: no documented keys"]
    found = []
    for key, item in value.items():
        if key not in node["properties"]:
            found.append(f"{path}/{key}")
        else:
            found += _undocumented(item, node["properties"][key], f"{path}/{key}")
    return found


def _component(schema: dict, name: str) -> dict:
    components = schema["components"]["schemas"]
    return _resolved(components[name], components)


def _property(schema: dict, component: str, name: str) -> dict:
    return _unwrapped(_component(schema, component)["properties"][name])


def _answer(schema: dict, path: str) -> dict:
    components = schema["components"]["schemas"]
    content = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    return _resolved(content["schema"], components)


@pytest.mark.parametrize(
    ("where", "documented"),
    [
        (("Job", "parameters"), {"measurement_year", "draws", "seed", "assumptions", "budget", "files"}),
        (("Job", "result"), {"url", "admin_url", "portfolio_run", "snapshot", "gaps_created", "received"}),
        (("PortfolioSnapshot", "data"), {"contract", "measures", "overall", "profile", "projection", "plan"}),
        (RATING, {"contract", "star_year", "measures", "part_c", "part_d", "overall", "notes"}),
        (EQUITY, {"contract", "star_year", "reward_method", "notes", "measures"}),
    ],
)
def test_each_json_result_is_an_object_with_typed_keys_and_a_real_example(schema, where, documented):
    node = _answer(schema, where) if isinstance(where, str) else _property(schema, *where)
    assert node["type"] == "object"
    assert documented <= set(node["properties"])
    untyped = [key for key, item in node["properties"].items() if not {"type", "allOf", "anyOf"} & set(item)]
    assert untyped == []
    assert node["example"]
    assert _problems(node["example"], node) == []


def test_the_rating_documents_its_ratings_and_measures_key_by_key(schema):
    rating = _answer(schema, RATING)
    overall = _unwrapped(rating["properties"]["overall"])
    assert rating["properties"]["overall"]["nullable"] is True
    assert overall["properties"]["rating"] == {
        "type": "number",
        "format": "double",
        "nullable": True,
        "description": "Stars, in half stars; null when not rated.",
    }
    calculation = _unwrapped(overall["properties"]["with_improvement"])
    assert {"weighted_mean", "reward_factor", "cai", "value_before_rounding"} <= set(
        calculation["properties"]
    )
    measure = rating["properties"]["measures"]["items"]
    assert measure["properties"]["members_to_next_cut_point"]["type"] == "integer"
    assert "strata" not in measure["required"]
    example_measures = {item["measure"]: item for item in rating["example"]["measures"]}
    assert set(example_measures) == {"BCS", "ANNUAL-FLU-VACCINE"}
    assert example_measures["BCS"]["strata"]["lis_de_gap"] == -9.2294


def test_the_keyed_maps_and_lists_are_documented_with_examples(schema):
    disaster = _property(schema, "CmsContract", "disaster_percent")
    assert disaster["type"] == "object"
    assert disaster["additionalProperties"] == {"type": "string", "nullable": True}
    assert _problems(disaster["example"], disaster) == []
    features = _property(schema, "Prediction", "top_features")
    assert (features["type"], features["maxItems"]) == ("array", 20)
    assert features["example"] == ["prior_year_compliance", "pcp_visits_ytd", "months_enrolled"]
    assumptions = _property(schema, "Job", "parameters")["properties"]["assumptions"]
    assert assumptions["type"] == "object"
    assert set(assumptions["additionalProperties"]["properties"]) == {
        "extra_closures",
        "target_rate",
        "star",
        "score",
    }


def test_a_job_has_a_real_example_of_every_kind(schema):
    job = _component(schema, "Job")
    content = schema["paths"]["/api/jobs/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]
    examples = {example["value"]["kind"] for example in content["examples"].values()}
    assert examples == set(job_kinds())
    assert [
        (name, problem)
        for name, example in content["examples"].items()
        for problem in _problems(example["value"], job)
    ] == []


# --- what the endpoints answer ---------------------------------------------------------------------


@pytest.fixture
def rated(db, national_2026):  # noqa: F811 (fixture)
    """An MA-only contract scored from gaps on BCS and COL (some members LIS/DE) and entered scores on
    the other Part C measures, and an analyst of it."""
    contract = ContractFactory(
        contract_id="H3001",
        organization_type=Contract.OrganizationType.MA_ONLY,
        lis_de_percent=Decimal(10),
        disability_percent=Decimal(10),
    )
    analyst = UserFactory(username="analyst-h3001", role=roles.QUALITY_ANALYST, contracts=[contract])
    add_gaps(contract, "BCS", closed=6, open=2)
    add_gaps(contract, "BCS", closed=1, open=1, lis_de=True, disability=True)
    add_gaps(contract, "COL", closed=7, open=3, excluded=1)
    for cms_id, score in FOUR_STAR_SCORES.items():
        ContractMeasureScore.objects.create(
            contract=contract,
            star_year=2028,
            measure=StarYearMeasure.objects.get(star_year=2026, cms_id=cms_id).measure,
            score=Decimal(score),
            entered_by=analyst,
        )
    return contract, analyst


def _keys_by_source(measures: list[dict]) -> dict:
    return {item["source"]: set(item) for item in measures}


def test_the_live_rating_and_equity_answer_in_their_documented_shape(schema, api, rated):
    contract, analyst = rated
    client = api(analyst)
    rating = client.get(f"/api/contracts/{contract.contract_id}/rating/?measurement_year=2026").json()
    documented = _answer(schema, RATING)
    assert _problems(rating, documented) == []
    assert rating["part_c"]["rating"] is not None
    assert set(rating) == set(documented["example"])
    assert set(rating["part_c"]) == set(documented["example"]["part_c"])
    # A gap-scored measure (with strata) and an entered score have the keys the example shows.
    shown = _keys_by_source(documented["example"]["measures"])
    assert {key: keys for key, keys in _keys_by_source(rating["measures"]).items() if key in shown} == shown

    equity = client.get(f"/api/contracts/{contract.contract_id}/equity/?measurement_year=2026").json()
    documented = _answer(schema, EQUITY)
    assert _problems(equity, documented) == []
    assert [item["measure"] for item in equity["measures"]] == ["BCS", "COL"]
    assert {frozenset(item) for item in equity["measures"]} == {
        frozenset(item) for item in documented["example"]["measures"]
    }


def test_a_snapshot_job_and_the_snapshot_answer_in_their_documented_shape(schema, api, rated, run_jobs):
    contract, analyst = rated
    client = api(analyst)
    with run_jobs():
        forecast = client.post(
            "/api/forecasts/",
            {"contract": contract.contract_id, "measurement_year": 2026, "draws": 100},
            format="json",
        )
    assert finished_job(client, forecast)["status"] == "succeeded"
    with run_jobs():
        started = client.post(
            "/api/snapshots/take/",
            {"contract": contract.contract_id, "measurement_year": 2026},
            format="json",
        )
    job = finished_job(client, started)
    assert _problems(job, _component(schema, "Job")) == []
    content = schema["paths"]["/api/jobs/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]
    example = next(
        item["value"] for item in content["examples"].values() if item["value"]["kind"] == "snapshot"
    )
    assert (set(job["parameters"]), set(job["result"])) == (
        set(example["parameters"]),
        set(example["result"]),
    )

    snapshot = client.get(job["result"]["url"]).json()
    documented = _component(schema, "PortfolioSnapshot")
    assert _problems(snapshot, documented) == []
    example = _unwrapped(documented["properties"]["data"])["example"]
    assert set(snapshot["data"]) == set(example)
    assert set(snapshot["data"]["projection"]) == set(example["projection"])
    assert snapshot["data"]["plan"] is None


def test_a_what_if_job_answers_in_its_documented_shape(schema, api, rated, run_jobs):
    contract, analyst = rated
    client = api(analyst)
    with run_jobs():
        started = client.post(
            "/api/forecasts/",
            {
                "contract": contract.contract_id,
                "measurement_year": 2026,
                "draws": 100,
                "name": "BCS outreach",
                "assumptions": {"BCS": {"extra_closures": 1}},
            },
            format="json",
        )
    job = finished_job(client, started)
    assert job["status"] == "succeeded"
    assert _problems(job, _component(schema, "Job")) == []
    content = schema["paths"]["/api/jobs/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]
    example = content["examples"]["What-if"]["value"]
    assert (set(job["parameters"]), set(job["result"])) == (
        set(example["parameters"]),
        set(example["result"]),
    )
    assert job["parameters"]["assumptions"] == {"C01": {"extra_closures": 1}}


def test_an_optimizer_job_answers_in_its_documented_shape(schema, api, rated, run_jobs):
    contract, analyst = rated
    intervention_type_create(
        name="Mobile mammography", channel="provider", unit_cost=Decimal(100), uplifts={measure("BCS"): 0.6}
    )
    client = api(analyst)
    with run_jobs():
        started = client.post(
            "/api/optimizer/runs/",
            {
                "contract": contract.contract_id,
                "measurement_year": 2026,
                "budget": "300",
                "draws": 100,
                "name": "Vans",
            },
            format="json",
        )
    job = finished_job(client, started)
    assert job["status"] == "succeeded"
    assert _problems(job, _component(schema, "Job")) == []
    content = schema["paths"]["/api/jobs/{id}/"]["get"]["responses"]["200"]["content"]["application/json"]
    example = next(
        item["value"] for item in content["examples"].values() if item["value"]["kind"] == "optimize"
    )
    assert (set(job["parameters"]), set(job["result"])) == (
        set(example["parameters"]),
        set(example["result"]),
    )
    assert [set(each) for each in job["parameters"]["intervention_types"]] == [
        set(example["parameters"]["intervention_types"][0])
    ]


def test_cms_contracts_and_predictions_answer_in_their_documented_shape(schema, api, rated):
    contract, analyst = rated
    client = api(analyst)
    cms_contracts = client.get("/api/cms-contracts/?star_year=2026").json()["results"]
    documented = _component(schema, "CmsContract")
    assert [problem for item in cms_contracts for problem in _problems(item, documented)] == []
    percents = [item["disaster_percent"] for item in cms_contracts if item["disaster_percent"]]
    assert percents and {frozenset(percent) for percent in percents} == {frozenset({"2023", "2024"})}

    MemberFactory(contract=contract, raw_member_id="SCHEMA-0001")
    features = ["prior_year_compliance", "pcp_visits_ytd"]
    row = {
        "member_id": "SCHEMA-0001",
        "measure": "BCS",
        "measurement_year": 2026,
        "model_version": "schema-1",
        "probability": 0.6,
        "risk_tier": "medium",
        "top_features": features,
        "predicted_at": "2026-03-31T06:00:00+00:00",
    }
    assert client.post("/api/predictions/bulk/", {"predictions": [row]}, format="json").status_code == 200
    predictions = client.get("/api/predictions/").json()["results"]
    documented = _component(schema, "Prediction")
    assert [problem for item in predictions for problem in _problems(item, documented)] == []
    assert [item["top_features"] for item in predictions] == [features]
