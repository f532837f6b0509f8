"""The console's equity page of a contract and measurement year."""

from console.star_ratings.base import ConsoleView, console_path


class EquityView(ConsoleView):
    """Equity."""

    template_name = "console/star_ratings/equity.html"
    permission = "ratings.view_contract_rating"
    tab = "equity"

    def get_title(self) -> str:
        return f"Equity · {self.contract.contract_id} · measurement year {self.measurement_year}"


urlpatterns = [
    console_path("<str:contract_id>/<int:year>/equity/", EquityView.as_view(), "equity"),
]
