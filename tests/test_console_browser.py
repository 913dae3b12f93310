"""The console in a real Chromium, against a live server: what a person clicks through."""

import hashlib

import pytest
import requests
from playwright.sync_api import expect

from buckets.models import AccessKey, Bucket, StoredObject
from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

# Set before an action, read after it: still there means htmx swapped, nothing reloaded.
MARK_PAGE = "window.__sameDocument = true"
SAME_PAGE = "window.__sameDocument === true"


@pytest.fixture
def log_on(page, live_server):
    """Log on through the real login page; lands on the bucket list."""

    def log_on_as(user):
        page.goto(f"{live_server.url}/console/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log on").click()
        expect(page.get_by_test_id("user-name")).to_have_text(user.username)
        expect(page.get_by_role("heading", name="Buckets", exact=True)).to_be_visible()
        return page

    return log_on_as


def create_bucket(page, name):
    page.get_by_label("Bucket Name").fill(name)
    page.get_by_role("button", name="OK").click()


def file_row(page, key):
    return page.locator(f'tr[data-key="{key}"]')


def upload(page, *files):
    page.set_input_files(
        "#upload-files",
        files=[
            {"name": name, "mimeType": "text/plain", "buffer": data}
            for name, data in files
        ],
    )
    page.get_by_role("button", name="Upload", exact=True).click()


def test_files_flow_from_log_on_to_delete(log_on, alice):
    page = log_on(alice)

    create_bucket(page, "alice-files")
    expect(page.get_by_test_id("bucket-title")).to_have_text("alice-files")
    expect(page.get_by_role("link", name="Overview")).to_have_class("active")
    expect(page.get_by_role("status")).to_have_text("Bucket alice-files created.")

    page.get_by_role("link", name="Files", exact=True).click()
    expect(page.get_by_role("link", name="Files", exact=True)).to_have_class("active")
    expect(page.get_by_text("This folder is empty.")).to_be_visible()

    page.get_by_label("Folder Name").fill("docs")
    page.get_by_role("button", name="Create Folder").click()
    expect(page.get_by_role("status")).to_have_text("Folder docs/ created.")
    page.get_by_role("link", name="docs/").click()
    expect(page.get_by_label("Folder").get_by_role("link", name="docs")).to_be_visible()

    data = b"Hello from the browser.\n" * 10
    upload(page, ("hello.txt", data))
    expect(page.get_by_role("status")).to_have_text("Uploaded 1 file(s): hello.txt.")
    row = file_row(page, "docs/hello.txt")
    expect(row).to_contain_text("240 bytes")
    expect(row).to_contain_text("text/plain")

    row.get_by_role("link", name="hello.txt").click()
    panel = page.locator("#object-detail")
    expect(panel).to_contain_text("Size240 bytes")
    expect(panel).to_contain_text(f'ETag"{hashlib.md5(data).hexdigest().upper()}"')
    expect(panel).to_contain_text("Content-Typetext/plain")
    expect(panel).to_contain_text("Last-Modified")

    with page.expect_download() as download_info:
        panel.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename == "hello.txt"
    with open(download.path(), "rb") as downloaded:
        assert downloaded.read() == data

    row.get_by_role("link", name="Delete").click()
    confirm = page.get_by_role("dialog", name="Delete object")
    expect(confirm).to_contain_text("Delete docs/hello.txt?")
    confirm.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Deleted docs/hello.txt.")
    expect(file_row(page, "docs/hello.txt")).to_have_count(0)
    assert list(StoredObject.objects.values_list("key", flat=True)) == ["docs/"]


def test_upload_two_files_at_once(log_on, alice):
    Bucket.objects.create(owner=alice, name="alice-two")
    page = log_on(alice)
    page.get_by_role("link", name="alice-two").first.click()
    page.get_by_role("link", name="Files", exact=True).click()

    upload(page, ("one.txt", b"first"), ("two.txt", b"second!"))

    expect(page.get_by_role("status")).to_have_text(
        "Uploaded 2 file(s): one.txt, two.txt."
    )
    expect(file_row(page, "one.txt")).to_contain_text("5 bytes")
    expect(file_row(page, "two.txt")).to_contain_text("7 bytes")


def test_bad_and_taken_bucket_names_show_inline_errors(log_on, live_server, alice, bob):
    Bucket.objects.create(owner=bob, name="bobs-bucket")
    page = log_on(alice)
    name_field = page.get_by_label("Bucket Name")

    create_bucket(page, "Bad_Name")
    expect(page.locator(".field-error")).to_have_text(
        "A bucket name may contain only lowercase letters, digits and hyphens (-), "
        "and must start and end with a letter or digit."
    )
    expect(name_field).to_have_value("Bad_Name")

    create_bucket(page, "bobs-bucket")
    expect(page.locator(".field-error")).to_have_text(
        "A bucket with this name already exists. Bucket names are unique across all users."
    )
    expect(name_field).to_have_value("bobs-bucket")

    assert page.url == f"{live_server.url}/console/"
    assert not alice.buckets.exists()


def test_delete_bucket_only_when_empty(log_on, alice, put_object):
    full = Bucket.objects.create(owner=alice, name="alice-full")
    put_object(full, "keep.txt", b"still here")
    Bucket.objects.create(owner=alice, name="alice-empty")
    page = log_on(alice)
    nav = page.locator("#bucket-nav")

    nav.get_by_role("link", name="alice-full").click()
    expect(page.get_by_role("button", name="Delete Bucket")).to_be_disabled()
    expect(page.locator("#bucket-delete-section")).to_contain_text(
        "the bucket still holds objects"
    )

    nav.get_by_role("link", name="alice-empty").click()
    page.get_by_role("link", name="Delete Bucket").click()
    confirm = page.get_by_role("dialog", name="Delete bucket")
    expect(confirm).to_contain_text("Delete bucket alice-empty?")
    confirm.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text("Bucket alice-empty deleted.")
    expect(nav.get_by_role("link")).to_have_text(["Create Bucket", "alice-full"])
    assert list(Bucket.objects.values_list("name", flat=True)) == ["alice-full"]


def test_acl_public_read_opens_objects_to_anonymous_readers(
    log_on, live_server, alice, put_object
):
    bucket = Bucket.objects.create(owner=alice, name="alice-acl")
    put_object(bucket, "page.html", b"<p>hi</p>", content_type="text/html")
    object_url = f"{live_server.url}/alice-acl/page.html"
    assert requests.get(object_url, timeout=10).status_code == 403

    page = log_on(alice)
    page.locator("#bucket-nav").get_by_role("link", name="alice-acl").click()
    page.get_by_role("link", name="Basic Settings").click()
    acl = page.locator("#acl-section")
    expect(acl.get_by_test_id("acl-value")).to_have_text("Private")
    page.evaluate(MARK_PAGE)
    acl.get_by_role("link", name="Edit").click()
    acl.get_by_label("Public Read", exact=True).check()
    acl.get_by_role("button", name="OK").click()
    expect(acl.get_by_test_id("acl-value")).to_have_text("Public Read")
    expect(page.get_by_role("status")).to_have_text("ACL set to Public Read.")
    expect(page.locator("#bucket-acl-badge")).to_have_text("Public Read")
    assert page.evaluate(SAME_PAGE)

    page.get_by_role("link", name="Files", exact=True).click()
    expect(file_row(page, "page.html")).to_be_visible()
    expect(page.get_by_role("status")).to_have_count(0)

    response = requests.get(object_url, timeout=10)
    assert response.status_code == 200
    assert response.content == b"<p>hi</p>"


def test_access_keys_are_created_disabled_and_deleted_in_place(log_on, alice):
    page = log_on(alice)
    page.get_by_role("link", name="AccessKey").click()
    expect(page.get_by_role("heading", name="AccessKey", exact=True)).to_be_visible()
    page.evaluate(MARK_PAGE)

    page.get_by_role("button", name="Create AccessKey").click()
    expect(page.get_by_test_id("new-secret")).to_be_visible()
    key = AccessKey.objects.get(user=alice)
    expect(page.get_by_test_id("new-key-id")).to_have_text(key.key_id)

    row = page.locator(f'tr[data-key-id="{key.key_id}"]')
    row.get_by_role("button", name="Disable").click()
    expect(page.get_by_role("status")).to_have_text(f"AccessKey {key.key_id} disabled.")
    expect(row.locator("td").nth(1)).to_have_text("Disabled")
    expect(page.get_by_test_id("new-secret")).to_have_count(0)  # shown once only

    row.get_by_role("link", name="Delete").click()
    confirm = page.get_by_role("dialog", name="Delete AccessKey")
    expect(confirm).to_contain_text(f"Delete AccessKey {key.key_id}?")
    confirm.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_have_text(f"AccessKey {key.key_id} deleted.")
    expect(row).to_have_count(0)
    assert page.evaluate(SAME_PAGE)
    assert not AccessKey.objects.filter(user=alice).exists()


def test_other_users_buckets_are_invisible(log_on, live_server, alice, bob):
    Bucket.objects.create(owner=alice, name="alice-secret")
    Bucket.objects.create(owner=bob, name="bob-own")

    page = log_on(bob)
    expect(page.locator("#bucket-nav .bucket-list")).to_have_text("bob-own")
    expect(page.get_by_text("alice-secret")).to_have_count(0)

    response = page.goto(f"{live_server.url}/console/buckets/alice-secret/")
    assert response.status == 404
    response = page.goto(f"{live_server.url}/console/buckets/alice-secret/files/")
    assert response.status == 404
