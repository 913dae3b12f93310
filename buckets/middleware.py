from django.conf import settings

from buckets.names import RESERVED_BUCKET_NAMES


class VirtualHostBucketMiddleware:
    """Route <bucket>.<OSS_DOMAIN>/<key> to the path-style /<bucket>/<key>."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.suffix = "." + settings.OSS_DOMAIN if settings.OSS_DOMAIN else None

    def __call__(self, request):
        if self.suffix:
            host = request.get_host().rsplit(":", 1)[0].lower()
            if host.endswith(self.suffix):
                bucket = host[: -len(self.suffix)]
                # A reserved name (console, api...) is never a bucket; leave such hosts alone.
                if bucket and "." not in bucket and bucket not in RESERVED_BUCKET_NAMES:
                    request.path_info = f"/{bucket}{request.path_info}"
                    request.path = f"{request.META.get('SCRIPT_NAME', '').rstrip('/')}{request.path_info}"
        return self.get_response(request)
