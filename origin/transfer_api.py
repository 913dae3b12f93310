"""GET /api/v1/buckets/{name}/rules/export: the rules as OSS WebsiteConfiguration XML."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from origin import rule_transfer
from origin.api import owned_bucket


class RulesExportView(APIView):
    """The bucket's rules exactly as GET ?website writes them (secrets never included);
    the console's Import (and PUT ?website) take the same document back."""

    @extend_schema(responses={(200, "application/xml"): OpenApiTypes.STR})
    def get(self, request, bucket_name):
        bucket = owned_bucket(request, bucket_name)
        response = HttpResponse(
            rule_transfer.export_xml(bucket), content_type="application/xml"
        )
        filename = rule_transfer.export_filename(bucket)
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
