"""The base of every API filter set."""

import django_filters


class FilterSet(django_filters.FilterSet):
    """django-filter's FilterSet with its form class built once per filter set.

    django-filter builds a new form class, field by field, on every request (0.7 ms of a
    worklist page). None of the portal's filters depend on the request, so the class built
    for the first request serves every later one; each request still gets its own form.
    """

    def get_form_class(self):
        filterset = type(self)
        if "_form_class" not in filterset.__dict__:
            filterset._form_class = super().get_form_class()
        return filterset._form_class
