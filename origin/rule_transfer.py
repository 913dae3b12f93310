"""Back-to-Origin rules in and out as OSS WebsiteConfiguration XML (SPEC §11).

Export is exactly the GET ?website document. Import is exactly PUT ?website
(origin/website_config.py `replace_configuration`): the preview runs that same
replacement in a transaction that is always rolled back, so it validates with
the very path the real import takes (rule limit, duplicate conditions, secrets
kept by AccessKey ID), then compares the rows it would leave with today's.
"""

import hashlib
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.text import capfirst

from buckets.models import Bucket
from origin import rule_lint, website_config
from origin.models import BackToOriginRule, WebsiteDocuments

MAX_IMPORT_BYTES = 1024 * 1024
# Sent when a bucket has no configuration at all: importing it clears the rules.
EMPTY_CONFIGURATION = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<WebsiteConfiguration><RoutingRules /></WebsiteConfiguration>"
)
NOT_COMPARED = {"id", "bucket", "position", "created_at", "updated_at"}
DOCUMENT_FIELDS = {
    "index_suffix": "Index document suffix",
    "index_support_sub_dir": "Index document SupportSubDir",
    "index_type": "Index document Type",
    "error_key": "Error document key",
    "error_http_status": "Error document HttpStatus",
}
FIELD_LABELS = {
    "auth_sealed_secret": "Origin AccessKey secret",
    "mode": "Mode",
    "alternates": "Alternate origins",
    "transparent_codes": "Transparent origin status codes",
    "mirror_tags": "Tags",
    "redirect_type": "Redirect type",
    "redirect_target": "Target file name",
}

ADDED, REMOVED, CHANGED, UNCHANGED = "added", "removed", "changed", "unchanged"


@dataclass(frozen=True)
class RuleState:
    """A rule's compared values and a one-line summary for the preview."""

    values: dict
    summary: str


@dataclass(frozen=True)
class RuleChange:
    position: int
    kind: str  # ADDED, REMOVED, CHANGED or UNCHANGED
    summary: str  # the rule after the import (before it, when removed)
    fields: tuple = ()  # labels of the changed fields


@dataclass(frozen=True)
class ImportPlan:
    changes: tuple
    document_fields: tuple  # labels of the changed IndexDocument / ErrorDocument fields
    fingerprint: str  # of the configuration the plan was computed against
    warnings: tuple = field(default=())  # rule lint of the rules after the import

    @property
    def has_differences(self):
        return bool(self.document_fields) or any(
            change.kind != UNCHANGED for change in self.changes
        )


def export_xml(bucket):
    """The bucket's rules as the GET ?website document (never with a secret)."""
    return website_config.configuration_xml(bucket) or EMPTY_CONFIGURATION


def export_filename(bucket):
    return f"{bucket.name}-back-to-origin.xml"


def plan_import(bucket, body, endpoint=None):
    """What importing `body` would change; raises WebsiteError as PUT ?website does."""
    before_rules, before_documents = _snapshot(bucket)
    with transaction.atomic():
        website_config.replace_configuration(bucket, body)
        after_rules, after_documents = _snapshot(bucket)
        warnings = rule_lint.lint_rules(
            BackToOriginRule.objects.engine_rules(bucket), endpoint
        )
        transaction.set_rollback(True)  # a preview changes nothing
    return ImportPlan(
        changes=_rule_changes(before_rules, after_rules),
        document_fields=tuple(
            label
            for name, label in DOCUMENT_FIELDS.items()
            if before_documents[name] != after_documents[name]
        ),
        fingerprint=_fingerprint(before_rules, before_documents),
        warnings=tuple(warnings),
    )


class ConfigurationChanged(Exception):
    """The rules changed after the preview was shown: it must be shown again."""


def apply_import(bucket, body, fingerprint):
    """Replace the rules with `body` atomically, if they are still the previewed ones."""
    with transaction.atomic():
        Bucket.objects.select_for_update().get(pk=bucket.pk)
        if fingerprint != current_fingerprint(bucket):
            raise ConfigurationChanged
        website_config.replace_configuration(bucket, body)


def current_fingerprint(bucket):
    return _fingerprint(*_snapshot(bucket))


# -- comparing -----------------------------------------------------------------------


def _compared_fields():
    return [
        field
        for field in BackToOriginRule._meta.concrete_fields
        if field.name not in NOT_COMPARED
    ]


def _label(field):
    return FIELD_LABELS.get(field.name) or capfirst(field.verbose_name)


def _state(rule):
    values = {field.name: getattr(rule, field.attname) for field in _compared_fields()}
    summary = (
        f"{rule.get_mode_display()} · {rule.prerequisite_summary()} · {rule.origin_url}"
    )
    return RuleState(values, summary)


def _snapshot(bucket):
    rules = {
        rule.position: _state(rule) for rule in bucket.origin_rules.order_by("position")
    }
    documents = WebsiteDocuments.objects.filter(bucket=bucket).first()
    documents = documents or WebsiteDocuments(bucket=bucket)
    return rules, {name: getattr(documents, name) for name in DOCUMENT_FIELDS}


def _rule_changes(before, after):
    labels = {field.name: _label(field) for field in _compared_fields()}
    changes = []
    for position in sorted(before.keys() | after.keys()):
        old, new = before.get(position), after.get(position)
        if old is None:
            changes.append(RuleChange(position, ADDED, new.summary))
        elif new is None:
            changes.append(RuleChange(position, REMOVED, old.summary))
        else:
            fields = tuple(
                labels[name] for name in labels if old.values[name] != new.values[name]
            )
            kind = CHANGED if fields else UNCHANGED
            changes.append(RuleChange(position, kind, new.summary, fields))
    return tuple(changes)


def _fingerprint(rules, documents):
    """A digest of every stored value (sealed secrets included: a digest shows none)."""
    text = repr(
        (sorted((p, sorted(s.values.items())) for p, s in rules.items()), documents)
    )
    return hashlib.sha256(text.encode()).hexdigest()
