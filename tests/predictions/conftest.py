"""Fixtures for the predictions tests: members known by raw IDs, and rows as external models send them."""

import pytest
from django.db import connection

from members.identifiers import member_id_hash
from members.models import Member
from tests.factories import MemberFactory

OWN_RAW_ID = "RAW-OWN-0001"
OTHER_RAW_ID = "RAW-OTHER-0001"


@pytest.fixture
def member(contract):
    """A member of the care manager's contract (H1001)."""
    return MemberFactory(contract=contract, raw_member_id=OWN_RAW_ID)


@pytest.fixture
def other_member(other_contract):
    """A member of the other contract (H1002)."""
    return MemberFactory(contract=other_contract, raw_member_id=OTHER_RAW_ID)


def prediction_row(raw_member_id: str = OWN_RAW_ID, **overrides) -> dict:
    """One bulk-upsert row as an external model sends it (a BCS prediction for MY2026)."""
    return {
        "member_id": raw_member_id,
        "measure": "BCS",
        "measurement_year": 2026,
        "model_version": "gbm-2026.1",
        "probability": 0.73,
        "risk_tier": "high",
        "top_features": [{"feature": "prior_screening", "weight": 0.41}],
        "predicted_at": "2026-03-01T08:00:00Z",
        **overrides,
    }


def raw_member_ids(contract, count: int, prefix: str = "RAW-BULK") -> list[str]:
    """Create `count` members of `contract` in one INSERT; return their raw IDs (not stored)."""
    raw_ids = [f"{prefix}-{n:06d}" for n in range(count)]
    Member.objects.bulk_create(
        Member(id_hash=member_id_hash(raw), contract=contract, birth_year=1955, sex=Member.Sex.FEMALE)
        for raw in raw_ids
    )
    return raw_ids


def database_text_contains(needle: str) -> list[str]:
    """Every table.column whose text contains `needle` (a whole-database scan)."""
    hits = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            for column in connection.introspection.get_table_description(cursor, table):
                cursor.execute(
                    f'SELECT COUNT(*) FROM "{table}" WHERE CAST("{column.name}" AS TEXT) LIKE %s',
                    [f"%{needle}%"],
                )
                if cursor.fetchone()[0]:
                    hits.append(f"{table}.{column.name}")
    return hits
