"""Block Public Access (PutPublicAccessBlock for a whole account,
PutBucketPublicAccessBlock for one bucket): while either is on, a bucket's or an
object's public ACL and a policy's grants to everyone (`*`) stop counting, and
putting new ones is refused. Turning it off again restores what was there."""

from buckets import errors
from buckets.models import AccountSettings


def account_blocks(user):
    try:
        return user.oss_account.block_public_access
    except AccountSettings.DoesNotExist:
        return False


def is_blocked(bucket):
    return bucket.block_public_access or account_blocks(bucket.owner)


PUBLIC_ACLS = ("public-read", "public-read-write")


def check_acl(bucket, acl):
    """Refuse setting a public ACL on the bucket or one of its objects while blocked."""
    if acl in PUBLIC_ACLS:
        check_may_grant_public_access(bucket)


def check_may_grant_public_access(bucket):
    """Refuse a public ACL or a policy grant to everyone while access is blocked."""
    if is_blocked(bucket):
        raise blocked_error()


def blocked_error():
    return errors.OssError(
        403,
        "AccessDenied",
        "Public access is blocked for this bucket (Block Public Access is on "
        "for the bucket or its account): a public ACL or a policy that grants "
        "access to everyone is not allowed.",
    )
