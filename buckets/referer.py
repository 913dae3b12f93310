"""Hotlink protection, as OSS has it: PutBucketReferer / GetBucketReferer
(`?referer`) and the Referer check on reads of objects.

OSS checks the Referer of requests that come as a URL: anonymous ones and signed
URLs. A request signed in its Authorization header is not checked (nor, here, the
bucket owner's console session). The blacklist wins over the whitelist; an empty
whitelist allows every Referer the blacklist does not name; an empty or missing
Referer is allowed only with AllowEmptyReferer. Patterns take `*` (any run of
characters) and `?` (any one), and match case-insensitively.
"""

from dataclasses import asdict, dataclass

from buckets import errors, oss_xml
from buckets.bucket_operations import _parse_xml
from buckets.models import RefererConfiguration
from buckets.oss_access import empty_response, owned_bucket, read_xml_body, xml_bool
from buckets.wildcards import wildcard_match

# OSS limits the Referer lists of a bucket to 20 KB in all.
MAX_REFERER_BYTES = 20 * 1024


@dataclass(frozen=True)
class RefererPolicy:
    allow_empty: bool = True
    allow_truncate_query_string: bool = True
    truncate_path: bool = False
    referers: tuple[str, ...] = ()
    blacklist: tuple[str, ...] = ()

    def allows(self, referer):
        """Whether a request with this Referer header ('' when none) may read."""
        if not referer:
            return self.allow_empty
        compared = self.compared_part(referer)
        if any(self._match(pattern, compared) for pattern in self.blacklist):
            return False
        return not self.referers or any(
            self._match(pattern, compared) for pattern in self.referers
        )

    def compared_part(self, referer):
        """What the patterns are matched against: the Referer without its query
        string (AllowTruncateQueryString) or without its path (TruncatePath)."""
        if self.truncate_path:
            scheme, separator, rest = referer.partition("://")
            if not separator:
                scheme, rest = "", referer
            host = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
            return f"{scheme}{separator}{host}"
        if self.allow_truncate_query_string:
            return referer.split("?", 1)[0].split("#", 1)[0]
        return referer

    @staticmethod
    def _match(pattern, referer):
        return wildcard_match(pattern, referer, question_mark=True)


def bucket_policy(bucket):
    """The bucket's RefererPolicy: OSS's default when none is set. No query when
    the bucket came from oss_access.get_bucket, which joins the row in."""
    try:
        configuration = bucket.referer_configuration
    except RefererConfiguration.DoesNotExist:
        return RefererPolicy()
    return RefererPolicy(
        allow_empty=configuration.allow_empty,
        allow_truncate_query_string=configuration.allow_truncate_query_string,
        truncate_path=configuration.truncate_path,
        referers=tuple(configuration.referers),
        blacklist=tuple(configuration.blacklist),
    )


# -- the XML document ----------------------------------------------------------------


def parse_configuration(body):
    """The RefererPolicy a RefererConfiguration document sets. AllowEmptyReferer
    is required; the rest, when left out, take OSS's defaults (a PUT replaces the
    whole configuration)."""
    root = _parse_xml(body, "RefererConfiguration")
    if root.find("AllowEmptyReferer") is None:
        raise errors.malformed_xml("RefererConfiguration needs AllowEmptyReferer.")
    policy = RefererPolicy(
        allow_empty=xml_bool(root, "AllowEmptyReferer", default=True),
        allow_truncate_query_string=xml_bool(
            root, "AllowTruncateQueryString", default=True
        ),
        truncate_path=xml_bool(root, "TruncatePath", default=False),
        referers=_referers(root, "RefererList"),
        blacklist=_referers(root, "RefererBlacklist"),
    )
    if policy.truncate_path and not policy.allow_truncate_query_string:
        raise errors.invalid_argument(
            "TruncatePath needs AllowTruncateQueryString to be true.",
            "TruncatePath",
            "true",
        )
    size = sum(len(value.encode()) for value in policy.referers + policy.blacklist)
    if size > MAX_REFERER_BYTES:
        raise errors.invalid_argument(
            f"The Referer lists hold {size} bytes; at most {MAX_REFERER_BYTES} are allowed.",
            "RefererList",
            str(size),
        )
    return policy


def _referers(root, list_tag):
    values = tuple(
        (node.text or "").strip() for node in root.findall(f"{list_tag}/Referer")
    )
    if "" in values:
        raise errors.invalid_argument(
            f"A Referer in {list_tag} is empty.", "Referer", ""
        )
    return values


def configuration_xml(policy):
    return oss_xml.element(
        "RefererConfiguration",
        children=[
            oss_xml.element("AllowEmptyReferer", str(policy.allow_empty).lower()),
            oss_xml.element(
                "AllowTruncateQueryString",
                str(policy.allow_truncate_query_string).lower(),
            ),
            oss_xml.element("TruncatePath", str(policy.truncate_path).lower()),
            oss_xml.element(
                "RefererList",
                children=[
                    oss_xml.element("Referer", value) for value in policy.referers
                ],
            ),
            oss_xml.element(
                "RefererBlacklist",
                children=[
                    oss_xml.element("Referer", value) for value in policy.blacklist
                ],
            ),
        ],
    )


# -- the operations and the check ----------------------------------------------------


def put_bucket_referer(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    policy = parse_configuration(read_xml_body(request))
    # The model's fields are the policy's.
    RefererConfiguration.objects.update_or_create(
        bucket=bucket, defaults=asdict(policy)
    )
    return empty_response(200)


def get_bucket_referer(request, bucket_name):
    """With nothing set, OSS's default: empty Referers allowed, empty lists."""
    bucket = owned_bucket(request, bucket_name)
    return oss_xml.xml_response(configuration_xml(bucket_policy(bucket)))


def _is_checked(request, bucket):
    if request.headers.get("Authorization") and request.oss_user is not None:
        return False  # signed in the header, not a URL
    session_user = getattr(request, "user", None)
    return not (request.oss_user is None and bucket.is_owned_by(session_user))


def check_referer(request, bucket):
    """Refuse a read that the bucket's Referer configuration does not allow."""
    if not _is_checked(request, bucket):
        return
    if not bucket_policy(bucket).allows(request.headers.get("Referer", "")):
        raise errors.access_denied("You are denied by bucket referer policy.")
