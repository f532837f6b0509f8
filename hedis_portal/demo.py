"""The demo plan that `make run` loads: two contracts, members and one user per role.

Deterministic (seeded) and idempotent: a second run adds nothing. Raw member IDs are
made up (`DEMO-…`) and hashed like real ones.
"""

import random
import secrets
from dataclasses import dataclass, field

from auditlog.models import LogEntry
from django.contrib.auth.models import Group, User
from django.db import transaction

from hedis_portal import roles
from hedis_portal.audit import log_batch
from members.identifiers import member_id_hash
from members.models import Contract, Member

DEMO_CONTRACTS = [
    {
        "contract_id": "H9001",
        "name": "Demo Health Plan Advantage (MA-PD with D-SNP)",
        "organization_type": Contract.OrganizationType.MA_PD,
        "snp": True,
        "lis_de_percent": "38.50",
        "disability_percent": "27.10",
        "members": 3000,
    },
    {
        "contract_id": "H9002",
        "name": "Demo Health Plan Select (MA-PD)",
        "organization_type": Contract.OrganizationType.MA_PD,
        "snp": False,
        "lis_de_percent": "12.40",
        "disability_percent": "14.80",
        "members": 2000,
    },
]

# username → (role, contracts assigned)
DEMO_USERS = {
    "care.manager": (roles.CARE_MANAGER, ["H9001"]),
    "quality.analyst": (roles.QUALITY_ANALYST, ["H9001", "H9002"]),
    "administrator": (roles.ADMINISTRATOR, ["H9001", "H9002"]),
}


@dataclass
class DemoResult:
    """What a load created; passwords only for users created by this run."""

    contracts_created: list[str] = field(default_factory=list)
    members_created: int = 0
    new_credentials: dict[str, str] = field(default_factory=dict)


def _demo_members(contract: Contract, count: int, rng: random.Random) -> list[Member]:
    lis_rate = float(contract.lis_de_percent) / 100
    disability_rate = float(contract.disability_percent) / 100
    return [
        Member(
            id_hash=member_id_hash(f"DEMO-{contract.contract_id}-{n:06d}"),
            contract=contract,
            birth_year=rng.randint(1930, 1959),
            sex=rng.choice([Member.Sex.FEMALE, Member.Sex.FEMALE, Member.Sex.MALE]),
            lis_de=rng.random() < lis_rate,
            disability=rng.random() < disability_rate,
        )
        for n in range(1, count + 1)
    ]


@transaction.atomic
def load_demo_data(*, seed: int = 2026) -> DemoResult:
    """Create the demo contracts, members and users that do not exist yet."""
    rng = random.Random(seed)
    result = DemoResult()
    roles.sync_roles()
    for spec in DEMO_CONTRACTS:
        spec = dict(spec)
        member_count = spec.pop("members")
        contract, created = Contract.objects.get_or_create(
            contract_id=spec["contract_id"], defaults={**spec, "enrollment": member_count}
        )
        if created:
            result.contracts_created.append(contract.contract_id)
        if not contract.members.exists():
            members = Member.objects.bulk_create(_demo_members(contract, member_count, rng))
            result.members_created += len(members)
            log_batch(
                model=Member,
                action=LogEntry.Action.CREATE,
                count=len(members),
                summary=f"Demo members for {contract.contract_id}",
                details={"source": "load_demo_data", "contract": contract.contract_id},
            )
    for username, (role, contract_ids) in DEMO_USERS.items():
        if User.objects.filter(username=username).exists():
            continue
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(username=username, password=password, is_staff=True)
        user.groups.add(Group.objects.get(name=role))
        user.contracts.set(Contract.objects.filter(contract_id__in=contract_ids))
        result.new_credentials[username] = password
    return result
