"""A bucket's HTTPS configuration (`?httpsConfig`): the setting through the real oss2
SDK against gunicorn, and its effect through Django's test client, with the TLS
version in the header the proxy in front sets (settings.TLS_VERSION_HEADER)."""

import uuid

import oss2
import pytest
from oss2.models import BucketTlsVersion

from buckets.models import Bucket
from tests.oss_responses import error_code

TLS_HEADER = "X-Forwarded-TLS-Version"


def https_config(enabled, *versions):
    written = "".join(f"<TLSVersion>{v}</TLSVersion>" for v in versions)
    return (
        f"<HttpsConfiguration><TLS><Enable>{enabled}</Enable>{written}</TLS>"
        "</HttpsConfiguration>"
    ).encode()


@pytest.mark.server
class TestTheSetting:
    @pytest.fixture
    def bucket(self, as_user):
        created = as_user("alice", f"tls-{uuid.uuid4().hex[:12]}")
        created.create_bucket()
        return created

    def test_it_round_trips_without_duplicates(self, bucket):
        default = bucket.get_bucket_https_config()
        assert (default.tls_enabled, default.tls_version) == (False, [])

        bucket.put_bucket_https_config(
            BucketTlsVersion(True, ["TLSv1.2", "TLSv1.3", "TLSv1.2"])
        )
        got = bucket.get_bucket_https_config()
        assert (got.tls_enabled, got.tls_version) == (True, ["TLSv1.2", "TLSv1.3"])

        bucket.put_bucket_https_config(BucketTlsVersion())
        got = bucket.get_bucket_https_config()
        assert (got.tls_enabled, got.tls_version) == (False, [])

    @pytest.mark.parametrize("versions", [None, ["SSLv3"], ["aaa", "bbb"]])
    def test_what_is_not_a_tls_setting_is_malformed_xml(self, bucket, versions):
        bucket.put_bucket_https_config(BucketTlsVersion(True, ["TLSv1.3"]))
        with pytest.raises(oss2.exceptions.ServerError) as refused:
            bucket.put_bucket_https_config(BucketTlsVersion(True, versions))
        assert refused.value.code == "MalformedXML"
        assert bucket.get_bucket_https_config().tls_version == ["TLSv1.3"]

    def test_only_the_owner_sets_it(self, bucket, as_user):
        with pytest.raises(oss2.exceptions.AccessDenied):
            as_user("bob", bucket.bucket_name).put_bucket_https_config(
                BucketTlsVersion(True, ["TLSv1.3"])
            )


@pytest.mark.django_db
class TestTheEffect:
    @pytest.fixture
    def bucket(self, alice, put_object):
        bucket = Bucket.objects.create(owner=alice, name="alice-bucket")
        put_object(bucket, "a.txt", b"a")
        return bucket

    def get(self, client, version=None):
        headers = {TLS_HEADER: version} if version is not None else {}
        return client("GET", "alice-bucket", "a.txt", headers=headers)

    def configure(self, client, body):
        response = client("PUT", "alice-bucket", params={"httpsConfig": ""}, body=body)
        assert response.status_code == 200

    def test_other_tls_versions_are_refused_plain_http_is_not(
        self, alice_signed_client, bucket
    ):
        assert self.get(alice_signed_client, "TLSv1.1").status_code == 200

        self.configure(alice_signed_client, https_config("true", "TLSv1.2", "TLSv1.3"))

        refused = self.get(alice_signed_client, "TLSv1.1")
        assert (refused.status_code, error_code(refused)) == (403, "AccessDenied")
        assert b"TLSv1.1" in refused.content
        # nginx names TLS 1.0 "TLSv1".
        assert self.get(alice_signed_client, "TLSv1").status_code == 403
        assert self.get(alice_signed_client, "TLSv1.3").status_code == 200
        assert self.get(alice_signed_client, "").status_code == 200  # plain HTTP
        assert self.get(alice_signed_client).status_code == 200

        self.configure(alice_signed_client, https_config("false"))
        assert self.get(alice_signed_client, "TLSv1.1").status_code == 200

    def test_bucket_operations_are_judged_too(self, alice_signed_client, bucket):
        self.configure(alice_signed_client, https_config("true", "TLSv1.3"))
        listing = alice_signed_client(
            "GET", "alice-bucket", headers={TLS_HEADER: "TLSv1.2"}
        )
        assert listing.status_code == 403

    def test_a_document_that_is_not_one_changes_nothing(
        self, alice_signed_client, bucket
    ):
        response = alice_signed_client(
            "PUT", "alice-bucket", params={"httpsConfig": ""}, body=b"<TLS/>"
        )
        assert (response.status_code, error_code(response)) == (400, "MalformedXML")
        bucket.refresh_from_db()
        assert (bucket.tls_enabled, bucket.tls_versions) == (False, [])
