"""Encryption at rest: the envelope around an object's bytes.

Each object (and each multipart part) gets its own random data key, AES-256 or
SM4, that encrypts its bytes in CTR mode: a stream cipher, so sizes stay those
of the plaintext and a Range GET decrypts only the blocks it reads. The data key
is stored wrapped (AES key wrap, RFC 3394) by a key-encryption key derived with
HKDF from the server's master key: one per OSS-managed algorithm (AES256, SM4)
and one per KMS key id, so objects under different key ids use different keys.
The master key is OSS_MASTER_KEY or, unset, a key file made once in DATA_DIR.

What `Sse` describes is the OSS setting (x-oss-server-side-encryption and its
companions); `Envelope` is how one blob is encrypted under it.
"""

import base64
import binascii
import dataclasses
import io
import logging
import os
import uuid
from pathlib import Path

from cryptography.hazmat.primitives import hashes, keywrap
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from buckets import errors

logger = logging.getLogger(__name__)

MASTER_KEY_FILE = "master_key"
MASTER_KEY_BYTES = 32
BLOCK_BYTES = 16  # AES and SM4 alike
_COUNTER_SPACE = 1 << 128
# A key id names a derived key, and the id's own namespace keeps a user's
# "123" from ever meaning an OSS-managed key.
_KEK_INFO = b"oss-sse-kek\0"


@dataclasses.dataclass(frozen=True)
class Sse:
    """A server-side encryption setting: `algorithm` AES256, KMS or SM4 ("" for
    none); with KMS, `data_algorithm` SM4 (else AES-256 data keys) and `key_id`."""

    algorithm: str
    data_algorithm: str = ""
    key_id: str = ""

    def __bool__(self):
        return bool(self.algorithm)

    @property
    def cipher(self):
        return "SM4" if "SM4" in (self.algorithm, self.data_algorithm) else "AES256"

    def as_dict(self):
        return dataclasses.asdict(self) if self else {}

    @classmethod
    def from_dict(cls, stored):
        """The setting a stored dict (a bucket's rule, an upload's, an envelope) names."""
        if not stored:
            return PLAIN
        return cls(
            stored["algorithm"],
            stored.get("data_algorithm", ""),
            stored.get("key_id", ""),
        )

    def response_headers(self):
        """The x-oss-server-side-* headers OSS answers with for this setting."""
        if not self:
            return {}
        headers = {"x-oss-server-side-encryption": self.algorithm}
        if self.data_algorithm:
            headers["x-oss-server-side-data-encryption"] = self.data_algorithm
        if self.key_id:
            headers["x-oss-server-side-encryption-key-id"] = self.key_id
        return headers


PLAIN = Sse("")


def response_headers(stored):
    """The x-oss-server-side-* headers of an object whose envelope is `stored`."""
    return Sse.from_dict(stored).response_headers()


def default_key_id(bucket):
    """The KMS key id of a bucket's objects when none is named: stable per bucket."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"oss-kms:{bucket.pk}:{bucket.name}"))


def for_objects_of(bucket, sse):
    """`sse` as an object of `bucket` stores it: KMS always names its key id."""
    if sse.algorithm == "KMS" and not sse.key_id:
        return dataclasses.replace(sse, key_id=default_key_id(bucket))
    return sse


def bucket_default(bucket):
    """The bucket's default encryption (PutBucketEncryption) for a new object."""
    return for_objects_of(bucket, Sse.from_dict(bucket.encryption))


# -- keys ------------------------------------------------------------------------


def master_key():
    """The 32-byte master key, read on each use (a small file read): no process
    keeps it in memory longer than one request needs it."""
    if settings.OSS_MASTER_KEY:
        return _decoded_master_key(settings.OSS_MASTER_KEY, "OSS_MASTER_KEY")
    path = Path(settings.DATA_DIR) / MASTER_KEY_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        text = _create_master_key_file(path)
    return _decoded_master_key(text, str(path))


def _decoded_master_key(text, source):
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != MASTER_KEY_BYTES:
        # Names where the key comes from, never the key.
        raise ImproperlyConfigured(
            f"{source} must be the base64 encoding of {MASTER_KEY_BYTES} bytes."
        )
    return key


def _create_master_key_file(path):
    """Written whole under a temporary name, then linked into place: another worker
    never reads a half-written key, and of two racing workers the first key wins."""
    text = base64.b64encode(os.urandom(MASTER_KEY_BYTES)).decode() + "\n"
    partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(partial, path)
    except FileExistsError:  # another worker made it first
        return path.read_text()
    finally:
        partial.unlink(missing_ok=True)
    return text


def key_encryption_key(sse):
    """The key that wraps data keys under `sse`: per algorithm, or per KMS key id."""
    purpose = f"KMS\0{sse.key_id}" if sse.algorithm == "KMS" else sse.algorithm
    hkdf = HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=_KEK_INFO + purpose.encode(),
    )
    return hkdf.derive(master_key())


def _cipher_algorithm(name, key):
    return algorithms.SM4(key) if name == "SM4" else algorithms.AES(key)


def _data_key_bytes(name):
    return 16 if name == "SM4" else 32


class MasterKeyMismatch(errors.OssError):
    """The stored data key does not unwrap: the master key is not the one that wrapped it."""

    def __init__(self):
        super().__init__(
            500,
            "InternalError",
            "The object cannot be decrypted: this server's master key is not the one "
            "it was stored with.",
        )


# -- envelopes ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Envelope:
    """One blob's encryption: its setting, data key and initial counter block."""

    sse: Sse
    data_key: bytes
    iv: bytes

    @classmethod
    def new(cls, sse):
        return cls(
            sse, os.urandom(_data_key_bytes(sse.cipher)), os.urandom(BLOCK_BYTES)
        )

    def to_dict(self):
        """What the row keeps: the data key only wrapped."""
        wrapped = keywrap.aes_key_wrap(key_encryption_key(self.sse), self.data_key)
        return {
            **self.sse.as_dict(),
            "cipher": f"{self.sse.cipher}-CTR",
            "wrapped_key": base64.b64encode(wrapped).decode(),
            "iv": base64.b64encode(self.iv).decode(),
        }

    @classmethod
    def from_dict(cls, stored):
        sse = Sse.from_dict(stored)
        wrapped = base64.b64decode(stored["wrapped_key"])
        try:
            data_key = keywrap.aes_key_unwrap(key_encryption_key(sse), wrapped)
        except keywrap.InvalidUnwrap:
            logger.error(
                "cannot unwrap a %s data key: the master key differs from the one "
                "it was stored with",
                sse.algorithm,
            )
            raise MasterKeyMismatch() from None
        return cls(sse, data_key, base64.b64decode(stored["iv"]))

    def encryptor(self):
        return self._cipher_at(0).encryptor()

    def decryptor_at(self, block):
        return self._cipher_at(block).decryptor()

    def _cipher_at(self, block):
        """CTR's counter block for the `block`-th block (OpenSSL counts all 128 bits)."""
        counter = (int.from_bytes(self.iv, "big") + block) % _COUNTER_SPACE
        return Cipher(
            _cipher_algorithm(self.sse.cipher, self.data_key),
            modes.CTR(counter.to_bytes(BLOCK_BYTES, "big")),
        )


def envelope_for(sse):
    """A fresh envelope for a blob written under `sse`; None for plain bytes."""
    return Envelope.new(sse) if sse else None


def stored_envelope(envelope):
    return envelope.to_dict() if envelope is not None else {}


def open_decrypted(raw, stored):
    """The plaintext view of an open blob file `raw` whose envelope is `stored`
    ({}: plain, returned as is). Every read of object or part bytes goes through here."""
    if not stored:
        return raw
    try:
        envelope = Envelope.from_dict(stored)
    except BaseException:
        raw.close()
        raise
    return DecryptingReader(raw, envelope)


class DecryptingReader(io.RawIOBase):
    """A seekable, read-only plaintext view of a CTR-encrypted file. It has no
    fileno(), so no server can sendfile() the ciphertext past it."""

    def __init__(self, raw, envelope):
        super().__init__()
        self._raw = raw
        self._envelope = envelope
        self._position = 0
        self._decryptor = None  # made at the position on the next read
        self.name = getattr(raw, "name", "")

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence == io.SEEK_END:
            offset += self._raw.seek(0, io.SEEK_END)
        if offset < 0:
            raise ValueError("negative seek position")
        self._position = offset
        self._decryptor = None
        return offset

    def readinto(self, buffer):
        if self._decryptor is None:
            self._start_decrypting()
        data = self._decryptor.update(self._raw.read(len(buffer)))
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)

    def _start_decrypting(self):
        block, skip = divmod(self._position, BLOCK_BYTES)
        self._raw.seek(block * BLOCK_BYTES)
        self._decryptor = self._envelope.decryptor_at(block)
        # The keystream of the bytes before the position in its block is spent.
        self._decryptor.update(self._raw.read(skip))

    def close(self):
        if not self.closed:
            self._raw.close()
        super().close()
