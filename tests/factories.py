"""factory-boy factories shared by the whole suite."""

import factory
from django.contrib.auth.models import Group, User

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
