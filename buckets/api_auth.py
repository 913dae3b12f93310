"""DRF authentication by OSS access-key signature. Kept apart from the API views:
DRF imports authentication classes while it is still loading its own views."""

from rest_framework import authentication, exceptions

from buckets import errors, signatures
from buckets.models import AccessKey


class OssSignatureAuthentication(authentication.BaseAuthentication):
    """The OSS V1/V4 signature (header or presigned), so scripts use their SDK keys."""

    def authenticate(self, request):
        try:
            key = signatures.authenticate(
                request._request, AccessKey.objects.find_active
            )
        except errors.OssError as error:
            raise exceptions.AuthenticationFailed(
                f"{error.code}: {error.message}"
            ) from None
        return (key.user, key) if key else None

    def authenticate_header(self, request):
        return "OSS"
