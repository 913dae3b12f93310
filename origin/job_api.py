"""JSON API of warm-up and refresh jobs (SPEC §11):
/api/v1/buckets/{name}/warmups[/{id}[/cancel|pause|resume]] and .../refresh."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from origin import jobs
from origin.api import owned_bucket
from origin.job_models import MigrationJob

MAX_LISTED = 100
MAX_ID = 2**63 - 1


class JobSerializer(serializers.ModelSerializer):
    done = serializers.IntegerField(read_only=True)
    errors = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    list_origin = serializers.SerializerMethodField()

    class Meta:
        model = MigrationJob
        fields = [
            "id",
            "url",
            "kind",
            "status",
            "source",
            "list_origin",
            "prefix",
            "concurrency",
            "skip_existing",
            "total",
            "done",
            "saved",
            "skipped",
            "failed",
            "bytes",
            "reason",
            "errors",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_errors(self, job) -> list[dict]:
        return jobs.errors_of(job)

    def get_url(self, job) -> str:
        return job_url(self.context["request"], job)

    def get_list_origin(self, job) -> dict | None:
        if job.source != MigrationJob.Source.LIST_ORIGIN:
            return None
        return {"rule": job.rule_position, "prefix": job.prefix}


def job_url(request, job):
    return request.build_absolute_uri(
        reverse(
            "api-job",
            kwargs={"bucket_name": job.bucket.name, "job_id": job.pk},
        )
    )


class WarmupRequestSerializer(serializers.Serializer):
    keys = serializers.ListField(child=serializers.CharField(), required=False)
    list_origin = serializers.DictField(
        required=False, help_text='{"rule": <position>, "prefix": "..."}'
    )
    concurrency = serializers.IntegerField(required=False, default=4)
    skip_existing = serializers.BooleanField(required=False, default=True)


class RefreshRequestSerializer(serializers.Serializer):
    keys = serializers.ListField(child=serializers.CharField(), required=False)
    prefix = serializers.CharField(required=False, allow_blank=True)
    concurrency = serializers.IntegerField(required=False, default=4)


def _created(request, bucket, kind, allowed):
    body = request.data
    if not isinstance(body, dict):
        return Response(
            {"detail": "The body must be a JSON object."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        # A setting this server does not have is refused, not ignored (SPEC §10).
        return Response(
            {name: ["This server does not support this field."] for name in unknown},
            status=status.HTTP_400_BAD_REQUEST,
        )
    try:
        job = jobs.create_job(
            bucket,
            request.user,
            kind=kind,
            keys=body.get("keys"),
            list_origin=body.get("list_origin"),
            prefix=body.get("prefix"),
            concurrency=body.get("concurrency", 4),
            skip_existing=body.get("skip_existing", True),
        )
    except jobs.JobRequestError as error:
        return Response(
            {error.field: [error.message]}, status=status.HTTP_400_BAD_REQUEST
        )
    answer = JobSerializer(job, context={"request": request}).data
    return Response(
        answer, status=status.HTTP_201_CREATED, headers={"Location": answer["url"]}
    )


class WarmupListView(APIView):
    """Warm-up jobs copy keys (given, or listed from a rule's origin) into the bucket."""

    @extend_schema(responses={200: JobSerializer(many=True)})
    def get(self, request, bucket_name):
        bucket = owned_bucket(request, bucket_name)
        recent = bucket.migration_jobs.all()[:MAX_LISTED]
        return Response(
            JobSerializer(recent, many=True, context={"request": request}).data
        )

    @extend_schema(request=WarmupRequestSerializer, responses={201: JobSerializer})
    def post(self, request, bucket_name):
        bucket = owned_bucket(request, bucket_name)
        return _created(
            request,
            bucket,
            MigrationJob.Kind.WARMUP,
            ("keys", "list_origin", "concurrency", "skip_existing"),
        )


class RefreshView(APIView):
    """A refresh job fetches objects again and replaces each only when the new copy is complete."""

    @extend_schema(request=RefreshRequestSerializer, responses={201: JobSerializer})
    def post(self, request, bucket_name):
        bucket = owned_bucket(request, bucket_name)
        return _created(
            request,
            bucket,
            MigrationJob.Kind.REFRESH,
            ("keys", "prefix", "concurrency"),
        )


def _owned_job(request, bucket_name, job_id):
    bucket = owned_bucket(request, bucket_name)
    if job_id > MAX_ID:  # no such row, and more than the database's integers hold
        raise Http404
    return get_object_or_404(MigrationJob, bucket=bucket, pk=job_id)


class JobView(APIView):
    @extend_schema(responses={200: JobSerializer})
    def get(self, request, bucket_name, job_id):
        job = _owned_job(request, bucket_name, job_id)
        return Response(JobSerializer(job, context={"request": request}).data)


class JobControlView(APIView):
    """Pause, resume or cancel a job; 409 when its status does not allow it."""

    action_name = ""

    @extend_schema(request=None, responses={200: JobSerializer})
    def post(self, request, bucket_name, job_id):
        job = _owned_job(request, bucket_name, job_id)
        try:
            job = jobs.control(job, self.action_name)
        except jobs.JobStateError as error:
            return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)
        return Response(JobSerializer(job, context={"request": request}).data)
