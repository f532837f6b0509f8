"""The console's national benchmark page of a contract and measurement year."""

from console.star_ratings.base import ConsoleView, console_path


class BenchmarkView(ConsoleView):
    """National benchmark."""

    template_name = "console/star_ratings/benchmark.html"
    permission = "ratings.view_cmsmeasurevalue"
    tab = "benchmark"

    def get_title(self) -> str:
        return f"National benchmark · {self.contract.contract_id} · measurement year {self.measurement_year}"


urlpatterns = [
    console_path("<str:contract_id>/<int:year>/benchmark/", BenchmarkView.as_view(), "benchmark"),
]
