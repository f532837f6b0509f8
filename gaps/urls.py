"""API routes for care gaps."""

from rest_framework.routers import SimpleRouter

from gaps.api import CareGapViewSet

router = SimpleRouter()
router.register("gaps", CareGapViewSet, basename="caregap")

urlpatterns = router.urls
