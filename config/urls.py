from django.contrib.auth import views as auth_views
from django.urls import include, path

from buckets import views as bucket_views

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("console/", include("console.urls")),
    path("api/v1/", include("config.api_urls")),
    path("healthz", bucket_views.healthz, name="healthz"),
    # Last: the OSS endpoint takes every URL whose first segment is not reserved.
    path("", include("config.oss_urls")),
]
