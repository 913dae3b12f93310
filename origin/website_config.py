"""A bucket's website configuration as rows: PUT ?website replaces its rules and
documents, GET reads them back, DELETE removes them (reference §2.1).

Every rule is saved through the model's validation, the same as from the console
and the JSON API; origin/website_xml.py reads and writes the document.
"""

from django.core.exceptions import ValidationError
from django.db import transaction

from origin import website_xml
from origin.models import BackToOriginRule, WebsiteDocuments


def replace_configuration(bucket, body):
    """Validate the documents and every rule, then replace them in one transaction."""
    rule_fields, document_fields = website_xml.parse_website(body)
    with transaction.atomic():
        documents = WebsiteDocuments.objects.filter(bucket=bucket).first()
        documents = documents or WebsiteDocuments(bucket=bucket)
        for name, value in document_fields.items():
            setattr(documents, name, value)
        try:
            documents.full_clean(exclude=["bucket"])
        except ValidationError as error:
            raise website_xml.invalid_documents(error, documents) from None
        stored = {rule.position: rule for rule in bucket.origin_rules.all()}
        BackToOriginRule.objects.filter(bucket=bucket).delete()
        for fields in rule_fields:
            position = fields.pop("position")
            secret = fields.pop("auth_secret", None)
            # The position is set before validation, so errors name the RuleNumber sent.
            rule = BackToOriginRule(bucket=bucket, position=position, **fields)
            try:
                # GET ?website never returns the secret: a rule sent back without it
                # (same RuleNumber and AccessKeyId) keeps the stored one (SPEC §10).
                rule.apply_auth_secret(secret, previous=stored.get(position))
                rule.keep_protection_of(stored.get(position))  # not in OSS XML
                rule.save_in_order(position=position)
            except ValidationError as error:
                raise website_xml.invalid_rule(error, rule) from None
        documents.save()


def configuration_xml(bucket):
    """The GET ?website document, or None when the bucket has no configuration."""
    rules = list(bucket.origin_rules.order_by("position"))
    documents = WebsiteDocuments.objects.filter(bucket=bucket).first()
    if not rules and (documents is None or documents.is_empty):
        return None
    return website_xml.write_website(rules, documents)


def delete_configuration(bucket):
    with transaction.atomic():
        BackToOriginRule.objects.filter(bucket=bucket).delete()
        WebsiteDocuments.objects.filter(bucket=bucket).delete()
