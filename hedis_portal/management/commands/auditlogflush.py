"""Replaces django-auditlog's `auditlogflush`, which would delete audit entries of any age."""

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Disabled: audit entries are kept at least seven years. Use purge_audit_log."

    def add_arguments(self, parser):
        parser.add_argument("args", nargs="*")
        parser.add_argument("-y", "--yes", action="store_true")
        parser.add_argument("-b", "--before-date")
        parser.add_argument("-t", "--truncate", action="store_true")

    def handle(self, *args, **options):
        raise CommandError(
            "auditlogflush is disabled in this portal: audit entries are kept at least seven "
            "years. Use `manage.py purge_audit_log --older-than-days N` (N ≥ 7 years)."
        )
