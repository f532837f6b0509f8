"""ratings/0006: of the runs stored before the column, the optimizer runs whose result holds the
priorities' facts are marked as having set the worklist's priorities; no other run is."""

import pytest

from ratings.models import PortfolioRun
from tests.factories import ContractFactory
from tests.migrations import migrated_back_to

BEFORE = [("ratings", "0005_cut_point_projection")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_marks_the_optimizer_runs_whose_result_has_priorities():
    marked = {}
    with migrated_back_to(BEFORE) as old_apps:
        OldRun = old_apps.get_model("ratings", "PortfolioRun")
        contract = ContractFactory()
        for kind, result, expected in (
            ("optimize", {"interventions": [], "priorities": {"measures": {}}}, True),
            ("optimize", {"interventions": []}, False),
            ("forecast", {"priorities": {}}, False),
            ("what_if", {}, False),
        ):
            run = OldRun.objects.create(
                kind=kind,
                contract_id=contract.pk,
                measurement_year=2026,
                parameters={},
                inputs={},
                result=result,
                duration_ms=1.0,
            )
            marked[run.pk] = expected

    assert dict(PortfolioRun.objects.values_list("pk", "priorities_set")) == marked
