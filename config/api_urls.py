"""/api/v1/: the JSON API, its OpenAPI schema and docs page (served locally)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from config.bucket_api import BucketViewSet
from origin.api import DryRunView, FetchLogView, RuleViewSet
from origin.job_api import (
    JobControlView,
    JobView,
    RefreshView,
    WarmupListView,
)
from origin.transfer_api import RulesExportView

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
    path(
        "buckets/<str:bucket_name>/warmups",
        WarmupListView.as_view(),
        name="api-warmups",
    ),
    path(
        "buckets/<str:bucket_name>/warmups/<int:job_id>",
        JobView.as_view(),
        name="api-job",
    ),
    *[
        path(
            f"buckets/<str:bucket_name>/warmups/<int:job_id>/{action}",
            JobControlView.as_view(action_name=action),
            name=f"api-job-{action}",
        )
        for action in ("cancel", "pause", "resume")
    ],
    path(
        "buckets/<str:bucket_name>/refresh",
        RefreshView.as_view(),
        name="api-refresh",
    ),
    path("schema", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "docs", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"
    ),
    *router.urls,
]

urlpatterns += [
    path(
        "buckets/<str:bucket_name>/rules/export",
        RulesExportView.as_view(),
        name="api-rules-export",
    ),
]
