"""What every console page shares: the contract and year it is about, the tabs, the admin's frame."""

from dataclasses import dataclass

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.views.generic import TemplateView

from members.selectors import contracts_for

# Each tab: its route name, label, and the permission it needs.
TABS = (
    ("overview", "Overview", "ratings.view_contract_rating"),
    ("trend", "Trend", "ratings.view_portfoliosnapshot"),
    ("cut_points", "Cut points", "ratings.view_cutpointprojection"),
    ("scenarios", "Scenarios", "ratings.view_portfoliorun"),
    ("equity", "Equity", "ratings.view_contract_rating"),
    ("benchmark", "National benchmark", "ratings.view_cmsmeasurevalue"),
)


def console_path(route: str, view, name: str):
    """A console route behind the admin's login (and its staff check), named in `star_ratings`."""
    return path(route, admin.site.admin_view(view), name=name)


@dataclass(frozen=True)
class Chart:
    """One chart: a Chart.js configuration (JSON only, no callbacks), its title and a text alternative.

    `config` is what `new Chart(canvas, config)` receives; `summary` is a sentence for readers
    who cannot see the canvas (the page shows a table of the same figures beside most charts).
    """

    id: str
    title: str
    config: dict
    summary: str = ""
    height: int = 260


class ConsoleView(TemplateView):
    """A console page. `permission` is what the page needs; out-of-scope contracts are 404; `title`
    names the page (`get_title` adds the contract and year).

    Pages about a contract and measurement year take both from the URL (`contract_id`, `year`)
    and find the contract within the user's own: `self.contract`, `self.measurement_year`.
    """

    permission = "ratings.view_contract_rating"
    title = ""
    tab = ""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.has_perm(self.permission):
            raise PermissionDenied
        contract_id = kwargs.get("contract_id")
        self.contract = (
            get_object_or_404(contracts_for(request.user), contract_id=contract_id.upper())
            if contract_id
            else None
        )
        self.measurement_year = kwargs.get("year")
        return super().dispatch(request, *args, **kwargs)

    def get_title(self) -> str:
        """The page's `title`, then its contract and year: "Trend · H9001 · measurement year 2026"."""
        if self.contract is None or self.measurement_year is None:
            return self.title
        return f"{self.title} · {self.contract.contract_id} · measurement year {self.measurement_year}"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        title = self.get_title()
        context.update(admin.site.each_context(self.request))
        context.update(
            title=title,
            contract=self.contract,
            measurement_year=self.measurement_year,
            tabs=self.tabs(),
            active_tab=self.tab,
            # The console's tables and charts take the page's whole width, not the admin's app list.
            is_nav_sidebar_enabled=False,
        )
        return context

    def tabs(self) -> list[dict]:
        """The contract's tabs this user may open, each with its link."""
        if self.contract is None or self.measurement_year is None:
            return []
        user, args = self.request.user, [self.contract.contract_id, self.measurement_year]
        return [
            {"name": name, "label": label, "url": reverse(f"star_ratings:{name}", args=args)}
            for name, label, permission in TABS
            if user.has_perm(permission)
        ]
