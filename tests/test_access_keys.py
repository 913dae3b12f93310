import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from buckets.models import AccessKey

pytestmark = pytest.mark.django_db


def test_create_access_key_command_prints_id_and_secret_on_two_lines(alice, capsys):
    call_command("create_access_key", "alice")

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    key_id = lines[0].removeprefix("AccessKeyId=")
    secret = lines[1].removeprefix("AccessKeySecret=")
    key = AccessKey.objects.get(key_id=key_id)
    assert (key.user, key.secret, key.is_active) == (alice, secret, True)
    assert secret not in key.sealed_secret


def test_create_access_key_command_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        call_command("create_access_key", "nobody")


def test_the_console_shows_a_new_secret_once(alice_client, alice):
    response = alice_client.post("/console/access-keys/create")

    key = AccessKey.objects.get(user=alice)
    assert key.secret.encode() in response.content
    assert "no-store" in response["Cache-Control"]
    listing = alice_client.get("/console/access-keys/")
    assert key.key_id.encode() in listing.content
    assert key.secret.encode() not in listing.content


def test_htmx_requests_get_the_key_list_fragment(alice_client):
    response = alice_client.post("/console/access-keys/create", HTTP_HX_REQUEST="true")

    assert b"<html" not in response.content
    assert b'id="access-keys"' in response.content


def test_disable_enable_and_delete(alice_client, alice):
    key, _secret = AccessKey.create_for(alice)

    alice_client.post(f"/console/access-keys/{key.key_id}/toggle")
    assert AccessKey.objects.get(pk=key.pk).is_active is False
    assert AccessKey.objects.find_active(key.key_id) is None
    alice_client.post(f"/console/access-keys/{key.key_id}/toggle")
    assert AccessKey.objects.find_active(key.key_id) == key
    alice_client.post(f"/console/access-keys/{key.key_id}/delete")
    assert not AccessKey.objects.filter(pk=key.pk).exists()


def test_other_users_keys_are_404(bob_client, alice):
    key, _secret = AccessKey.create_for(alice)

    for action in ("toggle", "delete"):
        assert (
            bob_client.post(f"/console/access-keys/{key.key_id}/{action}").status_code
            == 404
        )
    assert key.key_id.encode() not in bob_client.get("/console/access-keys/").content
    assert AccessKey.objects.get(pk=key.pk).is_active


def test_access_key_pages_need_login_and_csrf(alice):
    assert Client().get("/console/access-keys/").status_code == 302
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post("/console/access-keys/create").status_code == 403
    assert not AccessKey.objects.exists()


def test_key_ids_and_secrets_look_like_oss_ones(alice):
    key, secret = AccessKey.create_for(alice)

    assert re.fullmatch(r"LTAI[A-Za-z0-9]{20}", key.key_id)
    assert re.fullmatch(r"[A-Za-z0-9]{30}", secret)
