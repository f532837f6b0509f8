"""The API keeps its own contract: Schemathesis over every operation of the OpenAPI schema.

Cases are generated from the schema the portal serves (examples, coverage and fuzzing phases,
valid and invalid data) and sent in-process to the WSGI application as an administrator of
two contracts with a small plan's data; then the stateful phase chains operations along the
links Schemathesis infers (create, then read, change and act on what was created). Every check
is on (bar one, on three operations, see CONFIG), and the run must report no failure of any kind.
About 4,400 requests: a minute on SQLite, under two on PostgreSQL.
"""

import json

import pytest
import schemathesis
from django.core import signals
from django.core.cache import cache
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from knox.models import AuthToken

from hedis_portal import roles
from hedis_portal.wsgi import application
from interventions.models import InterventionGap
from ratings.models import ContractMeasureScore, ContractRatingProfile, Measure
from tests.factories import (
    CareGapFactory,
    ContractFactory,
    InterventionFactory,
    InterventionTypeFactory,
    MemberFactory,
    PredictionFactory,
    UserFactory,
    measure,
)
from tests.ratings.conftest import SMALL_2026, imported_for_scope, write_set

# Bounded so that the whole run takes a few minutes on two cores.
MAX_EXAMPLES = 50
STATEFUL_SCENARIOS = 200
STATEFUL_STEPS = 6

HYPOTHESIS_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 2026,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            # The API refuses NUL characters in text (400); the schema does not spell that out.
            "allow-x00": False,
        },
        "checks": {"enabled": True},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": STATEFUL_STEPS},
        },
        # Where validity depends on stored data the schema cannot state, a schema-valid request
        # can be refused (400) by design: the two data feeds (a CSV file's content; prediction
        # rows naming plan members by raw ID, every bad row listed) and rating profiles (the
        # final adjustment categories a star year's CMS methodology defines for each rating).
        # Every other check still runs on them, and every check on every other operation.
        "operations": [
            {
                "include-path": ["/api/gaps/import/", "/api/predictions/bulk/"],
                "include-method": "POST",
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
            {
                "include-path-regex": "^/api/rating-profiles/",
                "include-method": ["POST", "PATCH"],
                "checks": {"positive_data_acceptance": {"enabled": False}},
            },
        ],
    }
)


def _served_schema():
    """The OpenAPI document as `/api/schema/` serves it, built without a request, calling the WSGI app."""
    document = SchemaGenerator().get_schema(request=None, public=True)
    served = json.loads(OpenApiJsonRenderer().render(document, renderer_context={}))
    loaded = schemathesis.openapi.from_dict(served, config=CONFIG)
    loaded.app = application
    return loaded


schema = _served_schema()


@pytest.fixture(scope="module")
def national_benchmark(django_db_setup, django_db_blocker, tmp_path_factory):
    """A small 2026 national benchmark (two CMS contracts, three measures, cut points)."""
    paths = write_set(tmp_path_factory.mktemp("schemathesis-2026"), SMALL_2026)
    yield from imported_for_scope(django_db_blocker, 2026, paths)


@pytest.fixture
def plan(national_benchmark, db):
    """Two contracts with members, gaps, predictions, interventions and rating inputs; an administrator."""
    h1001 = ContractFactory(contract_id="H1001")
    h1002 = ContractFactory(contract_id="H1002")
    administrator = UserFactory(username="admin", role=roles.ADMINISTRATOR, contracts=[h1001, h1002])
    UserFactory(username="cm", role=roles.CARE_MANAGER, contracts=[h1001])
    call = InterventionTypeFactory(name="Outreach call")
    call.uplifts.create(measure=measure("BCS"), uplift=0.1)
    for contract in (h1001, h1002):
        for n in range(3):
            member = MemberFactory(contract=contract)
            gaps = [CareGapFactory(member=member, measure=measure(code)) for code in ("BCS", "COL")]
            CareGapFactory(
                member=member,
                measure=measure("CBP"),
                compliance_status="closed",
                evidence_date="2026-03-01",
                evidence_source="claims",
            )
            PredictionFactory(member=member)
            if n == 0:
                intervention = InterventionFactory(member=member, intervention_type=call)
                InterventionGap.objects.create(intervention=intervention, gap=gaps[0])
        ContractMeasureScore.objects.create(
            contract=contract,
            star_year=2026,
            measure=Measure.objects.filter(member_level=False).first(),
            score="80",
            entered_by=administrator,
        )
        ContractRatingProfile.objects.create(contract=contract, star_year=2026, updated_by=administrator)
    return administrator


# The user whose token every call carries: the current test's administrator.
_signed_in: dict[str, object] = {}


@schemathesis.auth(refresh_interval=None)
class AdministratorToken:
    """A fresh knox token of the plan's administrator for every call (a logout revokes the one it used)."""

    def get(self, case, context):
        if "user" not in _signed_in:  # Schemathesis asks once while collecting the tests
            return None
        _, token = AuthToken.objects.create(user=_signed_in["user"])
        return token

    def set(self, case, data, context):
        if data is not None:
            case.headers = {**(case.headers or {}), "Authorization": f"Token {data}"}


@pytest.fixture
def signed_in(plan):
    """Every call carries a token of the plan's administrator, and runs in the test's transaction.

    The WSGI handler closes a connection that is not in autocommit at the start and end of each
    request; the test client turns that off, and so must a test that calls the application itself.
    """
    _signed_in["user"] = plan
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield plan
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)
    _signed_in.clear()
    # Login attempts are throttled in the cache; leave no count behind for later tests.
    cache.clear()


@schema.parametrize()
@HYPOTHESIS_SETTINGS
def test_every_operation_conforms_to_the_schema(case, signed_in):
    case.call_and_validate()


class PortalStateMachine(schema.as_state_machine()):
    """Each scenario starts from the plan as the fixture built it: its writes are rolled back, and
    the throttle counts (in the cache) are cleared, so that a scenario replays the same way."""

    def setup(self):
        cache.clear()
        self._savepoint = transaction.savepoint()

    def teardown(self):
        transaction.savepoint_rollback(self._savepoint)


def test_stateful_sequences_conform_to_the_schema(signed_in):
    PortalStateMachine.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
    )
