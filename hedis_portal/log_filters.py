"""Logging filters that keep raw member IDs out of log lines."""

import logging


class RequestPathAsRoute(logging.Filter):
    """Writes a request's route pattern where Django's request loggers would write its path.

    `django.request` logs server errors as "Internal Server Error: <path>", and a client may
    put a raw member ID in the path; the route (`api/members/<pk>/`) says as much to an engineer.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from hedis_portal.middleware import route_pattern

        request = getattr(record, "request", None)
        if request is not None and isinstance(record.args, tuple):
            paths = {request.path, request.get_full_path()}
            route = route_pattern(getattr(request, "resolver_match", None))
            record.args = tuple(route if arg in paths else arg for arg in record.args)
        return True
