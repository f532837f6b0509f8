"""Updates of contract-level scores and rating profiles: what each may change, and who is stamped."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ratings.live import services
from ratings.models import ContractMeasureScore, ContractRatingProfile, Measure
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def score(contract, analyst):
    return services.contract_measure_score_create(
        contract=contract,
        star_year=2028,
        measure=Measure.objects.get(code="ANNUAL-FLU-VACCINE"),
        score=Decimal(68),
        entered_by=analyst,
    )


@pytest.fixture
def profile(contract, analyst):
    return services.contract_rating_profile_create(
        contract=contract, star_year=2028, updated_by=analyst, contract_type="ccp_only_isnp"
    )


@pytest.fixture
def colleague_analyst(contract):
    return UserFactory(username="analyst2", contracts=[contract])


def test_a_score_may_change_its_figure_status_and_note_not_its_key():
    assert services.CONTRACT_MEASURE_SCORE_UPDATE_FIELDS == ("score", "status", "note")


def test_a_rating_profile_may_change_its_categories_not_its_key():
    assert services.CONTRACT_RATING_PROFILE_UPDATE_FIELDS == (
        "contract_type",
        "part_c_fac",
        "part_d_fac",
        "overall_fac",
        "puerto_rico_only",
    )


@pytest.mark.parametrize("name", ["contract", "star_year", "measure", "entered_by"])
def test_a_scores_key_and_author_are_refused(score, colleague_analyst, name):
    with pytest.raises(TypeError, match=name):
        services.contract_measure_score_update(entry=score, entered_by=colleague_analyst, **{name: None})
    assert ContractMeasureScore.objects.get(pk=score.pk).star_year == 2028


def test_a_score_change_is_stamped_with_its_author_and_time(score, analyst, colleague_analyst):
    entered_at = score.entered_at
    with CaptureQueriesContext(connection) as queries:
        services.contract_measure_score_update(entry=score, entered_by=colleague_analyst, score=Decimal(71))
    [update] = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("UPDATE")]
    assert '"note"' not in update and '"status"' not in update
    stored = ContractMeasureScore.objects.get(pk=score.pk)
    assert (stored.score, stored.entered_by) == (Decimal(71), colleague_analyst)
    assert stored.entered_at > entered_at


def test_the_same_score_keeps_its_author_and_time(score, analyst, colleague_analyst):
    with CaptureQueriesContext(connection) as queries:
        services.contract_measure_score_update(entry=score, entered_by=colleague_analyst, score=Decimal(68))
    assert [query for query in queries.captured_queries if query["sql"].startswith("UPDATE")] == []
    stored = ContractMeasureScore.objects.get(pk=score.pk)
    assert (stored.entered_by, stored.entered_at) == (analyst, score.entered_at)


@pytest.mark.parametrize("name", ["contract", "star_year", "updated_by"])
def test_a_profiles_key_and_author_are_refused(profile, colleague_analyst, name):
    with pytest.raises(TypeError, match=name):
        services.contract_rating_profile_update(profile=profile, updated_by=colleague_analyst, **{name: None})


def test_a_profile_change_is_stamped_and_the_same_values_are_not(profile, analyst, colleague_analyst):
    services.contract_rating_profile_update(
        profile=profile, updated_by=colleague_analyst, contract_type="ccp_only_isnp"
    )
    assert ContractRatingProfile.objects.get(pk=profile.pk).updated_by == analyst
    services.contract_rating_profile_update(profile=profile, updated_by=colleague_analyst, part_c_fac=3)
    stored = ContractRatingProfile.objects.get(pk=profile.pk)
    assert (stored.part_c_fac, stored.updated_by) == (3, colleague_analyst)
