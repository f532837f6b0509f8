"""The console's front page: the user's contracts, each with the measurement years it has gaps for."""

from django.urls import reverse

from console.star_ratings.base import ConsoleView, console_path
from gaps.models import CareGap
from members.selectors import contracts_for


def contract_years(user) -> list[dict]:
    """Each of the user's contracts with the measurement years it has gaps for, newest first, each
    linked to its overview."""
    contracts = list(contracts_for(user).order_by("contract_id"))
    years = {}
    rows = (
        CareGap.objects.filter(contract__in=contracts)
        .values_list("contract_id", "measurement_year")
        .distinct()
        .order_by("contract_id", "-measurement_year")
    )
    for contract_pk, year in rows:
        years.setdefault(contract_pk, []).append(year)
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
