"""Members app: CMS contracts, members keyed by a keyed hash, and contract scoping."""

from django.apps import AppConfig


class MembersConfig(AppConfig):
    """Contracts and members."""

    name = "members"
