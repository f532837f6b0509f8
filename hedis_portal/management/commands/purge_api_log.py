"""Delete API request log entries older than N days (operational data, short retention)."""

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from hedis_portal.models import ApiRequestLog


class Command(BaseCommand):
    help = "Delete API request log entries older than N days."

    def add_arguments(self, parser):
        parser.add_argument("--older-than-days", type=int, required=True, metavar="N")

    def handle(self, *args, older_than_days: int, **options):
        if older_than_days < 1:
            raise CommandError("--older-than-days must be at least 1.")
        cutoff = timezone.now() - timedelta(days=older_than_days)
        deleted, _ = ApiRequestLog.objects.filter(started_at__lt=cutoff).delete()
        self.stdout.write(
            self.style.SUCCESS(f"Deleted {deleted} API request log entries older than {cutoff:%Y-%m-%d}.")
        )
