"""The kinds of background job the apps offer, each registered once by name (`job_kind`).

Kept apart from `hedis_portal.jobs`, which runs them, so that the `Job` model can name a job by
its kind's label without importing the machinery that imports the model.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class JobKind:
    """One kind of long work: its function, who may see and start it, and how it may run."""

    name: str
    label: str
    run: Callable[..., dict]  # (job, context) -> what it made, as JSON
    view_permission: str
    start_permission: str
    lane: str = ""
    retry_once: bool = False
    time_limit: float = 1800.0

    def seconds_allowed(self) -> float:
        """The time limit, from `JOB_TIME_LIMITS` when the settings name this kind."""
        return float(settings.JOB_TIME_LIMITS.get(self.name, self.time_limit))


_KINDS: dict[str, JobKind] = {}


def job_kind(name: str, **options) -> Callable:
    """Register the decorated function as the job kind `name` (options as in `JobKind`)."""

    def register(function: Callable) -> Callable:
        if name in _KINDS:
            raise ValueError(f"Job kind {name!r} is registered twice")
        _KINDS[name] = JobKind(name=name, run=function, **options)
        return function

    return register


def job_kinds() -> dict[str, JobKind]:
    """Every registered kind, by name (the apps' `jobs` modules are imported at start-up)."""
    return _KINDS


def job_label(name: str) -> str:
    """The kind's label ("optimizer run"), or its name while no kind of that name is registered."""
    kind = job_kinds().get(name)
    return kind.label if kind is not None else name
