"""Redirection rules on error statuses other than 404 (SPEC §10): a rule that says 403
fires when a GET would otherwise be answered 403 AccessDenied. Mirroring and
Internal rules only ever act on a missing object the requester may read (404)."""

import pytest
from django.test import Client

from buckets.models import Bucket

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_bucket(alice):
    return Bucket.objects.create(owner=alice, name="alice-private")


def test_a_403_redirection_fires_for_a_request_that_is_denied(
    private_bucket, put_object, make_rule
):
    put_object(private_bucket, "report.pdf", b"secret")
    make_rule(
        private_bucket,
        mode="redirect",
        http_status=403,
        protocol="https",
        host="login.example.com",
        redirect_code=302,
    )

    response = Client().get("/alice-private/report.pdf?x=1")

    assert response.status_code == 302
    assert response["Location"] == "https://login.example.com/report.pdf"
    assert response["x-oss-request-id"]


def test_a_404_redirection_does_not_fire_on_a_denied_request(private_bucket, make_rule):
    make_rule(private_bucket, mode="redirect", protocol="https", host="a.example.com")

    response = Client().get("/alice-private/missing.txt")

    assert response.status_code == 403


def test_an_internal_rule_never_serves_a_denied_request(
    private_bucket, put_object, make_rule
):
    put_object(private_bucket, "public/page.html", b"not for anonymous readers")
    make_rule(
        private_bucket,
        mode="redirect",
        http_status=403,
        redirect_type="Internal",
        host="",  # an Internal rule takes none; the factory would give www.example.com
        redirect_target="fixed",
        target_fixed_path="public/page.html",
    )

    response = Client().get("/alice-private/anything")

    assert response.status_code == 403
    assert b"not for anonymous readers" not in response.content


def test_the_dry_run_says_why_an_internal_rule_does_not_apply_to_403(
    alice_client, private_bucket, make_rule
):
    make_rule(
        private_bucket,
        mode="redirect",
        http_status=403,
        redirect_type="Internal",
        host="",  # an Internal rule takes none; the factory would give www.example.com
        redirect_target="fixed",
        target_fixed_path="public/page.html",
    )

    answer = alice_client.post(
        "/api/v1/buckets/alice-private/rules/dry-run",
        {"key": "anything", "status": 403},
        content_type="application/json",
    ).json()

    assert answer["matched"] is False
    assert (
        "Internal rule only serves missing objects"
        in (answer["not_matched"][0]["reason"])
    )
