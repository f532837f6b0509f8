"""API permissions: Django model permissions (role groups), reads included."""

from rest_framework.permissions import DjangoModelPermissions


class ModelPermissions(DjangoModelPermissions):
    """Like DRF's `DjangoModelPermissions`, but reading also needs the `view` permission.

    What a user may do comes from their role group; which rows they see comes from the
    contract scoping of each queryset (`visible_to`).
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
    }


class ReadPermission(ModelPermissions):
    """For read-only actions sent as POST (e.g. a lookup whose key must not be in the URL)."""

    perms_map = {method: ["%(app_label)s.view_%(model_name)s"] for method in ModelPermissions.perms_map}
