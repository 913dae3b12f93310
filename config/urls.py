from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from buckets import views as bucket_views
from buckets.api import api_not_found, api_without_trailing_slash

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("console/", include("console.urls")),
    path("api/v1/", include("config.api_urls")),
    # /api/v1/buckets/ as DRF users type it; JSON, never HTML, for unknown /api/ paths.
    re_path(r"^api/(?P<path>.+)/$", api_without_trailing_slash),
    re_path(r"^api/", api_not_found),
    path("healthz", bucket_views.healthz, name="healthz"),
    # Last: the OSS endpoint takes every URL whose first segment is not reserved.
    path("", include("config.oss_urls")),
]

# Console pages for errors outside the OSS endpoint (JSON under /api/).
handler403 = "console.errors.permission_denied"
handler404 = "console.errors.page_not_found"
handler500 = "console.errors.server_error"
