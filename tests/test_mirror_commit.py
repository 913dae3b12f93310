"""A saved mirror commits its object row and its fetch-log entry in one write
transaction (issue 14): both or neither, and no other write on the way."""

import pytest
from django.db import DatabaseError, connection

from buckets.models import StoredObject
from origin.models import OriginFetch
from tests.oss_responses import body_of

pytestmark = pytest.mark.django_db

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


def files_under(path):
    return sorted(p.name for p in path.rglob("*") if p.is_file())


class StatementLog:
    """What the request sent to the database: each statement, whether it ran inside
    a transaction (atomic block), and how many transactions committed."""

    def __init__(self, monkeypatch):
        self.statements = []
        self.commits = 0
        real_commit = connection.commit

        def commit():
            self.commits += 1
            return real_commit()

        monkeypatch.setattr(connection, "commit", commit)

    def __call__(self, execute, sql, params, many, context):
        self.statements.append(
            (sql.split(None, 1)[0].upper(), sql, connection.in_atomic_block)
        )
        return execute(sql, params, many, context)

    def writes(self):
        return [
            (sql, inside) for verb, sql, inside in self.statements if verb in WRITES
        ]


@pytest.mark.django_db(transaction=True)
def test_a_saved_mirror_is_one_write_transaction_holding_the_object_and_its_entry(
    alice_client, bucket, origin_server, mirror_rule, monkeypatch
):
    origin_server.route("/a.txt", body=b"hello origin")
    mirror_rule()
    log = StatementLog(monkeypatch)
    with connection.execute_wrapper(log):
        response = alice_client.get("/alice-bucket/a.txt")
        assert body_of(response) == b"hello origin"

    assert log.commits == 1
    writes = log.writes()
    assert [sql.split('"')[1] for sql, _ in writes] == [
        "buckets_storedobject",
        "origin_originfetch",
    ]
    assert all(inside for _, inside in writes)  # no autocommit write on the way
    assert OriginFetch.objects.get().outcome == "saved"
    assert StoredObject.objects.get().key == "a.txt"


def test_an_entry_that_cannot_be_written_leaves_no_object_no_blob_no_temp_file(
    alice_client, bucket, origin_server, mirror_rule, settings, monkeypatch
):
    origin_server.route("/a.txt", body=b"hello origin")
    mirror_rule()
    real_save = OriginFetch.save

    def refuse_saved(entry, *args, **kwargs):
        if entry.outcome == OriginFetch.Outcome.SAVED:
            raise DatabaseError("disk I/O error")
        return real_save(entry, *args, **kwargs)

    monkeypatch.setattr(OriginFetch, "save", refuse_saved)
    body_of(alice_client.get("/alice-bucket/a.txt"))

    assert not StoredObject.objects.exists()
    assert files_under(settings.OBJECT_STORAGE_DIR) == []
    assert files_under(settings.OBJECT_TMP_DIR) == []
    # The failure is still on record, in a transaction of its own.
    failed = OriginFetch.objects.get()
    assert (failed.outcome, failed.message) == (
        "failed",
        "The object could not be stored: We encountered an internal error; nothing was saved. Please try again.",
    )

    monkeypatch.undo()
    assert body_of(alice_client.get("/alice-bucket/a.txt")) == b"hello origin"
    assert StoredObject.objects.get().key == "a.txt"
    assert list(
        OriginFetch.objects.order_by("pk").values_list("outcome", flat=True)
    ) == [
        "failed",
        "saved",
    ]


def test_an_object_that_cannot_be_written_leaves_no_saved_entry(
    alice_client, bucket, origin_server, mirror_rule, settings, monkeypatch
):
    origin_server.route("/a.txt", body=b"hello origin")
    mirror_rule()

    def refuse(*args, **kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(StoredObject, "save", refuse)
    body_of(alice_client.get("/alice-bucket/a.txt"))

    assert not StoredObject.objects.exists()
    assert files_under(settings.OBJECT_STORAGE_DIR) == []
    assert files_under(settings.OBJECT_TMP_DIR) == []
    assert list(OriginFetch.objects.values_list("outcome", flat=True)) == ["failed"]
