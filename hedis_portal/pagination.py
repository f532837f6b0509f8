"""Cursor pagination: no COUNT(*) and stable pages on tables of millions of rows."""

from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Cursor pages ordered by newest first unless the view or `?ordering=` says otherwise."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 500
