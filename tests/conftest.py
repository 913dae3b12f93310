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


@pytest.fixture
def alice_access_key(alice):
    from buckets.models import AccessKey

    key, secret = AccessKey.create_for(alice)
    return key.key_id, secret


@pytest.fixture
def alice_signed_client(alice_access_key):
    """send(method, bucket, key="", params=, headers=, body=): a request signed by
    oss2's own V1 signer as alice, sent through Django's test client (which adds
    no Content-Type of its own when the headers carry one)."""
    from urllib.parse import quote, urlencode

    import oss2

    auth = oss2.Auth(*alice_access_key)
    client = Client()

    def send(method, bucket_name, key="", *, params=None, headers=None, body=b""):
        path = f"/{bucket_name}/{quote(key, safe='')}"
        headers = {"Content-Type": "application/xml", **(headers or {})}
        request = oss2.http.Request(
            method,
            "http://127.0.0.1" + path,
            data=body,
            params=params or {},
            headers=headers,
        )
        auth._sign_request(request, bucket_name, key)
        query = urlencode(request.params)
        return client.generic(
            method,
            f"{path}?{query}" if query else path,
            data=body,
            headers={name: value for name, value in request.headers.items() if value},
        )

    return send


@pytest.fixture(scope="module")
def oss2_bucket_factory(tmp_path_factory):
    """The real gunicorn on its own DATA_DIR with user alice; returns
    make(name) -> alice's oss2.Bucket of that name on it (V1 signatures)."""
    import oss2

    from tests.server_process import GunicornServer

    gunicorn = GunicornServer(tmp_path_factory.mktemp("oss2-server"))
    gunicorn.manage("migrate", "--noinput")
    gunicorn.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_user('alice', password={PASSWORD!r})",
    )
    output = gunicorn.manage("create_access_key", "alice")
    key = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    auth = oss2.Auth(key["AccessKeyId"], key["AccessKeySecret"])
    gunicorn.start()
    try:
        yield lambda name: oss2.Bucket(auth, gunicorn.url, name)
    finally:
        gunicorn.stop()


@pytest.fixture
def oss2_bucket(oss2_bucket_factory):
    """A new empty bucket of alice's on the live server, as an oss2.Bucket."""
    import uuid

    bucket = oss2_bucket_factory(f"sdk-{uuid.uuid4().hex[:12]}")
    bucket.create_bucket()
    return bucket
