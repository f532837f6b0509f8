"""The console's cut points page: the star year a measurement year is rated in, its projected cut
points (median and 80% interval per threshold) beside the latest published ones, and starting a
new projection."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect

from console.star_ratings.base import ConsoleView, console_path
from console.star_ratings.forms import ProjectionForm
from console.star_ratings.runs import followed
from hedis_portal.errors import ApplicationError
from ratings.benchmark.selectors import cut_point_star_years
from ratings.jobs import cut_point_projection_start
from ratings.live.rating import star_year_for
from ratings.models import CutPointProjection
from ratings.planning.cut_points import projected_rows

START = "ratings.add_cutpointprojection"


class CutPointsView(ConsoleView):
    """Projected against published cut points for the star year the measurement year is rated in."""

    permission = "ratings.view_cutpointprojection"
    template_name = "console/star_ratings/cut_points.html"
    title = "Cut points"
    tab = "cut_points"

    def post(self, request, *args, **kwargs):
        if not request.user.has_perm(START):
            raise PermissionDenied
        form = ProjectionForm(request.POST)
        if form.is_valid():
            try:
                job = cut_point_projection_start(
                    user=request.user,
                    target_star_year=star_year_for(self.measurement_year),
                    draws=form.cleaned_data["draws"],
                    seed=form.cleaned_data["seed"],
                )
            except ApplicationError as refused:
                form.add_error(None, refused.message)
            else:
                messages.success(request, "The projection has started.")
                return redirect(followed(job, then=request.path))
        return self.render_to_response(self.get_context_data(form=form))

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        star_year = star_year_for(self.measurement_year)
        published = sorted(cut_point_star_years())
        latest = max(published) if published else None
        stored = (
            CutPointProjection.objects.select_related("computed_by")
            .filter(target_star_year=star_year)
            .first()
        )
        org_type = "PDP" if self.contract.organization_type == "pdp" else "MA-PD"
        context.update(
            star_year=star_year,
            latest=latest,
            star_year_published=star_year in published,
            projection=stored,
            stale=stored is not None and stored.base_star_year != latest,
            rows=projected_rows(stored, org_type) if stored else [],
            org_type=org_type,
            may_start=self.request.user.has_perm(START),
            form=kwargs.get("form") or ProjectionForm(),
        )
        return context


urlpatterns = [
    console_path("<str:contract_id>/<int:year>/cut-points/", CutPointsView.as_view(), "cut_points"),
]
