"""API routes for the predictions app."""

from rest_framework.routers import SimpleRouter

from predictions.api import PredictionViewSet

router = SimpleRouter()
router.register("predictions", PredictionViewSet, basename="prediction")

urlpatterns = router.urls
