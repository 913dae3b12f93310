"""/api/v1/buckets as the project serves it: the buckets app's API plus each
bucket's Back-to-Origin rule count, which only origin/ knows about."""

from django.db.models import Count
from rest_framework import serializers

from buckets import api as buckets_api
from origin.models import BackToOriginRule


class BucketSerializer(buckets_api.BucketSerializer):
    rule_count = serializers.IntegerField(read_only=True)

    class Meta(buckets_api.BucketSerializer.Meta):
        fields = [*buckets_api.BucketSerializer.Meta.fields, "rule_count"]

    def create(self, validated_data):
        bucket = super().create(validated_data)
        bucket.rule_count = 0  # a new bucket has no rules, and no annotation either
        return bucket


class BucketViewSet(buckets_api.BucketViewSet):
    serializer_class = BucketSerializer

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .annotate(
                rule_count=buckets_api.aggregate_per_bucket(
                    BackToOriginRule, Count("id")
                )
            )
        )
