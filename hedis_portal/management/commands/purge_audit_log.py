"""Delete audit entries older than a retention period of at least seven years."""

from datetime import timedelta

from auditlog.models import LogEntry
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone


class Command(BaseCommand):
    help = "Delete audit log entries older than N days; N may not be below seven years (HIPAA retention)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=int, required=True, metavar="N")
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")

    def handle(self, *args, older_than_days: int, dry_run: bool, **options):
        floor = settings.AUDIT_LOG_MIN_RETENTION_DAYS
        if older_than_days < floor:
            raise CommandError(
                f"Refusing to purge audit entries younger than {floor} days (7 years); "
                f"got --older-than-days {older_than_days}."
            )
        cutoff = timezone.now() - timedelta(days=older_than_days)
        expired = LogEntry.objects.filter(timestamp__lt=cutoff)
        if dry_run:
            self.stdout.write(
                f"{expired.count()} audit entries older than {cutoff:%Y-%m-%d} would be deleted."
            )
            return
        # QuerySet.delete() on LogEntry is a plain DELETE: the admin and API cannot reach it.
        deleted, _ = expired.delete()
        self.stdout.write(
            self.style.SUCCESS(f"Deleted {deleted} audit entries older than {cutoff:%Y-%m-%d}.")
        )
