"""The admin's change-list count as people read it: `{% load portal_admin %}` then `{{ cl|result_count }}`."""

from django import template

from hedis_portal import formats

register = template.Library()


@register.filter
def result_count(cl) -> str:
    """How many rows the list matches: "1,234", or "more than 10,000" when its paginator stopped
    counting (`CappedCountPaginator`), never the cap plus one it counted to."""
    paginator = cl.paginator
    if getattr(paginator, "capped", False):
        return f"more than {formats.count(paginator.CAP)}"
    return formats.count(cl.result_count)
