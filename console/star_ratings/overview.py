"""The console's overview page of a contract and measurement year."""

from console.star_ratings.base import ConsoleView, console_path


class OverviewView(ConsoleView):
    """Overview."""

    template_name = "console/star_ratings/overview.html"
    permission = "ratings.view_contract_rating"
    tab = "overview"

    def get_title(self) -> str:
        return f"Overview · {self.contract.contract_id} · measurement year {self.measurement_year}"


urlpatterns = [
    console_path("<str:contract_id>/<int:year>/", OverviewView.as_view(), "overview"),
]
