"""The console's scenarios page of a contract and measurement year."""

from console.star_ratings.base import ConsoleView, console_path


class ScenariosView(ConsoleView):
    """Scenarios."""

    template_name = "console/star_ratings/scenarios.html"
    permission = "ratings.view_portfoliorun"
    tab = "scenarios"

    def get_title(self) -> str:
        return f"Scenarios · {self.contract.contract_id} · measurement year {self.measurement_year}"


urlpatterns = [
    console_path("<str:contract_id>/<int:year>/scenarios/", ScenariosView.as_view(), "scenarios"),
]
