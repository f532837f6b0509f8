"""API routes for the composed resources."""

from rest_framework.routers import SimpleRouter

from console.api import MemberHistoryViewSet

router = SimpleRouter()
router.register("members", MemberHistoryViewSet, basename="member")

urlpatterns = router.urls
