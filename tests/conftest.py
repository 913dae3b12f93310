import os
import shutil

import pytest
from django.test import Client

from buckets.models import Bucket
from buckets.storage import ObjectMetadata, ObjectWriter, commit_object

PASSWORD = "correct-horse-battery"

# Playwright's sync API runs an event loop in the test thread; Django's ORM would
# otherwise refuse to run beside it (SynchronousOnlyOperation).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def isolated_data_dir(settings, tmp_path):
    """Each test stores object bytes in its own folder."""
    objects_dir, tmp_dir = tmp_path / "objects", tmp_path / "tmp"
    objects_dir.mkdir()
    tmp_dir.mkdir()
    settings.DATA_DIR = tmp_path  # single-flight lock files live here too
    settings.OBJECT_STORAGE_DIR = objects_dir
    settings.OBJECT_TMP_DIR = tmp_dir
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_dir)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(objects_dir)},
        },
    }
    return tmp_path


@pytest.fixture
def make_user(django_user_model):
    def make(username):
        return django_user_model.objects.create_user(
            username=username, password=PASSWORD
        )

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client


@pytest.fixture
def bucket(alice):
    return Bucket.objects.create(owner=alice, name="alice-bucket")


@pytest.fixture
def public_bucket(alice):
    return Bucket.objects.create(
        owner=alice, name="alice-public", acl=Bucket.Acl.PUBLIC_READ
    )


@pytest.fixture
def put_object():
    """Store bytes under a key the way every writer does: temp file, rename, commit."""

    def put(bucket, key, data, *, mirrored=False, **metadata):
        with ObjectWriter() as writer:
            writer.write(data)
            return commit_object(
                bucket, key, writer, ObjectMetadata(**metadata), mirrored=mirrored
            )

    return put


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Debian's chromium: Playwright's own browser download is unreachable here."""
    path = (
        os.environ.get("CHROMIUM_PATH")
        or shutil.which("chromium")
        or "/usr/bin/chromium"
    )
    return {
        **browser_type_launch_args,
        "executable_path": path,
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture
def fast_password_hashing(settings):
    """MD5 instead of PBKDF2: creating alice and bob no longer costs ~0.4 s a test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def origin_server():
    """A loopback origin; rules may point at it because the test allows private origins."""
    from tests.origin_server import OriginServer

    server = OriginServer()
    yield server
    server.close()


@pytest.fixture
def allow_private_origins(settings):
    settings.ORIGIN_ALLOW_PRIVATE = True
    settings.ORIGIN_TIMEOUT_SECONDS = 2


@pytest.fixture
def mirror_rule(bucket, origin_server, allow_private_origins):
    """Make a mirroring rule on alice's bucket pointing at the loopback origin."""
    from origin.models import BackToOriginRule

    def make(**fields):
        rule = BackToOriginRule(
            bucket=bucket,
            mode="mirror",
            protocol="http",
            host=origin_server.netloc,
            **fields,
        )
        rule.save_in_order()
        return rule

    return make
