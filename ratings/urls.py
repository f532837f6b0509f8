"""API routes for the ratings app."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from ratings.api.benchmark import (
    BenchmarkViewSet,
    CmsContractHistoryView,
    CmsContractViewSet,
    MeasureCutPointHistoryView,
)
from ratings.api.catalog import CutPointViewSet, MeasureViewSet
from ratings.api.cms_imports import CmsDataImportViewSet
from ratings.api.inputs import ContractMeasureScoreViewSet, ContractRatingProfileViewSet
from ratings.api.live import ContractEquityView, ContractRatingView
from ratings.api.projections import CutPointProjectionViewSet
from ratings.api.runs import ForecastViewSet, OptimizerRunViewSet
from ratings.api.snapshots import PortfolioSnapshotViewSet

router = SimpleRouter()
router.register("measures", MeasureViewSet, basename="measure")
router.register("cut-points", CutPointViewSet, basename="cutpoint")
router.register("cms-contracts", CmsContractViewSet, basename="cmscontract")
router.register("benchmark", BenchmarkViewSet, basename="benchmark")
router.register("cms-imports", CmsDataImportViewSet, basename="cmsdataimport")
router.register("cut-point-projections", CutPointProjectionViewSet, basename="cutpointprojection")
router.register("contract-measure-scores", ContractMeasureScoreViewSet, basename="contractmeasurescore")
router.register("rating-profiles", ContractRatingProfileViewSet, basename="contractratingprofile")
router.register("snapshots", PortfolioSnapshotViewSet, basename="portfoliosnapshot")
router.register("forecasts", ForecastViewSet, basename="forecast")
router.register("optimizer/runs", OptimizerRunViewSet, basename="optimizerrun")

urlpatterns = [
    path("contracts/<str:contract_id>/rating/", ContractRatingView.as_view(), name="contract-rating"),
    path("contracts/<str:contract_id>/equity/", ContractEquityView.as_view(), name="contract-equity"),
    path(
        "cms-contracts/<str:contract_id>/history/",
        CmsContractHistoryView.as_view(),
        name="cmscontract-history",
    ),
    path(
        "measures/<int:pk>/cut-point-history/",
        MeasureCutPointHistoryView.as_view(),
        name="measure-cut-point-history",
    ),
    *router.urls,
]
