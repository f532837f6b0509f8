"""A stored run's page: a forecast's, a what-if's or an optimizer plan's result, for people."""

urlpatterns = []
