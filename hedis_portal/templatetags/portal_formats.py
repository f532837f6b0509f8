"""Template filters for `hedis_portal.formats`: `{% load portal_formats %}` then `{{ x|stars }}`."""

from django import template

from hedis_portal import formats

register = template.Library()

for _name in ("stars", "stars_change", "percent", "points", "probability", "money", "count", "decimal"):
    register.filter(_name, getattr(formats, _name))
