"""Every failure is answered in the caller's language (SPEC §9): OSS XML on the
object endpoint, JSON under /api/, and /healthz tells when storage runs low."""

import errno

import pytest
from django.db import OperationalError

from buckets import errors
from config.api_errors import api_exception_handler


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), 507, "InsufficientStorage"),
        (OSError(errno.EIO, "Input/output error"), 500, "InternalError"),
        (OperationalError("database or disk is full"), 507, "InsufficientStorage"),
        (RuntimeError("a bug"), 500, "InternalError"),
    ],
)
def test_failures_become_oss_errors(error, status, code):
    answer = errors.from_exception(error)
    assert (answer.status, answer.code) == (status, code)
    assert "a bug" not in answer.message


def test_healthz_reports_storage_below_min_free_bytes(client, settings):
    settings.MIN_FREE_BYTES = 1
    assert client.get("/healthz").json()["storage"] == "ok"

    settings.MIN_FREE_BYTES = 2**62
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["storage"].startswith("error:")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (OperationalError("database or disk is full"), 507),
        (OSError(errno.ENOSPC, "No space left on device"), 507),
        (RuntimeError("a bug"), 500),
    ],
)
def test_api_failures_are_json(error, status, rf):
    response = api_exception_handler(error, {"request": rf.get("/api/v1/buckets")})

    assert response.status_code == status
    assert "a bug" not in response.data["detail"]


def test_the_console_error_page_says_nothing_was_saved_and_leads_back(client):
    from django.views.defaults import server_error

    response = server_error(client.get("/healthz").wsgi_request)

    assert response.status_code == 500
    page = response.content.decode()
    assert "nothing was saved" in page
    assert 'href="/console/"' in page
