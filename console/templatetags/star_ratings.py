"""`{% chart chart %}`: a `console.star_ratings.base.Chart` as a titled canvas and its JSON config;
`{% star_ratings_contract_years as contracts %}`: the user's contracts and years, linked;
`{% my_day as day %}`: the front page's queue and contract outlook for someone who works gaps."""

from django import template

from console.my_day import my_day
from console.star_ratings.index import contract_years

register = template.Library()


@register.inclusion_tag("console/star_ratings/chart.html")
def chart(chart):
    """The figure, its canvas, and the configuration `console/charts.js` draws it from."""
    return {"chart": chart, "config_id": f"{chart.id}-config"}


@register.simple_tag(takes_context=True)
def star_ratings_contract_years(context) -> list[dict]:
    """The signed-in user's contracts and measurement years, each linked to its overview."""
    return contract_years(context["request"].user)


@register.simple_tag(takes_context=True, name="my_day")
def my_day_tag(context) -> dict:
    """The signed-in user's gaps due for action and her contracts' outlook (`console.my_day`)."""
    return my_day(context["request"])
