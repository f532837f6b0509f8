"""`{% chart chart %}`: a `console.star_ratings.base.Chart` as a titled canvas and its JSON config."""

from django import template

register = template.Library()


@register.inclusion_tag("console/star_ratings/chart.html")
def chart(chart):
    """The figure, its canvas, and the configuration `console/charts.js` draws it from."""
    return {"chart": chart, "config_id": f"{chart.id}-config"}
