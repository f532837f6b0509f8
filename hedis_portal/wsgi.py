"""WSGI entry point, served by gunicorn (see `gunicorn.conf.py`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hedis_portal.settings")
# Web requests get the short database bounds (DB_STATEMENT_TIMEOUT in settings).
os.environ.setdefault("PORTAL_PROCESS", "web")

application = get_wsgi_application()
