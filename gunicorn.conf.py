"""gunicorn settings for `make run` and production; every value can be overridden by env."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# The access log shows the route pattern (`api/members/<pk>/`, set by RequestIdMiddleware), never
# the path or query string: a client may put a raw member ID in either. The request ID joins a
# line to the API request log and the audit entries.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %({hedis_portal.route}e)s" %(s)s %(b)s %(M)sms %({x-request-id}o)s'


def worker_exit(server, worker):
    """Write any buffered API request log entries before the worker goes."""
    from hedis_portal import request_log

    request_log.flush()
