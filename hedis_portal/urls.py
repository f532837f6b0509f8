"""URL routes: admin, API (with OpenAPI schema and offline docs) and health probes."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from hedis_portal import health
from hedis_portal.api_index import ApiIndexView, MeView
from hedis_portal.auth_api import LoginView, LogoutAllView, LogoutView
from hedis_portal.jobs_api import JobViewSet

jobs = SimpleRouter()
jobs.register("jobs", JobViewSet, basename="job")

admin.site.site_header = "HEDIS Star Rating Portfolio Optimizer"
admin.site.site_title = "HEDIS portal"
admin.site.index_title = "Care gaps, ratings and outreach"

FAVICON = "hedis_portal/favicon.svg"

handler400 = "hedis_portal.errors.bad_request"
handler403 = "hedis_portal.errors.permission_denied"
handler404 = "hedis_portal.errors.page_not_found"
handler500 = "hedis_portal.errors.server_error"

api_patterns = [
    path("", ApiIndexView.as_view(), name="index"),
    path("me/", MeView.as_view(), name="me"),
    path("auth/login/", LoginView.as_view(), name="login"),
    path("auth/logout/", LogoutView.as_view(), name="logout"),
    path("auth/logoutall/", LogoutAllView.as_view(), name="logout-all"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script for the CSP.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("", include("members.urls")),
    path("", include("gaps.urls")),
    path("", include("predictions.urls")),
    path("", include("interventions.urls")),
    path("", include("ratings.urls")),
    path("", include("console.urls")),
    *jobs.urls,
]

urlpatterns = [
    # The Star Ratings console: admin pages (login, scoping and look of the admin site).
    path("admin/star-ratings/", include("console.star_ratings.urls")),
    path("admin/", admin.site.urls),
    path("api/", include((api_patterns, "api"))),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    # Browsers ask for it on every page that names no icon: the portal's own (its hashed name once
    # collected, so looked up per request, not when the URLs load).
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)(FAVICON), permanent=True)),
]
