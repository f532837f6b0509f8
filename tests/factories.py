"""factory-boy factories shared by the whole suite."""

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from members.identifiers import member_id_hash
from members.models import Contract, Member


class ContractFactory(factory.django.DjangoModelFactory):
    """A CMS contract; IDs H1001, H1002, … by default."""

    class Meta:
        model = Contract
        django_get_or_create = ["contract_id"]

    contract_id = factory.Sequence(lambda n: f"H{1001 + n:04d}")
    name = factory.LazyAttribute(lambda c: f"Test plan {c.contract_id}")
    organization_type = Contract.OrganizationType.MA_PD
    enrollment = 10_000


class MemberFactory(factory.django.DjangoModelFactory):
    """A member keyed by the hash of `raw_member_id` (not stored)."""

    class Meta:
        model = Member
        exclude = ["raw_member_id"]

    raw_member_id = factory.Sequence(lambda n: f"TEST-{n:07d}")
    id_hash = factory.LazyAttribute(lambda m: member_id_hash(m.raw_member_id))
    contract = factory.SubFactory(ContractFactory)
    birth_year = 1950
    sex = Member.Sex.FEMALE


class UserFactory(factory.django.DjangoModelFactory):
    """A staff user in a role group, assigned to `contracts`."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("test-password")
    is_staff = True

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))

    @factory.post_generation
    def contracts(self, create, extracted, **kwargs):
        if create and extracted:
            self.contracts.set(extracted)


def measure(code: str):
    """A measure of the shipped catalog by its stable code (loaded by `migrate`)."""
    from ratings.models import Measure

    return Measure.objects.get(code=code, member_level=True)


class CareGapFactory(factory.django.DjangoModelFactory):
    """An open BCS gap for measurement year 2026 on a new member of the member's contract."""

    class Meta:
        model = "gaps.CareGap"

    member = factory.SubFactory(MemberFactory)
    contract = factory.LazyAttribute(lambda g: g.member.contract)
    measure = factory.LazyFunction(lambda: measure("BCS"))
    measurement_year = 2026
    current_prediction = None
    # The tier goes with the pointer, as the prediction upsert keeps them.
    risk_tier = factory.LazyAttribute(lambda g: g.current_prediction and g.current_prediction.risk_tier)


def point_at(gap, prediction) -> None:
    """Make `prediction` the gap's current one, pointer and tier, as the prediction upsert leaves them."""
    type(gap).objects.filter(pk=gap.pk).update(current_prediction=prediction, risk_tier=prediction.risk_tier)


class PredictionFactory(factory.django.DjangoModelFactory):
    """A prediction for a member on BCS, MY2026."""

    class Meta:
        model = "predictions.Prediction"

    member = factory.SubFactory(MemberFactory)
    contract = factory.LazyAttribute(lambda p: p.member.contract)
    measure = factory.LazyFunction(lambda: measure("BCS"))
    measurement_year = 2026
    model_version = "baseline-1"
    probability = 0.4
    risk_tier = "medium"
    predicted_at = factory.LazyFunction(timezone.now)


class InterventionTypeFactory(factory.django.DjangoModelFactory):
    """A phone outreach costing $25."""

    class Meta:
        model = "interventions.InterventionType"
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Outreach call {n}")
    channel = "phone"
    unit_cost = "25.00"


class InterventionFactory(factory.django.DjangoModelFactory):
    """A proposed intervention for a member (covering no gaps unless added)."""

    class Meta:
        model = "interventions.Intervention"

    member = factory.SubFactory(MemberFactory)
    contract = factory.LazyAttribute(lambda i: i.member.contract)
    intervention_type = factory.SubFactory(InterventionTypeFactory)
    cost = factory.LazyAttribute(lambda i: i.intervention_type.unit_cost)
