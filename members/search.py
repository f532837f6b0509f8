"""The admin's member search box, which posts its term so that a plan member ID never stands in an
address: not in the browser's history, nor in a link, a Referer header or a proxy's log."""

from django.contrib import messages
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect

from members.selectors import member_search_address_term, members_for

# The search form's own field: a post with it is a search, not an action on the selected rows.
SEARCH_POST_MARKER = "_member_search"
NOT_FOUND = "No member in your contracts has that plan member ID, and no pseudonym starts so."


class MemberSearchByPostMixin:
    """For a ModelAdmin whose search box takes a plan member ID (`MEMBER_SEARCH_HELP`).

    The box posts (the project's `admin/search_form.html` with `member_search`, included by the
    model's own `search_form.html`), and the list answers with a redirect to itself that carries the member's
    pseudonym instead (`member_search_address_term`), or no search and a warning when nothing is
    found; the list's other parameters are kept. A search in the address (`?q=`) still works.
    """

    def changelist_view(self, request, extra_context=None):
        if request.method == "POST" and SEARCH_POST_MARKER in request.POST:
            # The list's own check, before a search may name a member's pseudonym.
            if not self.has_view_or_change_permission(request):
                raise PermissionDenied
            return _search_redirect(request)
        return super().changelist_view(request, extra_context)


def _search_redirect(request) -> HttpResponseRedirect:
    params = request.POST.copy()
    for name in ("csrfmiddlewaretoken", SEARCH_POST_MARKER, SEARCH_VAR):
        params.pop(name, None)
    term = request.POST.get(SEARCH_VAR, "")
    if term.strip():
        found = member_search_address_term(members_for(request.user), term)
        if found is None:
            messages.warning(request, NOT_FOUND)
        else:
            params[SEARCH_VAR] = found
    query = params.urlencode()
    return HttpResponseRedirect(f"{request.path}?{query}" if query else request.path)
