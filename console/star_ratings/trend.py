"""The console's trend page of a contract and measurement year."""

from console.star_ratings.base import ConsoleView, console_path


class TrendView(ConsoleView):
    """Trend."""

    template_name = "console/star_ratings/trend.html"
    permission = "ratings.view_portfoliosnapshot"
    tab = "trend"

    def get_title(self) -> str:
        return f"Trend · {self.contract.contract_id} · measurement year {self.measurement_year}"


urlpatterns = [
    console_path("<str:contract_id>/<int:year>/trend/", TrendView.as_view(), "trend"),
]
