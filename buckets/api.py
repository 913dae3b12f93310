"""JSON API for buckets (/api/v1/buckets), and the OpenAPI description of its
access-key authentication, whose class is in api_auth.py.

config/bucket_api.py adds what other apps count per bucket (Back-to-Origin rules).
"""

from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import JsonResponse
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from buckets.models import Bucket, StoredObject


def aggregate_per_bucket(model, aggregate):
    """`aggregate` over the model's rows of each bucket, 0 when it has none."""
    rows = (
        model.objects.filter(bucket=OuterRef("pk"))
        .order_by()
        .values("bucket")
        .annotate(value=aggregate)
        .values("value")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), Value(0))


class OssSignatureScheme(OpenApiAuthenticationExtension):
    target_class = "buckets.api_auth.OssSignatureAuthentication"
    name = "ossSignature"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`OSS <AccessKeyId>:<signature>` (V1) or `OSS4-HMAC-SHA256 Credential=..., Signature=...` (V4), signed as for the OSS API.",
        }


class BucketSerializer(serializers.ModelSerializer):
    object_count = serializers.IntegerField(read_only=True)
    total_size = serializers.IntegerField(read_only=True)

    class Meta:
        model = Bucket
        fields = [
            "name",
            "acl",
            "created_at",
            "object_count",
            "total_size",
        ]
        read_only_fields = ["created_at"]

    def validate_name(self, name):
        if self.instance is not None and name != self.instance.name:
            raise serializers.ValidationError("A bucket cannot be renamed.")
        return name

    def create(self, validated_data):
        bucket = Bucket.objects.create(
            owner=self.context["request"].user, **validated_data
        )
        # Not annotated like the queryset: without these the 201 body would lack the counts.
        bucket.object_count = bucket.total_size = 0
        return bucket


class BucketViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The user's buckets. Other users' buckets do not exist here (404)."""

    serializer_class = BucketSerializer
    lookup_field = "name"
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        # Subqueries, not joins: a join with another table (config/bucket_api.py adds
        # rules) would multiply the sums.
        return (
            Bucket.objects.filter(owner=self.request.user)
            .annotate(
                object_count=aggregate_per_bucket(StoredObject, Count("id")),
                total_size=aggregate_per_bucket(StoredObject, Sum("size")),
            )
            .order_by("name")
        )

    def get_serializer(self, *args, **kwargs):
        if self.action in ("update", "partial_update"):
            kwargs["partial"] = True
        return super().get_serializer(*args, **kwargs)

    def destroy(self, request, *args, **kwargs):
        bucket = self.get_object()
        if not bucket.is_empty():
            return Response(
                {
                    "detail": f"Bucket {bucket.name} still holds objects. Delete them first."
                },
                status=status.HTTP_409_CONFLICT,
            )
        bucket.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


# -- /api/ paths the router does not know ------------------------------------------


@csrf_exempt  # the API view it dispatches to decides (DRF checks CSRF for sessions)
def api_without_trailing_slash(request, path):
    """/api/v1/buckets/ (the form DRF users type) answers as /api/v1/buckets."""
    if path.endswith("/"):
        return api_not_found(request)
    try:
        match = resolve(f"/api/{path}")
    except Resolver404:
        return api_not_found(request)
    return match.func(request, *match.args, **match.kwargs)


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Unknown /api/ paths answer JSON like the rest of the API, never an HTML page."""
    return JsonResponse({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
