"""gunicorn settings for `make run` and production; every value can be overridden by env."""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# Access log without the query string (%(U)s is the path only): search terms can be member IDs.
accesslog = "-"
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


def worker_exit(server, worker):
    """Write any buffered API request log entries before the worker goes."""
    from hedis_portal import request_log

    request_log.flush()
