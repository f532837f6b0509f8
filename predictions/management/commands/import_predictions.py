"""`manage.py import_predictions FILE (.csv or .jsonl) --as-user USERNAME [--batch-size 10000]`."""

import contextlib
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from hedis_portal.audit import command_actor
from hedis_portal.errors import DatabaseBusy
from hedis_portal.import_errors import ImportRejected
from predictions.importing import FORMATS, predictions_import_file


class Command(BaseCommand):
    help = (
        "Import predictions from a .csv or .jsonl file for members of the user's contracts. "
        "The whole file is validated first (every error listed by line, nothing written); "
        "then it is upserted in batches inside one transaction."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--as-user",
            required=True,
            metavar="USERNAME",
            help="Whose contracts scope the import, and whom the audit log names.",
        )
        parser.add_argument("--batch-size", type=int, default=10_000, help="Rows per upsert statement.")

    def handle(self, *args, file: Path, as_user: str, batch_size: int, **options):
        user = self._importing_user(as_user)
        max_rows = settings.PREDICTIONS_BULK_MAX_ROWS
        if not 1 <= batch_size <= max_rows:
            raise CommandError(f"--batch-size must be between 1 and {max_rows} (PREDICTIONS_BULK_MAX_ROWS).")

        file_format = file.suffix.lower().removeprefix(".")
        if file_format not in FORMATS:
            raise CommandError("Expected a .csv or .jsonl file.")

        with contextlib.ExitStack() as bars:
            bar_of_stage: dict[str, tqdm] = {}

            def progress(stage: str, done: int, total: int | None) -> None:
                if stage not in bar_of_stage:
                    for earlier in bar_of_stage.values():
                        earlier.close()
                    bar_of_stage[stage] = bars.enter_context(
                        tqdm(total=total, unit=" rows", desc=stage, disable=None)
                    )
                bar = bar_of_stage[stage]
                bar.update(done - bar.n)

            try:
                # The audit entry of each batch names the importing user, as an API call names
                # its caller, and the OS user and host that ran the command.
                with command_actor("import_predictions", user=user):
                    result = predictions_import_file(
                        content=file,
                        file_format=file_format,
                        user=user,
                        channel="command",
                        batch_size=batch_size,
                        progress=progress,
                    )
            except OSError as exc:
                # Not the path: file names often carry member or vendor identifiers.
                raise CommandError(f"Cannot read the file: {exc.strerror}") from None
            except ImportRejected as exc:
                for error in exc.errors:
                    self.stderr.write(f"line {error['line']}, {error['field']}: {error['message']}")
                raise CommandError(exc.message) from None
            except DatabaseBusy as exc:
                # Concurrent writes to the same rows outlasted the retries; nothing was written.
                raise CommandError(exc.message) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{result.received} rows imported; {result.created} predictions created, "
                f"{result.updated} updated."
            )
        )

    @staticmethod
    def _importing_user(username: str):
        """The active user named by --as-user, who must be allowed to add predictions."""
        try:
            user = get_user_model().objects.get(username=username, is_active=True)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No active user {username!r}.") from None
        if not user.has_perm("predictions.add_prediction"):
            raise CommandError(f"User {username!r} may not add predictions (predictions.add_prediction).")
        return user
