"""The console's front page: the user's contracts, each with the measurement years it has gaps for."""

from django.urls import reverse

from console.star_ratings.base import ConsoleView, console_path
from gaps.selectors import gap_years_by_contract
from members.selectors import contracts_for


def contract_years(user) -> list[dict]:
    """Each of the user's contracts with the measurement years it has gaps for, newest first, each
    linked to its overview."""
    contracts = list(contracts_for(user).order_by("contract_id"))
    years = gap_years_by_contract(contracts_for(user))
    return [
        {
            "contract": contract,
            "years": [
                {"year": year, "url": reverse("star_ratings:overview", args=[contract.contract_id, year])}
                for year in years.get(contract.pk, [])
            ],
        }
        for contract in contracts
    ]


class IndexView(ConsoleView):
    """Each of the user's contracts and the measurement years with gaps, newest first."""

    template_name = "console/star_ratings/index.html"
    title = "Star Ratings"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["contracts"] = contract_years(self.request.user)
        return context


urlpatterns = [console_path("", IndexView.as_view(), "index")]
