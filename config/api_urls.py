"""/api/v1/: the JSON API, its OpenAPI schema and docs page (served locally)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from config.bucket_api import BucketViewSet
from origin.api import DryRunView, FetchLogView, RuleViewSet

router = SimpleRouter(trailing_slash=False)
router.register("buckets", BucketViewSet, basename="api-bucket")
router.register(
    r"buckets/(?P<bucket_name>[^/]+)/rules", RuleViewSet, basename="api-rule"
)

urlpatterns = [
    path(
        "buckets/<str:bucket_name>/rules/dry-run",
        DryRunView.as_view(),
        name="api-rule-dry-run",
    ),
    path(
        "buckets/<str:bucket_name>/fetches",
        FetchLogView.as_view(),
        name="api-fetch-log",
    ),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"
    ),
    *router.urls,
]
