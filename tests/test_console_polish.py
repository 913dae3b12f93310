"""Console polish (issue 15) through Django's test client: error pages, JSON under /api/,
titles, guidance texts, confirmations that change nothing, and the template helpers."""

import re

import pytest
from django.urls import reverse

from buckets.models import AccessKey, Bucket
from console.rule_forms import RuleForm
from console.templatetags.console_tags import size_with_bytes, url_breaks
from origin.models import BackToOriginRule

HTMX = {"HX-Request": "true"}


# -- 12: the JSON API --------------------------------------------------------------


@pytest.mark.django_db
def test_api_buckets_answers_with_and_without_the_trailing_slash(api, bucket):
    without = api.get("/api/v1/buckets")
    with_slash = api.get("/api/v1/buckets/")

    assert without.status_code == with_slash.status_code == 200
    assert with_slash["Content-Type"] == "application/json"
    assert with_slash.json() == without.json()
    assert [row["name"] for row in with_slash.json()["results"]] == ["alice-bucket"]


@pytest.mark.django_db
def test_api_detail_and_create_accept_the_trailing_slash(api, alice):
    created = api.post("/api/v1/buckets/", {"name": "alice-slash"}, format="json")
    assert created.status_code == 201
    assert Bucket.objects.filter(owner=alice, name="alice-slash").exists()

    detail = api.get("/api/v1/buckets/alice-slash/")
    assert detail.status_code == 200
    assert detail.json()["name"] == "alice-slash"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nothing",
        "/api/v1/nothing/",
        "/api/v1/buckets/alice-bucket/nothing/",
        "/api/v2/buckets",
        "/api/",
        "/api/v1/buckets//",
    ],
)
def test_unknown_api_paths_answer_json_404(api, bucket, path):
    response = api.get(path)

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"detail": "Not found."}


@pytest.mark.django_db
def test_another_users_bucket_with_a_slash_is_404_json(bob_api, bucket):
    response = bob_api.get("/api/v1/buckets/alice-bucket/")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


@pytest.mark.django_db
def test_an_anonymous_post_with_a_slash_is_refused_not_created(client):
    response = client.post(
        "/api/v1/buckets/", {"name": "nobodys"}, content_type="application/json"
    )

    assert response.status_code in (401, 403)
    assert response["Content-Type"] == "application/json"
    assert not Bucket.objects.filter(name="nobodys").exists()


# -- 8: error pages -------------------------------------------------------------------


@pytest.mark.django_db
def test_console_404_is_a_page_with_a_way_back(alice_client):
    response = alice_client.get("/console/buckets/no-such-bucket/")

    assert response.status_code == 404
    assert "<title>Page not found · OSS Console</title>" in response.text
    assert f'href="{reverse("console-home")}">Back to your buckets</a>' in response.text


@pytest.mark.django_db
def test_404_for_someone_logged_out_offers_the_log_on_page(client):
    response = client.get("/accounts/nothing-here")

    assert response.status_code == 404
    assert "Page not found" in response.text
    assert f'href="{reverse("login")}">Log on</a>' in response.text


@pytest.mark.django_db
def test_the_object_endpoint_still_answers_oss_xml(client, bucket):
    response = client.get("/no-such-bucket/key.txt")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/xml")
    assert "<Code>NoSuchBucket</Code>" in response.text


def test_the_500_page_needs_no_context_and_links_back(rf):
    from console.errors import server_error

    response = server_error(rf.get("/console/"))

    assert response.status_code == 500
    assert b"Back to the console" in response.content


def test_an_api_500_is_json(rf):
    from console.errors import server_error

    response = server_error(rf.get("/api/v1/buckets"))

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"


def test_permission_denied_is_a_console_page_or_json(rf):
    from console.errors import permission_denied

    page = permission_denied(rf.get("/console/x"))
    api = permission_denied(rf.get("/api/v1/x"))

    assert page.status_code == api.status_code == 403
    assert b"Access denied" in page.content
    assert api["Content-Type"] == "application/json"


# -- 11: titles, favicon, sizes, log-out --------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url_name", "query", "title"),
    [
        ("console-bucket", "", "Overview · alice-bucket · OSS Console"),
        ("console-files", "", "Files · alice-bucket · OSS Console"),
        ("console-settings", "", "Basic Settings · alice-bucket · OSS Console"),
        ("console-rules", "", "Basic Settings · alice-bucket · OSS Console"),
        (
            "console-object",
            "key=docs/a.txt",
            "a.txt · Files · alice-bucket · OSS Console",
        ),
    ],
)
def test_each_tab_has_its_own_title(
    alice_client, bucket, put_object, url_name, query, title
):
    put_object(bucket, "docs/a.txt", b"a")
    url = reverse(url_name, args=[bucket.name])
    response = alice_client.get(f"{url}?{query}" if query else url)

    assert f"<title>{title}</title>" in response.text


@pytest.mark.django_db
def test_pages_link_a_favicon(alice_client):
    response = alice_client.get(reverse("console-home"))

    assert re.search(r'<link rel="icon" href="[^"]*favicon\.svg"', response.text)


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0\xa0bytes"),
        (1, "1\xa0byte"),
        (1023, "1023\xa0bytes"),
        (1024, "1.0\xa0KB (1024 bytes)"),
        (5 * 1024 * 1024, "5.0\xa0MB (5242880 bytes)"),
    ],
)
def test_sizes_say_bytes_once(size, shown):
    assert size_with_bytes(size) == shown


@pytest.mark.django_db
def test_an_empty_bucket_shows_0_bytes_once(alice_client, bucket):
    response = alice_client.get(reverse("console-bucket", args=[bucket.name]))

    assert '<dd data-testid="total-size">0\xa0bytes</dd>' in response.text


@pytest.mark.django_db
def test_logging_out_says_so_on_the_log_on_page(alice_client):
    response = alice_client.post(reverse("logout"), follow=True)

    assert response.request["PATH_INFO"] == reverse("login")
    assert "You have logged out." in response.text


# -- 9: URLs wrap at / ? & only ------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "html"),
    [
        ("https://a.example.com/", "https:/<wbr>/<wbr>a.example.com/<wbr>"),
        ("/x?a=1&b=<2>", "/<wbr>x?<wbr>a=1&amp;<wbr>b=&lt;2&gt;"),
        ("plain", "plain"),
    ],
)
def test_url_breaks_only_after_slash_question_mark_and_ampersand(url, html):
    assert url_breaks(url) == html


# -- 5, 10: bucket lists, confirmations, guidance -----------------------------------


@pytest.mark.django_db
def test_access_key_page_lists_the_users_buckets(alice_client, bucket, bob):
    Bucket.objects.create(owner=bob, name="bobs-bucket")
    response = alice_client.get(reverse("console-access-keys"))

    assert "alice-bucket" in response.text
    assert "No buckets yet." not in response.text
    assert "bobs-bucket" not in response.text


@pytest.mark.django_db
def test_delete_bucket_is_disabled_with_the_reason_while_objects_remain(
    alice_client, bucket, put_object
):
    put_object(bucket, "a.txt", b"a")
    response = alice_client.get(reverse("console-bucket", args=[bucket.name]))

    assert (
        "Delete Bucket is unavailable: the bucket still holds objects" in response.text
    )
    assert '<button class="danger" type="button" disabled' in response.text
    assert "hx-confirm" not in response.text


@pytest.mark.django_db
def test_asking_to_delete_a_bucket_only_shows_the_confirmation(alice_client, bucket):
    response = alice_client.get(
        reverse("console-bucket-delete", args=[bucket.name]), headers=HTMX
    )

    assert response.status_code == 200
    assert 'role="dialog" aria-label="Delete bucket"' in response.text
    assert Bucket.objects.filter(pk=bucket.pk).exists()


@pytest.mark.django_db
def test_a_non_empty_bucket_is_still_refused_on_post(alice_client, bucket, put_object):
    put_object(bucket, "a.txt", b"a")
    response = alice_client.post(
        reverse("console-bucket-delete", args=[bucket.name]), follow=True
    )

    assert (
        "Bucket alice-bucket still holds objects. Delete them first." in response.text
    )
    assert Bucket.objects.filter(pk=bucket.pk).exists()


@pytest.mark.django_db
def test_another_users_bucket_delete_confirmation_is_404(bob_client, bucket):
    response = bob_client.get(reverse("console-bucket-delete", args=[bucket.name]))

    assert response.status_code == 404


@pytest.mark.django_db
def test_asking_to_delete_a_key_only_shows_the_confirmation(alice_client, alice):
    key, _ = AccessKey.create_for(alice)
    response = alice_client.get(
        reverse("console-access-key-delete", args=[key.key_id]), headers=HTMX
    )

    assert 'role="dialog" aria-label="Delete AccessKey"' in response.text
    assert "hx-confirm" not in response.text
    assert AccessKey.objects.filter(pk=key.pk).exists()


@pytest.mark.django_db
def test_another_users_key_delete_confirmation_is_404(bob_client, alice):
    key, _ = AccessKey.create_for(alice)
    response = bob_client.get(reverse("console-access-key-delete", args=[key.key_id]))

    assert response.status_code == 404


@pytest.mark.django_db
def test_private_bucket_rule_editor_explains_the_403(
    alice_client, bucket, public_bucket
):
    private = alice_client.get(reverse("console-rules", args=[bucket.name]))
    public = alice_client.get(reverse("console-rules", args=[public_bucket.name]))

    assert "403 AccessDenied" in private.text
    assert 'data-testid="private-bucket-note"' not in public.text


@pytest.mark.django_db
def test_the_rule_limit_notice_is_not_styled_as_an_error(
    alice_client, bucket, make_rule
):
    for prefix in ("a/", "b/", "c/", "d/", "e/"):
        make_rule(bucket, key_prefix=prefix)
    response = alice_client.get(reverse("console-rules", args=[bucket.name]))

    assert (
        '<p class="notice limit-message">This bucket has the maximum' in response.text
    )


@pytest.mark.django_db
def test_a_move_says_where_the_rule_went(alice_client, bucket, make_rule):
    first = make_rule(bucket, key_prefix="a/")
    make_rule(bucket, key_prefix="b/")
    url = reverse("console-rule-move", args=[bucket.name, first.pk])

    moved = alice_client.post(url, {"direction": "down"}, headers=HTMX)
    at_end = alice_client.post(url, {"direction": "down"}, headers=HTMX)

    assert "Rule 1 moved down: it is now rule 2." in moved.text
    assert f'data-changed-row="rule-{first.pk}"' in moved.text
    assert "Rule 2 is already the last." in at_end.text
    assert BackToOriginRule.objects.get(pk=first.pk).position == 2


@pytest.mark.parametrize(
    ("host", "mode", "offer"),
    [
        (
            "http://example.com",
            "mirror",
            {"protocol": "http", "host": "example.com", "path": ""},
        ),
        (
            "https://example.com:8443/img/a/",
            "mirror",
            {"protocol": "https", "host": "example.com:8443", "path": "img/a"},
        ),
        (
            "https://example.com/",
            "redirect",
            {"protocol": "https", "host": "example.com", "path": ""},
        ),
        ("https://example.com/img", "redirect", None),  # Redirection has no Path for it
        ("ftp://example.com", "mirror", None),
        ("example.com", "mirror", None),
    ],
)
def test_a_pasted_url_is_offered_as_protocol_host_and_path(host, mode, offer):
    form = RuleForm({"mode": mode, "host": host})

    assert form.host_as_url == offer


@pytest.mark.django_db
def test_a_pasted_url_is_refused_with_the_offer_and_nothing_saved(alice_client, bucket):
    response = alice_client.post(
        reverse("console-rule-create", args=[bucket.name]),
        {"mode": "mirror", "protocol": "https", "host": "http://example.com/img/"},
        headers=HTMX,
    )

    assert 'data-testid="split-offer"' in response.text
    assert 'data-host="example.com" data-path="img"' in response.text
    assert 'data-testid="error-summary"' in response.text
    assert not BackToOriginRule.objects.exists()


# -- 4: every action that posts shows progress and disables its button -------------


@pytest.mark.django_db
def test_every_htmx_post_has_an_indicator_and_disables_its_button(
    alice_client, bucket, put_object, make_rule, alice
):
    put_object(bucket, "docs/a.txt", b"a")
    rule = make_rule(bucket, key_prefix="a/")
    key, _ = AccessKey.create_for(alice)
    pages = [
        reverse("console-home"),
        reverse("console-bucket-delete", args=[bucket.name]),
        reverse("console-files", args=[bucket.name]),
        reverse("console-object-delete", args=[bucket.name]) + "?key=docs/a.txt",
        reverse("console-acl", args=[bucket.name]) + "?edit=1",
        reverse("console-rule-create", args=[bucket.name]),
        reverse("console-rule-clear", args=[bucket.name, rule.pk]),
        reverse("console-access-key-delete", args=[key.key_id]),
    ]
    forms = []
    for page in pages:
        html = alice_client.get(page).text
        forms += re.findall(r"<form[^>]*hx-post=[^>]*>", html)

    assert len(forms) >= 12
    missing = [
        form
        for form in forms
        if "hx-disabled-elt" not in form or "hx-indicator" not in form
    ]
    assert missing == []
