"""Pay-by-requester (PutBucketRequestPayment with Payer Requester). Nobody is billed
here, but the access rule that comes with it is OSS's and is kept: anyone but the
owner must be signed in and must say `x-oss-request-payer: requester` (a header, or
a parameter of a signed URL), else 403 AccessDenied."""

from buckets import errors
from buckets.models import Bucket

PAYER_HEADER = "x-oss-request-payer"
# OSS's EC for each way of failing (its documentation's codes).
ANONYMOUS_EC, SIGNED_URL_EC, HEADER_EC = (
    "0003-00000701",
    "0003-00000702",
    "0003-00000703",
)
URL_SIGNATURE_PARAMETERS = ("Signature", "x-oss-signature")


def check_payer(request, bucket, user):
    """Called for a request of anyone but the bucket's owner."""
    if bucket.request_payer != Bucket.Payer.REQUESTER:
        return
    if user is None:
        raise errors.OssError(
            403,
            "AccessDenied",
            "Anonymous access is forbidden for this operation: the requester pays.",
            EC=ANONYMOUS_EC,
        )
    said = request.headers.get(PAYER_HEADER) or request.GET.get(PAYER_HEADER, "")
    if said.strip().lower() != "requester":
        signed_url = any(name in request.GET for name in URL_SIGNATURE_PARAMETERS)
        raise errors.OssError(
            403,
            "AccessDenied",
            f"The requester pays for this bucket: send {PAYER_HEADER}: requester.",
            EC=SIGNED_URL_EC if signed_url else HEADER_EC,
        )
