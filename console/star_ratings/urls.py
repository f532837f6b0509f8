"""The console's routes under /admin/star-ratings/, named `star_ratings:<page>`; each page module
contributes its own `urlpatterns`."""

from console.star_ratings import benchmark, equity, index, overview, runs, scenarios, trend

app_name = "star_ratings"

urlpatterns = [
    *index.urlpatterns,
    *overview.urlpatterns,
    *trend.urlpatterns,
    *scenarios.urlpatterns,
    *runs.urlpatterns,
    *equity.urlpatterns,
    *benchmark.urlpatterns,
]
