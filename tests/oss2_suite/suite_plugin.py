"""Loaded into the oss2 suite's pytest (`-p suite_plugin`) by run_suite.py: what the
suite needs to run here, and nothing that changes what it asks of the server.
"""

import os
import random
import sys
import unittest.mock

import oss2
from Crypto.PublicKey import RSA

# Some suite files import the `mock` backport; the standard library's unittest.mock
# is the same API.
sys.modules.setdefault("mock", unittest.mock)

# Client-side encryption with a KMS-held key asks Alibaba Cloud KMS (kms.*.aliyuncs.com)
# for every data key. Many upload, download and crypto tests pick a plain, an RSA or a
# KMS crypto bucket at random; a local RSA key stands in for KMS, so they still test
# this server (the server stores the same ciphertext and x-oss-meta-client-side-* headers).
_RSA = RSA.generate(2048)
_KEY_PAIR = {
    "private_key": _RSA.export_key(),
    "public_key": _RSA.publickey().export_key(),
}
oss2.AliKMSProvider = lambda *args, **kwargs: oss2.RsaProvider(_KEY_PAIR)


def pytest_runtest_setup(item):
    """The same random choices for a test on every run, so that two runs compare."""
    random.seed(f"{os.environ.get('OSS_TEST_AUTH_VERSION')}:{item.nodeid}")


def pytest_collection_modifyitems(config, items):
    """Leave out the tests run_suite.py names in OSS2_SUITE_EXCLUDED, by their exact id
    (pytest's --deselect takes a prefix: test_x would take test_x1 along)."""
    excluded = set(os.environ.get("OSS2_SUITE_EXCLUDED", "").split())
    dropped = [item for item in items if item.nodeid.partition("tests/")[2] in excluded]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
