"""Cursor pagination: no COUNT(*) and stable pages on tables of millions of rows."""

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Cursor pages ordered by newest first unless the view or `?ordering=` says otherwise.

    `page_size` must be a whole number from 1 to `max_page_size` (400 otherwise, never a silent
    default). A cursor is opaque, taken from a page's `next` or `previous` link; one that points
    at no page answers 404, as DRF does.
    """

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        if not (value.isascii() and value.isdigit() and 1 <= int(value) <= self.max_page_size):
            raise ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]}
            )
        return int(value)

    def paginate_queryset(self, queryset, request, view=None):
        if self.cursor_query_param not in request.query_params:
            return super().paginate_queryset(queryset, request, view)
        try:
            return super().paginate_queryset(queryset, request, view)
        except (TypeError, ValueError, ArithmeticError, DjangoValidationError):
            # A well-formed cursor whose position does not fit the ordering field (text where
            # the field is a number or a time): it points at no page either.
            raise NotFound(self.invalid_cursor_message) from None

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
            if parameter["name"] == self.cursor_query_param:
                parameter["description"] = "Opaque: take it from a page's `next` or `previous` link."
        return parameters
