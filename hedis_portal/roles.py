"""The roles as Django groups, with the permissions each needs.

Roles say what a user may do; contract assignments (`Contract.users`) say on which
data. Groups are (re)synchronised after every `migrate`, so a new model's permissions
reach the roles with the migration that adds it.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db.models import Q

CARE_MANAGER = "Care manager"
CARE_MANAGER_LEAD = "Care manager lead"
QUALITY_ANALYST = "Quality analyst"
ADMINISTRATOR = "Administrator"

_READ = [
    "members.view_contract",
    "members.view_member",
    "ratings.view_measure",
    "ratings.view_staryearmeasure",
    "ratings.view_cutpoint",
    "ratings.view_cutpointprojection",
    "ratings.view_contract_rating",
    "ratings.view_portfoliosnapshot",
    "ratings.view_portfoliorun",
    "gaps.view_caregap",
    "gaps.view_gapremark",
    "predictions.view_prediction",
    "interventions.view_interventiontype",
    "interventions.view_interventionuplift",
    "interventions.view_intervention",
    "interventions.view_interventiongap",
    "interventions.view_outreachrecord",
    "interventions.view_outreachgap",
]
# Working gaps: assign, move through the workflow, remark, record outreach.
_WORK_GAPS = [
    "gaps.change_caregap",
    "gaps.add_gapremark",
    "interventions.add_intervention",
    "interventions.change_intervention",
    "interventions.add_interventiongap",
    "interventions.change_interventiongap",
    # Outreach already made, recorded as done (no approval): moves the gaps' workflow.
    "interventions.add_outreachrecord",
]
# Joining the worklist to the plan's own roster (raw member IDs, contact details) for outreach.
_REIDENTIFY = ["members.reidentify_member"]

# Analysing ratings: the national benchmark, contract-level scores, rating profiles, snapshots.
_RATINGS_ANALYSIS = [
    "ratings.view_cmsdataimport",
    "ratings.view_cmscontract",
    "ratings.view_cmsmeasurevalue",
    "ratings.view_contractmeasurescore",
    "ratings.add_contractmeasurescore",
    "ratings.change_contractmeasurescore",
    "ratings.view_contractratingprofile",
    "ratings.add_contractratingprofile",
    "ratings.change_contractratingprofile",
    "ratings.add_portfoliosnapshot",
    # Projecting a star year's cut points (the runs working toward it use the newest projection).
    "ratings.add_cutpointprojection",
    # Forecasts, what-if scenarios and optimizer runs, and proposing a plan's interventions
    # (proposed only: a human approves each before any outreach).
    "ratings.add_portfoliorun",
    "interventions.add_intervention",
    "interventions.add_interventiongap",
]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    CARE_MANAGER: [*_READ, *_WORK_GAPS],
    CARE_MANAGER_LEAD: [*_READ, *_WORK_GAPS, *_REIDENTIFY],
    QUALITY_ANALYST: [
        *_READ,
        *_RATINGS_ANALYSIS,
        "interventions.approve_intervention",
        "predictions.add_prediction",
        "predictions.change_prediction",
    ],
    ADMINISTRATOR: [
        *_READ,
        *_WORK_GAPS,
        *_RATINGS_ANALYSIS,
        *_REIDENTIFY,
        "interventions.approve_intervention",
        "members.add_contract",
        "members.change_contract",
        "members.add_member",
        "members.change_member",
        "gaps.add_caregap",
        # Importing a star year's CMS data tables replaces the national benchmark for everyone.
        "ratings.add_cmsdataimport",
        "predictions.add_prediction",
        "predictions.change_prediction",
        "interventions.add_interventiontype",
        "interventions.change_interventiontype",
        "interventions.add_interventionuplift",
        "interventions.change_interventionuplift",
        "interventions.delete_interventionuplift",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auditlog.view_logentry",
        "hedis_portal.view_apirequestlog",
    ],
}


def sync_roles() -> None:
    """Create the role groups and set each one's permissions exactly to `ROLE_PERMISSIONS`."""
    for name, codes in ROLE_PERMISSIONS.items():
        query = Q()
        for code in codes:
            app_label, codename = code.split(".")
            query |= Q(content_type__app_label=app_label, codename=codename)
        permissions = list(Permission.objects.filter(query))
        found = {f"{p.content_type.app_label}.{p.codename}" for p in permissions}
        missing = sorted(set(codes) - found)
        if missing:
            raise LookupError(f"Role {name!r} names unknown permissions: {', '.join(missing)}")
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)


def sync_roles_after_migrate(sender, using="default", **kwargs) -> None:
    """`post_migrate` receiver: runs once, for the last app, when every permission exists.

    Our receiver is connected before django.contrib.auth's, so the last app's own
    permissions are created here first (`create_permissions` is idempotent).
    """
    if sender is not list(global_apps.get_app_configs())[-1]:
        return
    create_permissions(sender, verbosity=0, using=using)
    sync_roles()
