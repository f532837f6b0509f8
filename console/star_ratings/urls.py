"""The console's routes under /admin/star-ratings/, named `star_ratings:<page>`; each page module
contributes its own `urlpatterns`."""

from console.star_ratings import benchmark, cut_points, equity, index, overview, runs, scenarios, trend

app_name = "star_ratings"

urlpatterns = [
    *index.urlpatterns,
    # Before the contract pages, whose first segment would otherwise take "runs" and "jobs".
    *runs.urlpatterns,
    *overview.urlpatterns,
    *trend.urlpatterns,
    *cut_points.urlpatterns,
    *scenarios.urlpatterns,
    *equity.urlpatterns,
    *benchmark.urlpatterns,
]
