"""Encryption at rest, below the API: envelopes, the master key, and what a server
with another master key answers (buckets/envelope.py)."""

import base64
import io
import os
import stat
import uuid

import oss2
import pytest
import requests
from django.core.exceptions import ImproperlyConfigured

from buckets import envelope
from buckets.envelope import Envelope, Sse
from tests.signing import REGION, oss2_auth

AES256, KMS, SM4 = "AES256", "KMS", "SM4"
SETTINGS = [Sse(AES256), Sse(SM4), Sse(KMS, key_id="k1"), Sse(KMS, SM4, "k1")]


@pytest.fixture(autouse=True)
def generated_master_key(settings):
    """Every test starts with no OSS_MASTER_KEY: the key file in its own DATA_DIR."""
    settings.OSS_MASTER_KEY = ""


def encrypted(sse, plaintext, *, iv=None):
    """(stored envelope dict, ciphertext) of `plaintext` written in uneven chunks."""
    sealed = Envelope.new(sse)
    if iv is not None:
        sealed = Envelope(sse, sealed.data_key, iv)
    encryptor = sealed.encryptor()
    chunks = [plaintext[i : i + 7777] for i in range(0, len(plaintext), 7777)]
    return sealed.to_dict(), b"".join(encryptor.update(chunk) for chunk in chunks)


@pytest.mark.parametrize("sse", SETTINGS, ids=str)
def test_ciphertext_has_the_plaintexts_size_and_none_of_its_bytes(sse):
    plaintext = os.urandom(100_000)
    stored, ciphertext = encrypted(sse, plaintext)
    assert len(ciphertext) == len(plaintext)
    assert plaintext[:64] not in ciphertext
    assert stored["cipher"] == (
        "SM4-CTR" if SM4 in (sse.algorithm, sse.data_algorithm) else "AES256-CTR"
    )
    assert "data_key" not in stored  # only wrapped


@pytest.mark.parametrize("sse", SETTINGS, ids=str)
@pytest.mark.parametrize(
    "iv",
    [None, b"\xff" * 16, (2**128 - 3).to_bytes(16, "big")],
    ids=["random-iv", "iv-at-counter-end", "iv-wrapping-mid-object"],
)
def test_any_byte_range_decrypts_alone(sse, iv):
    """A Range GET seeks and decrypts only what it reads, across block edges and
    across the 128-bit counter wrapping around."""
    plaintext = os.urandom(5000)
    stored, ciphertext = encrypted(sse, plaintext, iv=iv)
    reader = envelope.open_decrypted(io.BytesIO(ciphertext), stored)
    for start, length in [
        (0, 5000),
        (1, 15),
        (15, 2),
        (16, 16),
        (17, 4000),
        (4999, 10),
        (5000, 1),
    ]:
        reader.seek(start)
        assert reader.read(length) == plaintext[start : start + length]
    reader.seek(-10, io.SEEK_END)
    assert reader.read() == plaintext[-10:]


def test_a_plain_blob_is_opened_as_it_is():
    raw = io.BytesIO(b"plain")
    assert envelope.open_decrypted(raw, {}) is raw


def test_the_decrypting_reader_has_no_file_descriptor_to_sendfile():
    stored, ciphertext = encrypted(Sse(AES256), b"secret")
    reader = envelope.open_decrypted(io.BytesIO(ciphertext), stored)
    with pytest.raises(io.UnsupportedOperation):
        reader.fileno()


def test_key_ids_name_different_keys_and_one_cannot_open_anothers_data_key():
    one, other = Sse(KMS, key_id="key-one"), Sse(KMS, key_id="key-two")
    assert envelope.key_encryption_key(one) != envelope.key_encryption_key(other)
    assert envelope.key_encryption_key(Sse(AES256)) != envelope.key_encryption_key(
        Sse(SM4)
    )
    stored, _ = encrypted(one, b"x")
    with pytest.raises(envelope.MasterKeyMismatch):
        Envelope.from_dict({**stored, "key_id": "key-two"})


def test_the_master_key_file_is_made_once_readable_by_the_owner_alone(settings):
    first = envelope.master_key()
    path = settings.DATA_DIR / envelope.MASTER_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 32
    assert envelope.master_key() == first


def test_the_setting_wins_over_the_key_file(settings):
    key = os.urandom(32)
    settings.OSS_MASTER_KEY = base64.b64encode(key).decode()
    assert envelope.master_key() == key
    assert not (settings.DATA_DIR / envelope.MASTER_KEY_FILE).exists()


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode()])
def test_a_bad_master_key_setting_is_refused_without_showing_it(settings, value):
    settings.OSS_MASTER_KEY = value
    with pytest.raises(ImproperlyConfigured) as raised:
        envelope.master_key()
    assert "OSS_MASTER_KEY" in str(raised.value)
    assert value not in str(raised.value)


# -- a server whose master key changed ---------------------------------------------


def _key():
    return base64.b64encode(os.urandom(32)).decode()


@pytest.mark.server
def test_a_server_with_another_master_key_answers_500_and_destroys_nothing(tmp_path):
    from tests.server_process import GunicornServer

    original_key = _key()
    (tmp_path / "server").mkdir()
    gunicorn = GunicornServer(tmp_path / "server", OSS_MASTER_KEY=original_key)
    keys = gunicorn.add_users(("alice",), "master-key-test-password")
    name = f"sse-{uuid.uuid4().hex[:12]}"

    def bucket():
        return oss2.Bucket(oss2_auth(keys["alice"]), gunicorn.url, name, region=REGION)

    gunicorn.start()
    try:
        bucket().create_bucket()
        bucket().put_object(
            "secret.txt", b"sealed", headers={"x-oss-server-side-encryption": KMS}
        )
        bucket().put_object("plain.txt", b"open")
    finally:
        gunicorn.stop()

    gunicorn.env["OSS_MASTER_KEY"] = _key()
    gunicorn.start()
    try:
        answer = requests.get(bucket().sign_url("GET", "secret.txt", 60), timeout=30)
        assert answer.status_code == 500
        assert b"<Code>InternalError</Code>" in answer.content
        assert b"master key" in answer.content
        assert b"Traceback" not in answer.content
        assert b"cryptography" not in answer.content
        assert bucket().get_object("plain.txt").read() == b"open"
        with pytest.raises(oss2.exceptions.ServerError) as raised:
            bucket().copy_object(name, "secret.txt", "copy.txt")
        assert raised.value.status == 500
        assert not bucket().object_exists("copy.txt")
    finally:
        gunicorn.stop()
    assert original_key not in gunicorn.log.read_text()

    gunicorn.env["OSS_MASTER_KEY"] = original_key
    gunicorn.start()
    try:
        assert bucket().get_object("secret.txt").read() == b"sealed"
    finally:
        gunicorn.stop()
