"""Server-side encryption settings: the bucket's default rule (PutBucketEncryption,
GetBucketEncryption, DeleteBucketEncryption, owner only) and the
x-oss-server-side-* headers of object writes. buckets/envelope.py does the
encrypting; this module decides with what, and refuses what OSS refuses.

As on OSS: SSEAlgorithm is AES256, KMS or SM4; a KMS key id only goes with KMS;
the data encryption SM4 only means something with KMS and is dropped otherwise
(oss2's suite sends AES256 + SM4 and expects AES256 back). A bucket rule applies
to objects written without headers of their own; an object keeps what it was
written with (a later append cannot change it, DeleteBucketEncryption neither).
"""

import re

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from buckets import errors, oss_xml
from buckets.envelope import Sse, bucket_default, for_objects_of
from buckets.models import Bucket
from buckets.oss_access import empty_response, owned_bucket, read_xml_body

HEADER_ALGORITHM = "x-oss-server-side-encryption"
HEADER_DATA_ALGORITHM = "x-oss-server-side-data-encryption"
HEADER_KEY_ID = "x-oss-server-side-encryption-key-id"
HEADERS = (HEADER_ALGORITHM, HEADER_DATA_ALGORITHM, HEADER_KEY_ID)
ELEMENTS = ("SSEAlgorithm", "KMSDataEncryption", "KMSMasterKeyID")

ALGORITHMS = ("AES256", "KMS", "SM4")
DATA_ALGORITHMS = ("SM4",)
# Printable ASCII: a key id goes back out in a header and in XML unchanged.
_KEY_ID_RE = re.compile(r"[\x21-\x7e]{1,256}")


def checked_setting(algorithm, data_algorithm, key_id, names):
    """The Sse named by the three values, else OSS's error naming `names`'s field
    (the header or XML element each value came from)."""
    algorithm_name, data_name, key_id_name = names
    if algorithm not in ALGORITHMS:
        raise errors.OssError(
            400,
            "InvalidEncryptionAlgorithmError",
            "The Encryption request you specified is not valid. "
            "Supported value: AES256/KMS/SM4",
            ArgumentName=algorithm_name,
            ArgumentValue=algorithm,
        )
    _check_data_algorithm(data_algorithm, data_name)
    if key_id and algorithm != "KMS":
        raise errors.invalid_argument(
            f"{key_id_name} is only valid when {algorithm_name} is KMS.",
            key_id_name,
            key_id,
        )
    if key_id and not _KEY_ID_RE.fullmatch(key_id):
        raise errors.invalid_argument(
            f"{key_id_name} must be 1 to 256 printable ASCII characters.",
            key_id_name,
            key_id,
        )
    return Sse(algorithm, data_algorithm if algorithm == "KMS" else "", key_id)


def _check_data_algorithm(value, name):
    if value and value not in DATA_ALGORITHMS:
        raise errors.invalid_argument(f"{name} only supports SM4.", name, value)


# -- headers ---------------------------------------------------------------------


def requested(request):
    """The Sse the request's x-oss-server-side-* headers name, None if they name none.
    A data encryption without an algorithm is dropped, as OSS does."""
    algorithm = request.headers.get(HEADER_ALGORITHM)
    data_algorithm = request.headers.get(HEADER_DATA_ALGORITHM, "")
    key_id = request.headers.get(HEADER_KEY_ID, "")
    if algorithm is None:
        if key_id:
            raise errors.invalid_argument(
                f"{HEADER_KEY_ID} is only valid with {HEADER_ALGORITHM}: KMS.",
                HEADER_KEY_ID,
                key_id,
            )
        _check_data_algorithm(data_algorithm, HEADER_DATA_ALGORITHM)
        return None
    return checked_setting(algorithm, data_algorithm, key_id, HEADERS)


def for_new_object(request, bucket):
    """What a new object is encrypted with: its headers', else the bucket's default
    (PLAIN when neither names one)."""
    sse = requested(request)
    return bucket_default(bucket) if sse is None else for_objects_of(bucket, sse)


def for_existing_object(request, stored):
    """A write that continues an object (a later append) keeps its encryption;
    headers are still checked, and otherwise ignored, as on OSS."""
    requested(request)
    return Sse.from_dict(stored)


def refuse_headers(request, operation):
    """UploadPart and CompleteMultipartUpload take the upload's encryption:
    headers of their own are InvalidArgument (oss2's suite expects it)."""
    for name in HEADERS:
        if name in request.headers:
            raise errors.invalid_argument(
                f"{operation} does not take {name}: the encryption is set by "
                "InitiateMultipartUpload.",
                name,
                request.headers[name],
            )


def create_bucket_fields(request):
    """Bucket fields of PutBucket's x-oss-server-side-* headers: the default rule."""
    sse = requested(request)
    return {"encryption": sse.as_dict()} if sse else {}


# -- the bucket rule ----------------------------------------------------------------


def rule_from_document(body):
    """The Sse of a ServerSideEncryptionRule document, else MalformedXML or OSS's error."""
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException):
        raise errors.malformed_xml() from None
    apply = (
        root.find("ApplyServerSideEncryptionByDefault")
        if root.tag == "ServerSideEncryptionRule"
        else None
    )
    if apply is None or apply.find("SSEAlgorithm") is None:
        raise errors.malformed_xml(
            "ServerSideEncryptionRule needs ApplyServerSideEncryptionByDefault/SSEAlgorithm."
        )
    algorithm, data_algorithm, key_id = (
        (apply.findtext(name) or "").strip() for name in ELEMENTS
    )
    return checked_setting(algorithm, data_algorithm, key_id, ELEMENTS)


def put_bucket_encryption(request, bucket_name):
    """PUT ?encryption: the rule replaces the bucket's; existing objects keep theirs."""
    bucket = owned_bucket(request, bucket_name)
    rule = rule_from_document(read_xml_body(request))
    Bucket.objects.filter(pk=bucket.pk).update(encryption=rule.as_dict())
    return empty_response()


def get_bucket_encryption(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    if not bucket.encryption:
        raise errors.not_configured(
            "NoSuchServerSideEncryptionRule",
            "The server-side encryption configuration does not exist.",
            bucket_name,
        )
    return oss_xml.xml_response(oss_xml.server_side_encryption_rule(bucket.encryption))


def delete_bucket_encryption(request, bucket_name):
    """DELETE ?encryption: new objects are plain again; stored ones stay encrypted."""
    bucket = owned_bucket(request, bucket_name)
    Bucket.objects.filter(pk=bucket.pk).update(encryption={})
    return empty_response(204)
