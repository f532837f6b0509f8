"""Shared fixtures: fast settings and the personas every endpoint is tried by."""

import functools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from knox.models import AuthToken
from rest_framework.test import APIClient

from hedis_portal import request_log, roles
from tests.factories import ContractFactory, UserFactory


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Each phase's report on the test item (`item.rep_call`), so a browser fixture knows it failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.MEMBER_ID_HASH_KEY = "test-member-id-hash-key-0123456789abcdef"
    # Write every API log entry at once, so tests see them without waiting for a batch.
    settings.API_LOG_FLUSH_SIZE = 1
    # A job runs in the test's own process once its transaction commits (see `run_jobs`).
    settings.TASKS = {"default": {"BACKEND": settings.TASK_BACKENDS["immediate"]}}


@pytest.fixture(autouse=True)
def _empty_request_log_buffer():
    yield
    request_log.flush()


@pytest.fixture
def contract(db):
    """The care manager's contract."""
    return ContractFactory(contract_id="H1001")


@pytest.fixture
def other_contract(db):
    """A contract the care manager is not assigned to."""
    return ContractFactory(contract_id="H1002")


@pytest.fixture
def care_manager(contract):
    return UserFactory(username="cm", role=roles.CARE_MANAGER, contracts=[contract])


@pytest.fixture
def colleague(other_contract):
    """A care manager on the other contract."""
    return UserFactory(username="colleague", role=roles.CARE_MANAGER, contracts=[other_contract])


@pytest.fixture
def analyst(contract):
    return UserFactory(username="analyst", role=roles.QUALITY_ANALYST, contracts=[contract])


@pytest.fixture
def administrator(contract, other_contract):
    return UserFactory(username="admin", role=roles.ADMINISTRATOR, contracts=[contract, other_contract])


def token_client(user) -> APIClient:
    """An API client authenticated the way front-ends are: with a knox token."""
    client = APIClient()
    if user is not None:
        _, token = AuthToken.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def api():
    """`api(user)` → a token-authenticated client; `api(None)` → anonymous."""
    return token_client


def query_count(action) -> int:
    """Number of database queries `action()` performs."""
    with CaptureQueriesContext(connection) as queries:
        action()
    return len(queries.captured_queries)


@pytest.fixture
def run_jobs(django_capture_on_commit_callbacks):
    """`with run_jobs(): response = client.post(...)`: the jobs started inside run when it ends.

    The test's transaction never commits, so the commit that would enqueue a job is captured
    and its callbacks run here, through the immediate task backend of the test settings.
    """
    return functools.partial(django_capture_on_commit_callbacks, execute=True)


def finished_job(client, started) -> dict:
    """The job a 202 started, as its `Location` shows it once it has run."""
    assert started.status_code == 202, started.json()
    job = client.get(started["Location"])
    assert job.status_code == 200, job.json()
    return job.json()
