"""Console app: the screens and API resources that compose several domain apps."""

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """Composed views: the member history, and the worklist's actions that reach other apps."""

    name = "console"
