"""JSON API for Back-to-Origin rules, the fetch log and the dry run (/api/v1/buckets/{name}/...)."""

import copy

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from buckets.models import Bucket
from buckets.numbers import parse_decimal
from origin.dry_run import dry_run
from origin.models import BackToOriginRule, OriginFetch
from origin.protection import breaker_state
from origin.rule_warnings import bucket_warnings


def owned_bucket(request, name):
    return get_object_or_404(Bucket, name=name, owner=request.user)


class HeaderPairField(serializers.ListField):
    child = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        min_length=2,
        max_length=2,
    )


class HeaderConditionField(serializers.ListField):
    child = serializers.ListField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        min_length=2,
        max_length=3,
    )


class RuleSerializer(serializers.ModelSerializer):
    """A rule; validation is the model's clean(), so the API refuses what the console refuses."""

    include_headers = HeaderConditionField(
        required=False,
        help_text="[[name, value, match], ...]; match is equals (default), starts_with or ends_with",
    )
    pass_headers = serializers.ListField(child=serializers.CharField(), required=False)
    remove_headers = serializers.ListField(
        child=serializers.CharField(), required=False
    )
    set_headers = HeaderPairField(required=False, help_text="[[name, value], ...]")
    return_headers = HeaderPairField(required=False, help_text="[[name, value], ...]")
    mirror_tags = HeaderPairField(
        required=False, help_text="[[key, value], ...] object tags of saved copies"
    )
    alternates = serializers.ListField(
        child=serializers.ListField(min_length=2, max_length=2),
        required=False,
        help_text="[[number, base URL], ...], tried in number order",
    )
    transparent_codes = serializers.ListField(
        child=serializers.IntegerField(), required=False
    )
    auth_access_key_secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text="Write-only; omitted, the stored secret is kept while the AccessKey ID is the same.",
    )
    origin_url = serializers.CharField(read_only=True)
    breaker_state = serializers.SerializerMethodField(
        help_text='The circuit breaker: {"state": "closed|open|half-open", "failures": n, "open_until": ISO time or null}'
    )

    class Meta:
        model = BackToOriginRule
        exclude = ["bucket", "auth_sealed_secret"]
        read_only_fields = ["position", "created_at", "updated_at"]

    def get_breaker_state(self, rule) -> dict:
        return breaker_state(rule)

    def to_internal_value(self, data):
        # A setting this server does not have must not be accepted and ignored (SPEC §10).
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        if unknown:
            raise serializers.ValidationError(
                {name: ["This server does not support this field."] for name in unknown}
            )
        return super().to_internal_value(data)

    def validate(self, attrs):
        rule = self.instance or BackToOriginRule(bucket=self.context["bucket"])
        previous = copy.copy(rule) if self.instance else None
        secret = attrs.pop("auth_access_key_secret", None)
        for name, value in attrs.items():
            setattr(rule, name, value)
        try:
            rule.apply_auth_secret(secret, previous=previous)
            rule.full_clean(exclude=["position"])
        except DjangoValidationError as error:
            raise serializers.ValidationError(_field_errors(error)) from None
        self.validated_rule = rule
        return attrs

    def save(self, **kwargs):
        rule = self.validated_rule
        try:
            rule.save_in_order()
        except DjangoValidationError as error:  # lost a race for the last free slot
            raise serializers.ValidationError(_field_errors(error)) from None
        self.instance = rule
        return rule


def _field_errors(error):
    return {
        ("non_field_errors" if name == "__all__" else name): messages
        for name, messages in error.message_dict.items()
    }


class ReorderSerializer(serializers.Serializer):
    order = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Every rule id of the bucket, in the new evaluation order.",
    )


class RuleViewSet(viewsets.ModelViewSet):
    """Rules of one of the user's buckets, in evaluation order."""

    serializer_class = RuleSerializer
    lookup_value_regex = r"\d+"

    def get_bucket(self):
        if not hasattr(self, "_bucket"):
            self._bucket = owned_bucket(self.request, self.kwargs["bucket_name"])
        return self._bucket

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no bucket
            return BackToOriginRule.objects.none()
        return BackToOriginRule.objects.filter(bucket=self.get_bucket()).order_by(
            "position"
        )

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["bucket"] = self.get_bucket()
        return context

    def perform_destroy(self, instance):
        instance.clear()

    # Rule lint (origin/rule_lint.py): never blocking, returned after every change.
    def _warnings(self, rules=None):
        warnings = bucket_warnings(self.request, self.get_bucket(), rules)
        return [warning.as_dict() for warning in warnings]

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        if isinstance(response.data, dict):  # paginated: {"count", ..., "results"}
            # One page holds every rule (at most 20, pages of 50): no second query.
            response.data["warnings"] = self._warnings(self.paginator.page.object_list)
        return response

    def _with_warnings(self, response):
        """A saved rule's answer, with "warnings" when the bucket's rules have any."""
        warnings = self._warnings()
        if warnings:
            response.data["warnings"] = warnings
        return response

    def create(self, request, *args, **kwargs):
        return self._with_warnings(super().create(request, *args, **kwargs))

    def update(self, request, *args, **kwargs):
        return self._with_warnings(super().update(request, *args, **kwargs))

    @extend_schema(request=ReorderSerializer, responses=RuleSerializer(many=True))
    @action(detail=False, methods=["post"])
    def reorder(self, request, bucket_name):
        """Set the whole evaluation order in one call."""
        serializer = ReorderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = serializer.validated_data["order"]
        with transaction.atomic():
            Bucket.objects.select_for_update().get(pk=self.get_bucket().pk)
            rules = {rule.pk: rule for rule in self.get_queryset()}
            if sorted(order) != sorted(rules):
                raise serializers.ValidationError(
                    {
                        "order": [
                            f"List every rule id of the bucket exactly once: {sorted(rules)}."
                        ]
                    }
                )
            for position, rule_id in enumerate(order, start=1):
                BackToOriginRule.objects.filter(pk=rule_id).update(position=position)
        rules = RuleSerializer(self.get_queryset(), many=True).data
        all_warnings = self._warnings()
        for rule in rules:  # each rule's lint warnings, when it has any
            warnings = [w for w in all_warnings if w["rule"] == rule["position"]]
            if warnings:
                rule["warnings"] = warnings
        return Response(rules)


class FetchSerializer(serializers.ModelSerializer):
    class Meta:
        model = OriginFetch
        exclude = ["bucket"]


class FetchLogView(generics.ListAPIView):
    """Recent origin fetches of a bucket, newest first; filter by rule, outcome or key prefix."""

    serializer_class = FetchSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "rule", int, description="Only fetches made by this rule id."
            ),
            OpenApiParameter("outcome", str, enum=OriginFetch.Outcome.values),
            OpenApiParameter("key_prefix", str),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return OriginFetch.objects.none()
        fetches = OriginFetch.objects.filter(
            bucket=owned_bucket(self.request, self.kwargs["bucket_name"])
        )
        params = self.request.query_params
        rule_id = _rule_id(params.get("rule", ""))
        if rule_id is not None:
            fetches = fetches.filter(rule_id=rule_id)
        if params.get("outcome"):
            fetches = fetches.filter(outcome=params["outcome"])
        if params.get("key_prefix"):
            fetches = fetches.filter(key__startswith=params["key_prefix"])
        return fetches


MAX_ID = 2**63 - 1  # a BigAutoField


def _rule_id(text):
    """The ?rule= filter: a larger number matches no rule (not a 500), a non-number is no filter."""
    try:
        return parse_decimal(text, max_value=MAX_ID, clamp=True)
    except ValueError:
        return None


class DryRunRequestSerializer(serializers.Serializer):
    key = serializers.CharField(trim_whitespace=False)
    query = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="The query string, without '?'.",
    )
    headers = serializers.DictField(
        child=serializers.CharField(allow_blank=True, trim_whitespace=False),
        required=False,
        default=dict,
    )
    status = serializers.IntegerField(
        required=False,
        default=404,
        min_value=400,
        max_value=599,
        help_text="The status the request would otherwise get.",
    )
    probe = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also send a HEAD to the origin URL (this contacts the origin).",
    )


class DryRunView(APIView):
    """What a GET for a missing key would do, without fetching or saving anything."""

    @extend_schema(request=DryRunRequestSerializer, responses={200: dict})
    def post(self, request, bucket_name):
        bucket = owned_bucket(request, bucket_name)
        serializer = DryRunRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(
            dry_run(bucket, serializer.validated_data), status=status.HTTP_200_OK
        )
