"""The measurement years each contract has gaps in (`gap_years_by_contract`): found by index probes,
exact when a contract's years have holes, in two queries however many contracts and years."""

import pytest

from gaps.selectors import gap_years_by_contract, worklist_years
from members.models import Contract
from tests.conftest import query_count
from tests.factories import CareGapFactory, ContractFactory, MemberFactory

pytestmark = pytest.mark.django_db


def _gaps(contract, *years):
    for year in years:
        CareGapFactory(member=MemberFactory(contract=contract), measurement_year=year)


def test_each_contract_has_its_own_years_latest_first_and_a_year_without_gaps_is_left_out(
    contract, other_contract
):
    _gaps(contract, 2023, 2025, 2026, 2026)
    _gaps(other_contract, 2024)
    empty = ContractFactory(contract_id="H1009")
    years = gap_years_by_contract(Contract.objects.filter(pk__in=[contract.pk, other_contract.pk, empty.pk]))
    assert years == {contract.pk: [2026, 2025, 2023], other_contract.pk: [2024]}


def test_a_users_worklist_years_are_those_of_the_contracts_they_see(care_manager, contract, other_contract):
    _gaps(contract, 2026, 2024)
    _gaps(other_contract, 2025)
    assert worklist_years(care_manager) == [2026, 2024]


def test_two_queries_however_many_contracts_and_years(contract, other_contract):
    _gaps(contract, 2026)
    one = query_count(lambda: gap_years_by_contract(Contract.objects.all()))
    _gaps(contract, 2019, 2022)
    for number in range(3):
        _gaps(ContractFactory(contract_id=f"H30{number:02d}"), 2020 + number, 2026)
    assert query_count(lambda: gap_years_by_contract(Contract.objects.all())) == one == 2
