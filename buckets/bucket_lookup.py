"""The bucket an OSS request names, with what every request reads of it (its owner
and their account settings, its Referer and logging configurations) and, for an
object request, the key's current version: one SELECT whose SQL is built once per
process.

Why not the ORM's select_related: it compiles its SQL on every call, and on a 1 KiB
hit compiling the bucket's and the object's queries cost more than running them
(bench/CHANGES.md). The instances built here are the ORM's own (Model.from_db, the
database's converters, related caches set as select_related sets them), so the code
that reads them cannot tell the difference.
"""

import functools
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connections

from buckets.models import (
    AccountSettings,
    Bucket,
    LoggingConfiguration,
    RefererConfiguration,
    StoredObject,
)

DATABASE = "default"
# What load() joins to the bucket, as select_related names it (an access point's
# alias is resolved through the ORM with these).
RELATED = ("owner__oss_account", "referer_configuration", "logging_configuration")


@dataclass(frozen=True)
class Table:
    """One model's columns in a hand-built SELECT: where they start in the row and
    how to convert them (also used by origin's rule cache)."""

    model: type
    start: int
    attnames: tuple
    pk_position: int
    converters: tuple  # (column, ((converter, expression), ...)) where it has some

    def instance(self, row):
        values = list(row[self.start : self.start + len(self.attnames)])
        if values[self.pk_position] is None:  # LEFT JOIN: no such row
            return None
        connection = connections[DATABASE]
        for index, steps in self.converters:
            for converter, expression in steps:
                values[index] = converter(values[index], expression, connection)
        return self.model.from_db(DATABASE, self.attnames, values)


@dataclass(frozen=True)
class _Select:
    sql: str
    bucket: Table
    owner: Table
    account: Table
    referer: Table
    logging: Table
    current: Table | None


def table(model, alias, start=0):
    """The Table of `model`'s concrete fields, selected as `alias`.<column>, from
    column `start` of the row."""
    connection = connections[DATABASE]
    fields = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(fields):
        expression = field.get_col(alias)
        steps = connection.ops.get_db_converters(
            expression
        ) + expression.get_db_converters(connection)
        if steps:
            converters.append((index, tuple((step, expression) for step in steps)))
    attnames = tuple(field.attname for field in fields)
    return Table(
        model,
        start,
        attnames,
        attnames.index(model._meta.pk.attname),
        tuple(converters),
    )


def columns(model, alias):
    """`alias`.<column> of each of `model`'s concrete fields, quoted, in Table's order."""
    quote = connections[DATABASE].ops.quote_name
    return [f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields]


def quoted_table(model):
    return connections[DATABASE].ops.quote_name(model._meta.db_table)


def quoted_column(model, field_name):
    return connections[DATABASE].ops.quote_name(
        model._meta.get_field(field_name).column
    )


@functools.cache
def _select(vendor, with_object):
    """The SELECT (by name, and by key when `with_object`) and how to read its row."""
    models = [
        ("b", Bucket),
        ("u", get_user_model()),
        ("a", AccountSettings),
        ("r", RefererConfiguration),
        ("l", LoggingConfiguration),
    ] + ([("o", StoredObject)] if with_object else [])
    tables, start = [], 0
    for alias, model in models:
        tables.append(table(model, alias, start))
        start += len(tables[-1].attnames)
    selected = [column for alias, model in models for column in columns(model, alias)]
    table_of, column = quoted_table, quoted_column
    sql = (
        f"SELECT {', '.join(selected)} FROM {table_of(Bucket)} b"
        f" INNER JOIN {table_of(get_user_model())} u"
        f" ON u.{column(get_user_model(), 'id')} = b.{column(Bucket, 'owner')}"
        f" LEFT JOIN {table_of(AccountSettings)} a"
        f" ON a.{column(AccountSettings, 'user')} = u.{column(get_user_model(), 'id')}"
        f" LEFT JOIN {table_of(RefererConfiguration)} r"
        f" ON r.{column(RefererConfiguration, 'bucket')} = b.{column(Bucket, 'id')}"
        f" LEFT JOIN {table_of(LoggingConfiguration)} l"
        f" ON l.{column(LoggingConfiguration, 'bucket')} = b.{column(Bucket, 'id')}"
    )
    if with_object:
        sql += (
            f" LEFT JOIN {table_of(StoredObject)} o"
            f" ON o.{column(StoredObject, 'bucket')} = b.{column(Bucket, 'id')}"
            f" AND o.{column(StoredObject, 'key')} = %s"
        )
    sql += f" WHERE b.{column(Bucket, 'name')} = %s"
    return _Select(sql, *tables[:5], tables[5] if with_object else None)


def _cache(model, field_name, instance, related):
    """instance.<field_name> as select_related leaves it: no query to read it."""
    model._meta.get_field(field_name).set_cached_value(instance, related)


def _cache_reverse_one_to_one(model, field_name, owner, related):
    """owner.<related_name> as select_related leaves it: the row, or None (then
    reading it raises DoesNotExist without a query)."""
    field = model._meta.get_field(field_name)
    field.remote_field.set_cached_value(owner, related)
    if related is not None:
        field.set_cached_value(related, owner)


def load(name, key=None):
    """(bucket or None, the current version of `key` or None) for the bucket named
    `name`. `key`, when given, must be a valid key (buckets.names)."""
    connection = connections[DATABASE]
    select = _select(connection.vendor, key is not None)
    params = [key, name] if key is not None else [name]
    with connection.cursor() as cursor:
        cursor.execute(select.sql, params)
        row = cursor.fetchone()
    if row is None:
        return None, None
    bucket = select.bucket.instance(row)
    owner = select.owner.instance(row)
    _cache(Bucket, "owner", bucket, owner)
    _cache_reverse_one_to_one(
        AccountSettings, "user", owner, select.account.instance(row)
    )
    _cache_reverse_one_to_one(
        RefererConfiguration, "bucket", bucket, select.referer.instance(row)
    )
    _cache_reverse_one_to_one(
        LoggingConfiguration, "bucket", bucket, select.logging.instance(row)
    )
    current = None
    if select.current is not None:
        current = select.current.instance(row)
        if current is not None:
            _cache(StoredObject, "bucket", current, bucket)
    return bucket, current


@functools.cache
def _current_select(vendor):
    reader = table(StoredObject, "o")
    sql = (
        f"SELECT {', '.join(columns(StoredObject, 'o'))}"
        f" FROM {quoted_table(StoredObject)} o"
        f" WHERE o.{quoted_column(StoredObject, 'bucket')} = %s"
        f" AND o.{quoted_column(StoredObject, 'key')} = %s"
    )
    return reader, sql


def current_version(bucket, key):
    """The current version of `key` in `bucket` (None: there is none), as
    bucket.stored_objects.filter(key=key).first() finds it, in one plain SELECT."""
    connection = connections[DATABASE]
    reader, sql = _current_select(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [bucket.pk, key])
        row = cursor.fetchone()
    current = reader.instance(row) if row is not None else None
    if current is not None:
        _cache(StoredObject, "bucket", current, bucket)
    return current
