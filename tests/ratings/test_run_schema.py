"""The OpenAPI schema documents a stored run's parameters, inputs and result as objects, with examples
of each kind that have the shape the API really answers with."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from ratings.api.runs import RUN_EXAMPLES
from tests.ratings.test_planning import _forecast, _optimize, _succeeded, planned  # noqa: F401

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    """The API's OpenAPI document, validated against the OpenAPI specification."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(document)
    return document


def _retrieve_examples(schema, path: str) -> dict[str, dict]:
    """A retrieve operation's response examples, by title."""
    content = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    return {example["summary"]: example["value"] for example in content["examples"].values()}


def test_a_runs_parameters_inputs_and_result_are_objects_with_examples(schema):
    properties = schema["components"]["schemas"]["PortfolioRun"]["properties"]
    for part in ("parameters", "inputs", "result"):
        assert properties[part]["type"] == "object"
        assert properties[part]["readOnly"] is True
        assert properties[part]["example"] == RUN_EXAMPLES["optimize"][part]
    assert "`intervention_types`" in properties["parameters"]["description"]
    assert "`budget_left` (`unspent`" in properties["result"]["description"]


def test_each_run_endpoint_shows_an_example_of_each_kind_it_answers_with(schema):
    forecasts = _retrieve_examples(schema, "/api/forecasts/{id}/")
    optimizer_runs = _retrieve_examples(schema, "/api/optimizer/runs/{id}/")
    assert {title: run["kind"] for title, run in forecasts.items()} == {
        "A forecast": "forecast",
        "A what-if scenario": "what_if",
    }
    assert {title: run["kind"] for title, run in optimizer_runs.items()} == {"An optimizer run": "optimize"}
    plan = optimizer_runs["An optimizer run"]
    assert plan["parameters"]["intervention_types"] == [
        {
            "id": 1,
            "name": "Mobile mammography",
            "unit_cost": "100.00",
            "capacity": None,
            "uplifts": {"BCS": 0.6},
        }
    ]
    assert plan["result"]["budget_left"]["unspent"] == 2300.0
    assert plan["result"]["marginal_value"]["budget_step"] == 10_000.0


def test_the_optimizer_request_documents_a_name_and_the_runs_own_intervention_figures(schema):
    request = schema["components"]["schemas"]["OptimizerRequestRequest"]["properties"]
    assert request["name"]["type"] == "string"
    assert request["intervention_types"]["items"] == {
        "$ref": "#/components/schemas/RunInterventionTypeRequest"
    }
    figures = schema["components"]["schemas"]["RunInterventionTypeRequest"]
    assert set(figures["required"]) == {"id", "unit_cost", "capacity", "uplifts"}
    assert figures["properties"]["capacity"]["nullable"] is True


def test_the_examples_have_the_shape_of_real_runs(api, analyst, planned, run_jobs):  # noqa: F811
    client = api(analyst)
    real = {
        "forecast": _succeeded(client, _forecast(client, run_jobs))[1],
        "what_if": _succeeded(
            client, _forecast(client, run_jobs, name="BCS to 80%", assumptions={"BCS": {"target_rate": "80"}})
        )[1],
        "optimize": _succeeded(client, _optimize(client, run_jobs, budget="5000"))[1],
    }
    for kind, run in real.items():
        example = RUN_EXAMPLES[kind]
        assert set(example) == set(run)
        for part in ("parameters", "inputs", "result"):
            assert set(example[part]) == set(run[part]), (kind, part)
        assert set(example["result"]["measures"][0]) == set(run["result"]["measures"][0])
    assert set(RUN_EXAMPLES["optimize"]["result"]["interventions"][0]) == set(
        real["optimize"]["result"]["interventions"][0]
    )
    # The $5,000 example's figures are this contract's: 27 vans, and 5 stars out of reach.
    assert real["optimize"]["result"]["budget_left"] == RUN_EXAMPLES["optimize"]["result"]["budget_left"]
    assert (
        real["optimize"]["result"]["total_cost"] == RUN_EXAMPLES["optimize"]["result"]["total_cost"] == 2700.0
    )
