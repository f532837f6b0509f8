"""API routes for contracts and members."""

from rest_framework.routers import SimpleRouter

from members.api import ContractViewSet, MemberViewSet

router = SimpleRouter()
router.register("contracts", ContractViewSet, basename="contract")
router.register("members", MemberViewSet, basename="member")

urlpatterns = router.urls
