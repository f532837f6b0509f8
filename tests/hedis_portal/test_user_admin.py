"""The user admin: nobody grants more than they hold; administrators manage users within their contracts.

An administrator (the Administrator role, not a superuser) sees and edits only users who are not
superusers, whose contracts are all among the administrator's own, and whose permissions (own
and through groups) the administrator holds too. They may assign roles whose permissions they
hold (Care manager, Care manager lead, Quality analyst, Administrator), their own contracts, staff
and active status; never superuser status or raw permissions. Every change is audited with its actor.
"""

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache

from hedis_portal import roles
from members.models import Contract
from tests.factories import ContractFactory, UserFactory

pytestmark = pytest.mark.django_db

USERS = "/admin/auth/user/"


@pytest.fixture(autouse=True)
def _fresh_throttle_counts():
    """The API throttle's per-address counts live in the cache, which tests do not roll back."""
    cache.clear()


@pytest.fixture
def third_contract(db):
    """A contract the administrator is not assigned to."""
    return ContractFactory(contract_id="H1003")


@pytest.fixture
def stronger_group(db):
    """A group with a permission no role has (deleting users)."""
    group = Group.objects.create(name="User deleters")
    group.permissions.add(Permission.objects.get(content_type__app_label="auth", codename="delete_user"))
    return group


@pytest.fixture
def people(administrator, care_manager, colleague, contract, third_contract, stronger_group):
    """Every kind of user an administrator may meet, by name."""
    raw = UserFactory(username="raw-perm", role=roles.CARE_MANAGER, contracts=[contract])
    raw.user_permissions.add(Permission.objects.get(content_type__app_label="auth", codename="delete_user"))
    deleter = UserFactory(username="deleter", contracts=[contract])
    deleter.groups.add(stronger_group)
    return {
        "self": administrator,
        "care manager on H1001": care_manager,
        "colleague on H1002": colleague,
        "new user without contracts or roles": UserFactory(username="fresh"),
        "peer administrator on H1001": UserFactory(
            username="peer", role=roles.ADMINISTRATOR, contracts=[contract]
        ),
        "care manager on H1003": UserFactory(
            username="outsider", role=roles.CARE_MANAGER, contracts=[third_contract]
        ),
        "care manager on H1001 and H1003": UserFactory(
            username="straddler", role=roles.CARE_MANAGER, contracts=[contract, third_contract]
        ),
        "superuser": User.objects.create_superuser("root", password="root-password"),
        "user with a raw permission the administrator lacks": raw,
        "user in a group with a permission the administrator lacks": deleter,
    }


def form_data(client, url: str) -> dict:
    """The change form's current values, as the browser would post them back."""
    form = client.get(url).context["adminform"].form
    data = {}
    for name in form.fields:
        value = form[name].value()
        if isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, (list, tuple)):
            data[name] = [str(v) for v in value]
        elif value is not None:
            data[name] = value
    return data


def state(user) -> dict:
    user = User.objects.get(pk=user.pk)
    return {
        "superuser": user.is_superuser,
        "staff": user.is_staff,
        "active": user.is_active,
        "roles": sorted(user.groups.values_list("name", flat=True)),
        "contracts": sorted(user.contracts.values_list("contract_id", flat=True)),
        "raw permissions": sorted(user.user_permissions.values_list("codename", flat=True)),
    }


# --- what an administrator sees ------------------------------------------------------------

VISIBLE = {
    "self": True,
    "care manager on H1001": True,
    "colleague on H1002": True,
    "new user without contracts or roles": True,
    "peer administrator on H1001": True,
    "care manager on H1003": False,
    "care manager on H1001 and H1003": False,
    "superuser": False,
    "user with a raw permission the administrator lacks": False,
    "user in a group with a permission the administrator lacks": False,
}


def test_an_administrator_lists_exactly_the_users_within_their_contracts_and_roles(client, people):
    client.force_login(people["self"])
    response = client.get(USERS)
    assert response.status_code == 200
    listed = {user.username for user in response.context["cl"].result_list}
    assert listed == {people[name].username for name, visible in VISIBLE.items() if visible}


@pytest.mark.parametrize("who", list(VISIBLE))
def test_an_administrator_opens_a_users_pages_only_within_scope(client, people, who):
    client.force_login(people["self"])
    target = people[who]
    expected = 200 if VISIBLE[who] else 404
    assert client.get(f"{USERS}{target.pk}/change/").status_code == expected
    assert client.get(f"{USERS}{target.pk}/password/").status_code == expected


@pytest.mark.parametrize("who", [name for name, visible in VISIBLE.items() if not visible])
def test_an_administrator_cannot_change_an_out_of_scope_users_password_or_roles(client, people, who):
    client.force_login(people["self"])
    target = people[who]
    before = state(target)
    password_hash = User.objects.get(pk=target.pk).password
    response = client.post(
        f"{USERS}{target.pk}/password/",
        {
            "password1": "taken-over-password-1",
            "password2": "taken-over-password-1",
            "usable_password": "true",
        },
    )
    assert response.status_code == 404
    response = client.post(f"{USERS}{target.pk}/change/", {"username": target.username, "is_active": ""})
    assert response.status_code == 404
    assert User.objects.get(pk=target.pk).password == password_hash
    assert state(target) == before


# --- what an administrator may grant ----------------------------------------------------------


def _role(name):
    return str(Group.objects.get(name=name).pk)


def _contract(contract_id):
    return str(Contract.objects.get(contract_id=contract_id).pk)


def _permission(codename):
    return str(Permission.objects.get(content_type__app_label="auth", codename=codename).pk)


# (what is posted, whether the form accepts it, the care manager's state afterwards)
BASE = {
    "superuser": False,
    "staff": True,
    "active": True,
    "roles": [roles.CARE_MANAGER],
    "contracts": ["H1001"],
    "raw permissions": [],
}
GRANTS = {
    "the Quality analyst role": (
        {"groups": lambda: [_role(roles.QUALITY_ANALYST)]},
        True,
        {**BASE, "roles": [roles.QUALITY_ANALYST]},
    ),
    "the Administrator role": (
        {"groups": lambda: [_role(roles.ADMINISTRATOR), _role(roles.CARE_MANAGER)]},
        True,
        {**BASE, "roles": [roles.ADMINISTRATOR, roles.CARE_MANAGER]},
    ),
    "no role": ({"groups": lambda: []}, True, {**BASE, "roles": []}),
    "both of their own contracts": (
        {"contracts": lambda: [_contract("H1001"), _contract("H1002")]},
        True,
        {**BASE, "contracts": ["H1001", "H1002"]},
    ),
    "no contract": ({"contracts": lambda: []}, True, {**BASE, "contracts": []}),
    "deactivation": ({"is_active": lambda: ""}, True, {**BASE, "active": False}),
    "no staff status": ({"is_staff": lambda: ""}, True, {**BASE, "staff": False}),
    "superuser status (ignored)": ({"is_superuser": lambda: "on"}, True, BASE),
    "a raw permission (ignored)": ({"user_permissions": lambda: [_permission("delete_user")]}, True, BASE),
    "a contract of their own and one not theirs": (
        {"contracts": lambda: [_contract("H1001"), _contract("H1003")]},
        False,
        BASE,
    ),
    "a group with a permission they lack": (
        {"groups": lambda: [_role(roles.CARE_MANAGER), str(Group.objects.get(name="User deleters").pk)]},
        False,
        BASE,
    ),
}


@pytest.mark.parametrize("grant", list(GRANTS))
def test_what_an_administrator_may_grant_a_care_manager(client, people, grant):
    posted, accepted, expected = GRANTS[grant]
    client.force_login(people["self"])
    url = f"{USERS}{people['care manager on H1001'].pk}/change/"
    data = {**form_data(client, url), **{name: value() for name, value in posted.items()}}
    data = {name: value for name, value in data.items() if value != ""}
    response = client.post(url, data)
    assert response.status_code == (302 if accepted else 200)
    if not accepted:
        assert response.context["adminform"].form.errors
    assert state(people["care manager on H1001"]) == expected


def test_the_form_offers_an_administrator_only_their_own_roles_contracts_and_flags(client, people):
    client.force_login(people["self"])
    form = client.get(f"{USERS}{people['care manager on H1001'].pk}/change/").context["adminform"].form
    assert {g.name for g in form.fields["groups"].queryset} == {
        roles.CARE_MANAGER,
        roles.CARE_MANAGER_LEAD,
        roles.QUALITY_ANALYST,
        roles.ADMINISTRATOR,
    }
    assert {c.contract_id for c in form.fields["contracts"].queryset} == {"H1001", "H1002"}
    assert "is_superuser" not in form.fields
    assert "user_permissions" not in form.fields


def test_an_administrator_adds_a_user_who_is_never_a_superuser(client, people):
    client.force_login(people["self"])
    response = client.post(
        f"{USERS}add/",
        {
            "username": "new.cm",
            "password1": "a-long-new-password-1",
            "password2": "a-long-new-password-1",
            "usable_password": "true",
            "is_superuser": "on",
            "is_staff": "on",
            "user_permissions": [_permission("delete_user")],
        },
    )
    assert response.status_code == 302
    created = User.objects.get(username="new.cm")
    assert state(created)["superuser"] is False
    assert state(created)["raw permissions"] == []
    # …and goes on to give it a role and a contract of their own.
    url = f"{USERS}{created.pk}/change/"
    data = {
        **form_data(client, url),
        "groups": [_role(roles.CARE_MANAGER)],
        "contracts": [_contract("H1001")],
    }
    data["is_staff"] = "on"
    assert client.post(url, data).status_code == 302
    assert state(created) == {**BASE, "contracts": ["H1001"]}


def test_the_new_account_of_an_administrator_sees_only_the_administrators_contracts(client, people, api):
    client.force_login(people["self"])
    client.post(
        f"{USERS}add/",
        {
            "username": "sneaky",
            "password1": "pw-123456-long",
            "password2": "pw-123456-long",
            "is_superuser": "on",
        },
    )
    sneaky = User.objects.get(username="sneaky")
    url = f"{USERS}{sneaky.pk}/change/"
    client.post(url, {**form_data(client, url), "groups": [_role(roles.ADMINISTRATOR)], "is_superuser": "on"})
    response = api(sneaky).get("/api/contracts/")
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_an_administrator_cannot_open_the_group_admin(client, people, stronger_group):
    client.force_login(people["self"])
    assert client.get("/admin/auth/group/").status_code == 403
    assert client.get(f"/admin/auth/group/{stronger_group.pk}/change/").status_code == 403


def test_an_administrator_cannot_assign_users_through_the_contract_page(client, people, contract):
    client.force_login(people["self"])
    response = client.get(f"/admin/members/contract/{contract.pk}/change/")
    assert "users" not in response.context["adminform"].form.fields


# --- what a superuser may do ------------------------------------------------------------------


def test_a_superuser_grants_anything(client, people, stronger_group):
    client.force_login(people["superuser"])
    target = people["care manager on H1003"]
    url = f"{USERS}{target.pk}/change/"
    data = {
        **form_data(client, url),
        "is_superuser": "on",
        "groups": [str(stronger_group.pk)],
        "user_permissions": [_permission("delete_user")],
        "contracts": [_contract("H1001"), _contract("H1003")],
    }
    assert client.post(url, data).status_code == 302
    assert state(target) == {
        "superuser": True,
        "staff": True,
        "active": True,
        "roles": ["User deleters"],
        "contracts": ["H1001", "H1003"],
        "raw permissions": ["delete_user"],
    }


def test_a_superuser_sees_every_user(client, people):
    client.force_login(people["superuser"])
    listed = {user.username for user in client.get(USERS).context["cl"].result_list}
    assert listed == {user.username for user in people.values()}


def test_care_managers_and_analysts_have_no_user_admin(client, care_manager, analyst):
    for user in (care_manager, analyst):
        client.force_login(user)
        assert client.get(USERS).status_code == 403
        assert client.get(f"{USERS}{user.pk}/change/").status_code == 403


# --- audit ------------------------------------------------------------------------------------


def test_role_contract_and_status_changes_are_audited_with_the_actor(client, people):
    admin, target = people["self"], people["care manager on H1001"]
    client.force_login(admin)
    url = f"{USERS}{target.pk}/change/"
    data = {
        **form_data(client, url),
        "groups": [_role(roles.QUALITY_ANALYST)],
        "contracts": [_contract("H1002")],
    }
    data.pop("is_active")
    assert client.post(url, data).status_code == 302

    on_user = LogEntry.objects.get_for_object(target).filter(actor=admin)
    changes = {}
    for entry in on_user:
        changes.update(entry.changes)
    assert changes["is_active"] == [True, False]
    assert changes["groups"]["operation"] in {"add", "delete"}
    roles_changed = {
        (entry.changes["groups"]["operation"], name)
        for entry in on_user
        if "groups" in entry.changes
        for name in entry.changes["groups"]["objects"]
    }
    assert roles_changed == {("delete", roles.CARE_MANAGER), ("add", roles.QUALITY_ANALYST)}

    assignments = {
        (entry.object_repr, entry.changes["users"]["operation"])
        for entry in LogEntry.objects.get_for_model(Contract).filter(actor=admin)
        if "users" in entry.changes
    }
    assert assignments == {("H1001", "delete"), ("H1002", "add")}
    for entry in LogEntry.objects.filter(actor=admin):
        assert entry.remote_addr == "127.0.0.1"


def test_creating_a_user_and_changing_a_password_are_audited_without_the_password(client, people):
    admin = people["self"]
    client.force_login(admin)
    client.post(
        f"{USERS}add/",
        {"username": "new.qa", "password1": "pw-created-123456", "password2": "pw-created-123456"},
    )
    created = User.objects.get(username="new.qa")
    client.post(
        f"{USERS}{created.pk}/password/",
        {"password1": "pw-changed-654321", "password2": "pw-changed-654321", "usable_password": "true"},
    )
    entries = LogEntry.objects.get_for_object(created)
    assert entries.filter(action=LogEntry.Action.CREATE, actor=admin).count() == 1
    password_changes = [e for e in entries if e.additional_data and e.additional_data.get("password_changed")]
    assert len(password_changes) == 1
    assert password_changes[0].actor == admin
    stored = repr([(e.changes, e.additional_data, e.object_repr) for e in entries])
    created.refresh_from_db()
    for secret in ("pw-created-123456", "pw-changed-654321", created.password, created.password[-20:]):
        assert secret not in stored


def test_group_permission_changes_are_audited(client, people, stronger_group):
    root = people["superuser"]
    client.force_login(root)
    url = f"/admin/auth/group/{stronger_group.pk}/change/"
    response = client.post(url, {"name": "User deleters", "permissions": [_permission("view_user")]})
    assert response.status_code == 302
    changed = {
        (entry.changes["permissions"]["operation"], *entry.changes["permissions"]["objects"])
        for entry in LogEntry.objects.get_for_object(stronger_group).filter(actor=root)
    }
    assert changed == {
        ("delete", "Authentication and Authorization | user | Can delete user"),
        ("add", "Authentication and Authorization | user | Can view user"),
    }
