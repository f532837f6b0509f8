"""The members admin: scoped lists, hashed search, scoped choices, constant queries."""

import pytest

from hedis_portal import roles
from members.models import Member
from tests.conftest import query_count
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def care_manager_with_add(contract):
    """A care manager who may also add members (to try the add form's contract choices)."""
    from django.contrib.auth.models import Permission

    user = UserFactory(username="cm-add", role=roles.CARE_MANAGER, contracts=[contract])
    user.user_permissions.add(Permission.objects.get(codename="add_member"))
    return user


def test_changelist_shows_only_the_users_contracts(client, care_manager, contract, other_contract):
    own = MemberFactory(contract=contract)
    other = MemberFactory(contract=other_contract)
    client.force_login(care_manager)
    response = client.get("/admin/members/member/")
    assert response.status_code == 200
    shown = list(response.context["cl"].result_list)
    assert shown == [own]
    assert other not in shown


def test_other_contracts_member_page_is_absent(client, care_manager, other_contract):
    other = MemberFactory(contract=other_contract)
    client.force_login(care_manager)
    response = client.get(f"/admin/members/member/{other.pk}/change/")
    # The admin's answer for an object that does not exist: back to the index, no data shown.
    assert response.status_code == 302
    assert response.url == "/admin/"


def test_search_box_takes_a_raw_member_id_and_hashes_it(client, care_manager, contract, other_contract):
    wanted = MemberFactory(contract=contract, raw_member_id="RAW-FIND-ME")
    MemberFactory(contract=contract)
    MemberFactory(contract=other_contract, raw_member_id="RAW-OTHER")
    client.force_login(care_manager)
    assert list(client.get("/admin/members/member/?q=RAW-FIND-ME").context["cl"].result_list) == [wanted]
    assert list(client.get("/admin/members/member/?q=RAW-OTHER").context["cl"].result_list) == []
    assert list(client.get(f"/admin/members/member/?q={wanted.id_hash}").context["cl"].result_list) == []


def test_contract_filter_offers_only_visible_contracts(client, care_manager, contract, other_contract):
    client.force_login(care_manager)
    response = client.get("/admin/members/member/")
    contract_filter = next(f for f in response.context["cl"].filter_specs if f.title == "contract")
    assert [label for _, label in contract_filter.lookup_choices] == ["H1001"]


def test_add_form_offers_only_visible_contracts(client, care_manager_with_add, contract, other_contract):
    client.force_login(care_manager_with_add)
    form = client.get("/admin/members/member/add/").context["adminform"].form
    assert list(form.fields["contract"].queryset) == [contract]
    response = client.post(
        "/admin/members/member/add/",
        {"raw_member_id": "RAW-NEW", "contract": other_contract.pk, "birth_year": 1950, "sex": "F"},
    )
    assert response.status_code == 200
    assert "contract" in response.context["adminform"].form.errors
    assert not Member.objects.exists()


def test_add_form_refuses_a_member_that_already_exists(client, superuser_client_factory, contract):
    MemberFactory(contract=contract, raw_member_id="RAW-DUP")
    admin_client = superuser_client_factory()
    response = admin_client.post(
        "/admin/members/member/add/",
        {"raw_member_id": "RAW-DUP", "contract": contract.pk, "birth_year": 1950, "sex": "F"},
    )
    assert response.status_code == 200
    assert "already exists" in str(response.context["adminform"].form.errors)
    assert Member.objects.count() == 1


@pytest.fixture
def superuser_client_factory(client):
    def make():
        client.force_login(UserFactory(username="root", is_superuser=True))
        return client

    return make


def test_changelist_query_count_does_not_grow_with_rows(client, care_manager, contract):
    client.force_login(care_manager)
    MemberFactory.create_batch(3, contract=contract)
    few = query_count(lambda: client.get("/admin/members/member/"))
    MemberFactory.create_batch(40, contract=contract)
    assert query_count(lambda: client.get("/admin/members/member/")) == few


def test_a_members_contract_cannot_be_changed_once_enrolled(
    superuser_client_factory, contract, other_contract
):
    member = MemberFactory(contract=contract, birth_year=1950)
    client = superuser_client_factory()
    page = client.get(f"/admin/members/member/{member.pk}/change/")
    assert 'name="contract"' not in page.content.decode()
    fields = {"birth_year": 1951, "sex": member.sex, "active": "on"}
    inlines = {
        f"{prefix}-{key}": value
        for prefix in ("gaps", "predictions", "interventions")
        for key, value in (("TOTAL_FORMS", 0), ("INITIAL_FORMS", 0))
    }
    response = client.post(
        f"/admin/members/member/{member.pk}/change/", {**fields, **inlines, "contract": other_contract.pk}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    member.refresh_from_db()
    assert (member.contract_id, member.birth_year) == (contract.pk, 1951)
