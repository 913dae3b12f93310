from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from buckets import views as bucket_views
from buckets.names import RESERVED_BUCKET_NAMES

_reserved = "|".join(sorted(RESERVED_BUCKET_NAMES))

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("console/", include("console.urls")),
    path("api/v1/", include("config.api_urls")),
    path("healthz", bucket_views.healthz, name="healthz"),
    path("", bucket_views.service_view, name="oss-service"),
    # Everything else whose first segment is not reserved is a bucket or object URL.
    re_path(
        rf"^(?!(?:{_reserved})(?:/|$))(?P<bucket_name>[^/]+)/?$",
        bucket_views.bucket_view,
        name="oss-bucket",
    ),
    re_path(
        rf"^(?!(?:{_reserved})(?:/|$))(?P<bucket_name>[^/]+)/(?P<key>[\s\S]+)$",
        bucket_views.object_view,
        name="oss-object",
    ),
]
