"""ASGI entry point, for deployments that prefer an ASGI server."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hedis_portal.settings")
# Web requests get the short database bounds (DB_STATEMENT_TIMEOUT in settings).
os.environ.setdefault("PORTAL_PROCESS", "web")

application = get_asgi_application()
