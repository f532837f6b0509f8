"""API routes for contracts (members are routed by `console.urls`, with their history)."""

from rest_framework.routers import SimpleRouter

from members.api import ContractViewSet

router = SimpleRouter()
router.register("contracts", ContractViewSet, basename="contract")

urlpatterns = router.urls
