"""API routes for the interventions app."""

from rest_framework.routers import SimpleRouter

from interventions.api import InterventionTypeViewSet, InterventionViewSet, OutreachRecordViewSet

router = SimpleRouter()
router.register("intervention-types", InterventionTypeViewSet, basename="interventiontype")
router.register("interventions", InterventionViewSet, basename="intervention")
router.register("outreach-records", OutreachRecordViewSet, basename="outreachrecord")

urlpatterns = router.urls
