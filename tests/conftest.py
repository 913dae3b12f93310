"""Fixtures the whole suite shares: users and their clients, buckets, rules, access
keys, loopback origins, and the live gunicorn server for the SDK tests."""

import os
import shutil
import threading
import uuid

import oss2
import pytest
from django.test import Client
from rest_framework.test import APIClient

from buckets.models import AccessKey, Bucket
from buckets.storage import ObjectMetadata, ObjectWriter, commit_object
from origin import fetch
from origin.models import BackToOriginRule
from tests.origin_server import OriginServer
from tests.signing import REGION, KeyPair, oss2_auth, send_signed, sign_request

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
    # As the start-up sweep leaves it, also on PostgreSQL (whose locks are not files).
    (tmp_path / "locks").mkdir()
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
    # make test-s3 (OBJECT_STORAGE=s3): each test its own prefix of the store.
    if settings.OBJECT_STORAGE == "s3":
        settings.STORAGES = {
            **settings.STORAGES,
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {"location": f"test-{uuid.uuid4().hex}"},
            },
        }
    return tmp_path


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """MD5 instead of PBKDF2 for the whole suite: creating alice and bob would
    otherwise cost ~0.4 s a test. No test needs the real hasher (the live servers
    in a subprocess keep theirs)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def close_lock_connections():
    """Single flight on PostgreSQL keeps a few connections open between fetches;
    close them after each test, or the test database could not be dropped."""
    yield
    from origin.flight_postgres import lock_connections

    lock_connections.close_all()


# -- users and their clients -------------------------------------------------------


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
def api(alice):
    """alice logged on to the JSON API (DRF's client: `format="json"` bodies)."""
    client = APIClient()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_api(bob):
    client = APIClient()
    client.force_login(bob)
    return client


# -- buckets, objects and rules ----------------------------------------------------


@pytest.fixture
def bucket(alice):
    return Bucket.objects.create(owner=alice, name="alice-bucket")


@pytest.fixture
def photos(alice):
    """alice's second bucket."""
    return Bucket.objects.create(owner=alice, name="alice-photos")


@pytest.fixture
def public_bucket(alice):
    return Bucket.objects.create(
        owner=alice, name="alice-public", acl=Bucket.Acl.PUBLIC_READ
    )


@pytest.fixture
def open_bucket(alice):
    """A bucket anyone may write to."""
    return Bucket.objects.create(
        owner=alice, name="open-bucket", acl=Bucket.Acl.PUBLIC_READ_WRITE
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


@pytest.fixture
def make_rule():
    """make_rule(bucket, **fields): a saved rule, last in the bucket's order; the host
    is www.example.com unless given, every other field the model's default."""

    def make(bucket, **fields):
        rule = BackToOriginRule(bucket=bucket, **{"host": "www.example.com", **fields})
        rule.save_in_order()
        return rule

    return make


@pytest.fixture
def seed_rules(bucket, make_rule):
    """The seed example on alice-bucket: a mirroring rule for images/ that transmits,
    removes and sets headers, then a 302 redirection for old/."""
    mirror = make_rule(
        bucket,
        key_prefix="images/",
        protocol="http",
        path="static",
        pass_query_string=True,
        pass_headers=["aaa-header"],
        remove_headers=["bbb-header"],
        set_headers=[["ccc-header", "ccc"]],
    )
    redirect = make_rule(
        bucket,
        mode="redirect",
        key_prefix="old/",
        host="new.example.com",
        redirect_code=302,
    )
    return mirror, redirect


# -- loopback origins --------------------------------------------------------------


@pytest.fixture
def origin_server():
    """A loopback origin; rules may point at it because the test allows private origins."""
    server = OriginServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def origin():
    """A loopback origin shared by the module, for the live servers a module starts."""
    server = OriginServer()
    yield server
    server.close()


@pytest.fixture
def gate():
    """An origin route's gate, always opened at the end so no origin thread hangs on."""
    gates = []

    def make():
        gates.append(threading.Event())
        return gates[-1]

    yield make
    for each in gates:
        each.set()


@pytest.fixture
def allow_private_origins(settings):
    settings.ORIGIN_ALLOW_PRIVATE = True
    settings.ORIGIN_TIMEOUT_SECONDS = 2


@pytest.fixture
def mirror_rule(bucket, make_rule, origin_server, allow_private_origins):
    """Make a mirroring rule on alice's bucket pointing at the loopback origin."""

    def make(**fields):
        return make_rule(
            bucket, mode="mirror", protocol="http", host=origin_server.netloc, **fields
        )

    return make


@pytest.fixture
def fresh_probe_cache():
    """No probe answer remembered from another test, nor left for the next."""
    fetch._probe_cache.clear()
    yield
    fetch._probe_cache.clear()


# -- access keys and signed requests -----------------------------------------------


@pytest.fixture
def alice_key(alice):
    """A new access key of alice's, as a KeyPair(key_id, secret)."""
    key, secret = AccessKey.create_for(alice)
    return KeyPair(key.key_id, secret)


@pytest.fixture
def alice_signed_client(alice_key):
    """send(method, bucket, key="", params=, headers=, body=): a request signed by
    oss2's own V1 signer as alice, sent through Django's test client (which adds
    no Content-Type of its own when the headers carry one)."""
    auth = oss2.Auth(*alice_key)
    client = Client()

    def send(method, bucket_name, key="", *, params=None, headers=None, body=b""):
        headers = {"Content-Type": "application/xml", **(headers or {})}
        request = sign_request(
            auth, method, bucket_name, key, params=params, headers=headers, body=body
        )
        return send_signed(client, request)

    return send


# -- the live server, through oss2 -------------------------------------------------


@pytest.fixture(scope="module")
def oss2_bucket_factory(tmp_path_factory):
    """The real gunicorn on its own DATA_DIR with user alice; returns
    make(name) -> alice's oss2.Bucket of that name on it (V1 signatures)."""
    from tests.server_process import GunicornServer

    gunicorn = GunicornServer(tmp_path_factory.mktemp("oss2-server"))
    gunicorn.manage("migrate", "--noinput")
    gunicorn.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.create_user('alice', password={PASSWORD!r})",
    )
    key = KeyPair.from_command_output(gunicorn.manage("create_access_key", "alice"))
    auth = oss2.Auth(*key)
    gunicorn.start()
    try:
        yield lambda name: oss2.Bucket(auth, gunicorn.url, name)
    finally:
        gunicorn.stop()


@pytest.fixture
def oss2_bucket(oss2_bucket_factory):
    """A new empty bucket of alice's on the live server, as an oss2.Bucket."""
    bucket = oss2_bucket_factory(f"sdk-{uuid.uuid4().hex[:12]}")
    bucket.create_bucket()
    return bucket


# -- a private S3 origin ----------------------------------------------------------


@pytest.fixture(scope="session")
def seaweed_s3():
    """A real private S3 (SeaweedFS) on loopback, one per test process: only SigV4
    requests signed with its admin or read-only key get through."""
    from tests.seaweedfs import SeaweedS3

    s3 = SeaweedS3().start()
    yield s3
    s3.stop()


# -- a live server with two users, through oss2 ------------------------------------


@pytest.fixture(scope="module")
def two_user_server(tmp_path_factory):
    """gunicorn on its own DATA_DIR (one per test module) with users alice and bob
    and a key each: (server, {name: KeyPair})."""
    from tests.server_process import GunicornServer

    gunicorn = GunicornServer(tmp_path_factory.mktemp("two-user-server"))
    keys = gunicorn.add_users(("alice", "bob"), "two-user-server-password")
    gunicorn.start()
    try:
        yield gunicorn, keys
    finally:
        gunicorn.stop()


@pytest.fixture(scope="module")
def user_ids(two_user_server):
    """{name: the account id policies name} (the Owner ID OSS answers list)."""
    gunicorn, _keys = two_user_server
    script = (
        "from django.contrib.auth import get_user_model\n"
        "for user in get_user_model().objects.all(): print('user', user.username, user.pk)"
    )
    lines = gunicorn.manage("shell", "-c", script).split("\n")
    # Django's shell may print a line of its own first.
    return dict(line.split()[1:] for line in lines if line.startswith("user "))


@pytest.fixture(params=["v1", "v4"])
def sdk_version(request):
    """Each test that asks runs once with OSS signature V1 and once with V4."""
    return request.param


@pytest.fixture
def as_user(two_user_server, sdk_version):
    """as_user(name, bucket_name) -> that user's oss2.Bucket on two_user_server,
    signed V1 or V4 (name None: anonymous)."""
    gunicorn, keys = two_user_server

    def bucket_for(name, bucket_name):
        auth = (
            oss2.AnonymousAuth() if name is None else oss2_auth(keys[name], sdk_version)
        )
        return oss2.Bucket(auth, gunicorn.url, bucket_name, region=REGION)

    return bucket_for


# -- the browser -------------------------------------------------------------------


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
