"""OSS `?website` configuration <-> Back-to-Origin rule rows (reference §2.2-2.5).

PUT replaces the whole configuration; the rules go through the same model
validation as the console. GET writes what oss2 needs: lowercase booleans, no
namespace, every Condition with KeyPrefixEquals and HttpErrorCodeReturnedEquals.
"""

import re
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse

from buckets import errors
from buckets.numbers import parse_decimal
from buckets.serving import serve_object
from origin.models import BackToOriginRule, WebsiteDocuments

KEY_PLACEHOLDER = "${key}"
MAX_RULE_NUMBER = 1_000_000
MAX_CODE = 999  # status and redirect codes have three digits; Type is 0, 1 or 2
MAX_EXTRAS_BYTES = 16 * 1024
# What XML 1.0 cannot carry, even escaped; lone surrogates cannot even be encoded.
_NOT_XML_CHARS_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MIRROR_URL_RE = re.compile(
    r"^(?P<protocol>https?)://(?P<host>[^/?#]+)/(?P<path>[^?#]*)$"
)

# Elements this server understands; anything else inside Condition/Redirect is kept verbatim.
CONDITION_ELEMENTS = {
    "KeyPrefixEquals",
    "KeySuffixEquals",
    "HttpErrorCodeReturnedEquals",
    "IncludeHeader",
}
REDIRECT_ELEMENTS = {
    "RedirectType", "PassQueryString", "Protocol", "HostName", "HttpRedirectCode", "ReplaceKeyWith",
    "ReplaceKeyPrefixWith", "EnableReplacePrefix", "MirrorURL", "MirrorURLSlave", "MirrorURLProbe",
    "MirrorPassQueryString", "MirrorFollowRedirect", "MirrorCheckMd5", "MirrorHeaders",
}  # fmt: skip

# Model field -> the XML element its errors are reported against.
FIELD_ELEMENTS = {
    "http_status": "HttpErrorCodeReturnedEquals",
    "key_prefix": "KeyPrefixEquals",
    "key_suffix": "KeySuffixEquals",
    "include_headers": "IncludeHeader",
    "host": "MirrorURL",
    "path": "MirrorURL",
    "protocol": "Protocol",
    "secondary_url": "MirrorURLSlave",
    "probe_url": "MirrorURLProbe",
    "pass_headers": "Pass",
    "remove_headers": "Remove",
    "set_headers": "Set",
    "replace_prefix_with": "ReplaceKeyPrefixWith",
    "redirect_code": "HttpRedirectCode",
    "redirect_target": "ReplaceKeyWith",
    "target_fixed_path": "ReplaceKeyWith",
    "target_prefix": "ReplaceKeyWith",
    "target_suffix": "ReplaceKeyWith",
    "__all__": "RoutingRule",
}


class WebsiteError(Exception):
    """A configuration the server refuses; `code` is MalformedXML or InvalidArgument."""

    def __init__(self, code, message, name="", value=""):
        super().__init__(message)
        self.code, self.message, self.name, self.value = code, message, name, value


def _malformed(message):
    return WebsiteError("MalformedXML", message)


def _invalid(message, name, value=""):
    return WebsiteError("InvalidArgument", message, name, str(value)[:256])


# -- reading the XML -------------------------------------------------------------


def _text(node, path, default=None):
    found = node.find(path)
    if found is None:
        return default
    return found.text or ""


def _bool(node, path, default=False):
    value = _text(node, path)
    if value is None or value.strip() == "":
        return default
    lowered = value.strip().lower()  # oss2 sends True/False
    if lowered not in ("true", "false"):
        raise _invalid(f"{path} must be true or false.", path, value)
    return lowered == "true"


def _int(node, path, default=None, max_value=MAX_CODE):
    value = _text(node, path)
    if value is None or value.strip() == "":
        return default
    try:
        return parse_decimal(value.strip(), max_value=max_value)
    except ValueError:
        raise _invalid(
            f"{path} must be a whole number from 0 to {max_value}.", path, value
        ) from None


def _required(node, path):
    value = _text(node, path)
    if value is None:
        raise _malformed(f"{path} is required.")
    return value


def _extras(node, known):
    """Children this server does not map, as XML text to write back verbatim."""
    return [
        ET.tostring(child, encoding="unicode")
        for child in node
        if child.tag not in known
    ]


def parse_website(body):
    """(rule field dicts in RuleNumber order, documents dict) from a PUT ?website body."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError as error:
        raise _malformed(f"The XML is not well-formed: {error}.") from None
    if root.tag != "WebsiteConfiguration":
        raise _malformed("The root element must be WebsiteConfiguration.")
    index, error_doc, rules_node = (
        root.find("IndexDocument"),
        root.find("ErrorDocument"),
        root.find("RoutingRules"),
    )
    if index is None and error_doc is None and rules_node is None:
        raise _malformed(
            "A website configuration needs IndexDocument, ErrorDocument or RoutingRules."
        )
    documents = {
        "index_suffix": (
            _text(index, "Suffix", "") if index is not None else ""
        ).strip(),
        "index_support_sub_dir": _bool(index, "SupportSubDir")
        if index is not None
        else False,
        "index_type": _int(index, "Type", 0) if index is not None else 0,
        "error_key": (
            _text(error_doc, "Key", "") if error_doc is not None else ""
        ).strip(),
        "error_http_status": _int(error_doc, "HttpStatus", 404)
        if error_doc is not None
        else 404,
    }
    if documents["index_type"] not in (0, 1, 2):
        raise _invalid(
            "IndexDocument/Type must be 0, 1 or 2.", "Type", documents["index_type"]
        )
    if documents["error_http_status"] not in (200, 404):
        raise _invalid(
            "ErrorDocument/HttpStatus must be 200 or 404.",
            "HttpStatus",
            documents["error_http_status"],
        )
    rule_nodes = rules_node.findall("RoutingRule") if rules_node is not None else []
    limit = settings.BACK_TO_ORIGIN_MAX_RULES
    if len(rule_nodes) > limit:
        raise _invalid(
            f"A bucket can have at most {limit} Back-to-Origin rules; {len(rule_nodes)} were given.",
            "RoutingRule",
            len(rule_nodes),
        )
    rules = [_parse_rule(node) for node in rule_nodes]
    numbers = [rule["position"] for rule in rules]
    duplicates = sorted({number for number in numbers if numbers.count(number) > 1})
    if duplicates:
        raise _invalid(
            f"RuleNumber {duplicates[0]} is used by more than one rule.",
            "RuleNumber",
            duplicates[0],
        )
    return sorted(rules, key=lambda rule: rule["position"]), documents


def _rule_number(node):
    number = _required(node, "RuleNumber").strip()
    try:
        position = parse_decimal(number, max_value=MAX_RULE_NUMBER)
    except ValueError:
        position = 0
    if position < 1:
        raise _invalid(
            f"RuleNumber must be a whole number from 1 to {MAX_RULE_NUMBER}.",
            "RuleNumber",
            number,
        )
    return position


def _parse_rule(node):
    position = _rule_number(node)
    condition, redirect = node.find("Condition"), node.find("Redirect")
    if condition is None or redirect is None:
        raise _malformed("Every RoutingRule needs a Condition and a Redirect.")
    rule = {"position": position, **_parse_condition(condition)}
    redirect_type = _required(redirect, "RedirectType").strip()
    if redirect_type == "Mirror":
        rule.update(_parse_mirror(redirect))
    elif redirect_type in ("External", "AliCDN", "Internal"):
        rule.update(_parse_redirect(redirect, redirect_type))
    else:
        raise _invalid(
            "RedirectType must be Mirror, External, AliCDN or Internal.",
            "RedirectType",
            redirect_type,
        )
    extras = {
        "Condition": _extras(condition, CONDITION_ELEMENTS),
        "Redirect": _extras(redirect, REDIRECT_ELEMENTS),
    }
    if len(str(extras).encode()) > MAX_EXTRAS_BYTES:
        raise _invalid(
            "The rule carries too many unrecognised elements.", "RoutingRule", position
        )
    rule["api_extras"] = {name: kept for name, kept in extras.items() if kept}
    return rule


def _parse_condition(condition):
    headers = []
    for include in condition.findall("IncludeHeader"):
        headers.append(
            [_required(include, "Key").strip(), _text(include, "Equals", "")]
        )
    return {
        "key_prefix": _text(condition, "KeyPrefixEquals", ""),
        "key_suffix": _text(condition, "KeySuffixEquals", ""),
        "http_status": _int(condition, "HttpErrorCodeReturnedEquals"),
        "include_headers": headers,
    }


def _parse_mirror(redirect):
    mirror_url = _required(redirect, "MirrorURL").strip()
    match = _MIRROR_URL_RE.match(mirror_url)
    if not match or not mirror_url.endswith("/"):
        raise _invalid(
            "MirrorURL must be an http:// or https:// URL ending in /.",
            "MirrorURL",
            mirror_url,
        )
    headers = redirect.find("MirrorHeaders")
    pass_query = _bool(
        redirect, "MirrorPassQueryString", default=_bool(redirect, "PassQueryString")
    )
    replace_with = _text(redirect, "ReplaceKeyPrefixWith")
    enable_replace = _bool(redirect, "EnableReplacePrefix") or bool(replace_with)
    if redirect.find("ReplaceKeyWith") is not None:
        raise _invalid(
            "A Mirror rule cannot use ReplaceKeyWith.",
            "ReplaceKeyWith",
            _text(redirect, "ReplaceKeyWith"),
        )
    fields = {
        "mode": BackToOriginRule.Mode.MIRROR,
        "protocol": match["protocol"],
        "host": match["host"],
        # GET writes the path percent-encoded (engine.origin_base_url): decode it, or
        # every GET-then-PUT would encode it once more.
        "path": unquote(match["path"]).strip("/"),
        "pass_query_string": pass_query,
        "follow_redirects": _bool(redirect, "MirrorFollowRedirect", default=True),
        "check_md5": _bool(redirect, "MirrorCheckMd5"),
        "replace_prefix": enable_replace,
        "replace_prefix_with": replace_with or "",
        "secondary_url": (_text(redirect, "MirrorURLSlave", "") or "").strip(),
        "probe_url": (_text(redirect, "MirrorURLProbe", "") or "").strip(),
        "pass_all_headers": False,
        "pass_headers": [],
        "remove_headers": [],
        "set_headers": [],
    }
    if fields["secondary_url"] and not fields["secondary_url"].endswith("/"):
        raise _invalid(
            "MirrorURLSlave must end in /.", "MirrorURLSlave", fields["secondary_url"]
        )
    if headers is not None:
        fields["pass_all_headers"] = _bool(headers, "PassAll")
        fields["pass_headers"] = [
            (item.text or "").strip() for item in headers.findall("Pass")
        ]
        fields["remove_headers"] = [
            (item.text or "").strip() for item in headers.findall("Remove")
        ]
        fields["set_headers"] = [
            [_required(item, "Key").strip(), _required(item, "Value")]
            for item in headers.findall("Set")
        ]
    return fields


def _parse_redirect(redirect, redirect_type):
    protocol = (_text(redirect, "Protocol", "") or "https").strip()
    if protocol not in ("http", "https"):
        raise _invalid("Protocol must be http or https.", "Protocol", protocol)
    host = (_text(redirect, "HostName", "") or "").strip()
    if redirect_type == "Internal":
        # Internal rewrites stay in the bucket: oss2 refuses these on them too.
        for element in ("Protocol", "HostName", "HttpRedirectCode"):
            if redirect.find(element) is not None:
                raise _invalid(
                    f"An Internal rule cannot have {element}.",
                    element,
                    _text(redirect, element),
                )
    elif not host:
        raise _invalid("A redirection rule needs a HostName.", "HostName", "")
    replace_key_with = _text(redirect, "ReplaceKeyWith")
    replace_prefix_with = _text(redirect, "ReplaceKeyPrefixWith")
    enable_replace = _bool(redirect, "EnableReplacePrefix")
    if replace_key_with is not None and (
        replace_prefix_with is not None or enable_replace
    ):
        raise _invalid(
            "ReplaceKeyWith and ReplaceKeyPrefixWith cannot be used together.",
            "ReplaceKeyWith",
            replace_key_with,
        )
    fields = {
        "mode": BackToOriginRule.Mode.REDIRECT,
        "redirect_type": redirect_type,
        "protocol": protocol,
        "host": host,
        "pass_query_string": _bool(redirect, "PassQueryString"),
        "redirect_code": _int(redirect, "HttpRedirectCode", 301),
        "redirect_target": BackToOriginRule.RedirectTarget.KEEP,
    }
    if replace_key_with is not None:
        if replace_key_with.count(KEY_PLACEHOLDER) > 1:
            raise _invalid(
                "ReplaceKeyWith may contain ${key} at most once.",
                "ReplaceKeyWith",
                replace_key_with,
            )
        if KEY_PLACEHOLDER in replace_key_with:
            prefix, _, suffix = replace_key_with.partition(KEY_PLACEHOLDER)
            fields.update(
                redirect_target=BackToOriginRule.RedirectTarget.AFFIX,
                target_prefix=prefix,
                target_suffix=suffix,
            )
            if not (prefix or suffix):
                fields["redirect_target"] = BackToOriginRule.RedirectTarget.KEEP
        else:
            fields.update(
                redirect_target=BackToOriginRule.RedirectTarget.FIXED,
                target_fixed_path=replace_key_with,
            )
    elif replace_prefix_with is not None or enable_replace:
        fields.update(
            redirect_target=BackToOriginRule.RedirectTarget.REPLACE_PREFIX,
            replace_prefix_with=replace_prefix_with or "",
        )
    return fields


# -- saving ------------------------------------------------------------------------------


def replace_configuration(bucket, body):
    """Validate every rule, then replace the bucket's rules and documents in one transaction."""
    rule_fields, documents = parse_website(body)
    with transaction.atomic():
        BackToOriginRule.objects.filter(bucket=bucket).delete()
        for fields in rule_fields:
            position = fields.pop("position")
            if fields.get("http_status") is None:
                fields["http_status"] = 404
            if (
                fields["mode"] == BackToOriginRule.Mode.MIRROR
                and fields["http_status"] != 404
            ):
                raise _invalid(
                    "A Mirror rule must have HttpErrorCodeReturnedEquals 404.",
                    "HttpErrorCodeReturnedEquals",
                    fields["http_status"],
                )
            # The position is set before validation, so errors name the RuleNumber sent.
            rule = BackToOriginRule(bucket=bucket, position=position, **fields)
            try:
                rule.save_in_order(position=position)
            except ValidationError as error:
                raise _from_validation(error, rule) from None
        WebsiteDocuments.objects.update_or_create(bucket=bucket, defaults=documents)


def _from_validation(error, rule):
    field, messages = next(iter(error.message_dict.items()))
    name = FIELD_ELEMENTS.get(field, field)
    value = getattr(rule, field, "") if field != "__all__" else rule.position
    return _invalid(f"RuleNumber {rule.position}: {messages[0]}", name, value)


def delete_configuration(bucket):
    with transaction.atomic():
        BackToOriginRule.objects.filter(bucket=bucket).delete()
        WebsiteDocuments.objects.filter(bucket=bucket).delete()


# -- writing the XML ---------------------------------------------------------------------


def _bool_text(value):
    return "true" if value else "false"


def _add(parent, tag, text):
    child = ET.SubElement(parent, tag)
    # Rules are validated so this changes nothing; it keeps rows saved before the
    # validation existed from making the whole document unreadable.
    child.text = _NOT_XML_CHARS_RE.sub("\ufffd", str(text))
    return child


def _add_extras(parent, fragments):
    for fragment in fragments:
        parent.append(ET.fromstring(fragment))


def website_xml(bucket):
    """The GET ?website document, or None when the bucket has no configuration."""
    rules = list(bucket.origin_rules.order_by("position"))
    documents = WebsiteDocuments.objects.filter(bucket=bucket).first()
    if not rules and (documents is None or documents.is_empty):
        return None
    root = ET.Element("WebsiteConfiguration")
    if documents and documents.index_suffix:
        index = ET.SubElement(root, "IndexDocument")
        _add(index, "Suffix", documents.index_suffix)
        _add(index, "SupportSubDir", _bool_text(documents.index_support_sub_dir))
        _add(index, "Type", documents.index_type)
    if documents and documents.error_key:
        error_doc = ET.SubElement(root, "ErrorDocument")
        _add(error_doc, "Key", documents.error_key)
        _add(error_doc, "HttpStatus", documents.error_http_status)
    if rules:
        rules_node = ET.SubElement(root, "RoutingRules")
        for rule in rules:
            _rule_xml(ET.SubElement(rules_node, "RoutingRule"), rule)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        root, encoding="utf-8", xml_declaration=False
    )


def _rule_xml(node, rule):
    _add(node, "RuleNumber", rule.position)
    condition = ET.SubElement(node, "Condition")
    _add(condition, "KeyPrefixEquals", rule.key_prefix)
    if rule.key_suffix:
        _add(condition, "KeySuffixEquals", rule.key_suffix)
    _add(condition, "HttpErrorCodeReturnedEquals", rule.http_status)
    for name, equals in rule.include_headers:
        include = ET.SubElement(condition, "IncludeHeader")
        _add(include, "Key", name)
        _add(include, "Equals", equals)
    _add_extras(condition, rule.api_extras.get("Condition", []))
    redirect = ET.SubElement(node, "Redirect")
    if rule.is_mirror:
        _mirror_xml(redirect, rule)
    else:
        _redirect_xml(redirect, rule)
    _add_extras(redirect, rule.api_extras.get("Redirect", []))


def _mirror_xml(redirect, rule):
    _add(redirect, "RedirectType", "Mirror")
    _add(redirect, "PassQueryString", _bool_text(rule.pass_query_string))
    _add(redirect, "MirrorURL", rule.origin_url)
    if rule.secondary_url:
        _add(redirect, "MirrorURLSlave", rule.secondary_url)
        _add(redirect, "MirrorURLProbe", rule.probe_url)
    _add(redirect, "MirrorPassQueryString", _bool_text(rule.pass_query_string))
    _add(redirect, "MirrorFollowRedirect", _bool_text(rule.follow_redirects))
    _add(redirect, "MirrorCheckMd5", _bool_text(rule.check_md5))
    if rule.replace_prefix:
        _add(redirect, "EnableReplacePrefix", "true")
        _add(redirect, "ReplaceKeyPrefixWith", rule.replace_prefix_with)
    headers = ET.SubElement(redirect, "MirrorHeaders")
    _add(headers, "PassAll", _bool_text(rule.pass_all_headers))
    for name in rule.pass_headers:
        _add(headers, "Pass", name)
    for name in rule.remove_headers:
        _add(headers, "Remove", name)
    for name, value in rule.set_headers:
        item = ET.SubElement(headers, "Set")
        _add(item, "Key", name)
        _add(item, "Value", value)


def _redirect_xml(redirect, rule):
    _add(redirect, "RedirectType", rule.redirect_type)
    _add(redirect, "PassQueryString", _bool_text(rule.pass_query_string))
    if not rule.is_internal:
        _add(redirect, "Protocol", rule.protocol)
        _add(redirect, "HostName", rule.host)
        _add(redirect, "HttpRedirectCode", rule.redirect_code)
    target = rule.redirect_target
    if target == BackToOriginRule.RedirectTarget.AFFIX:
        _add(
            redirect,
            "ReplaceKeyWith",
            f"{rule.target_prefix}{KEY_PLACEHOLDER}{rule.target_suffix}",
        )
    elif target == BackToOriginRule.RedirectTarget.FIXED:
        _add(redirect, "ReplaceKeyWith", rule.target_fixed_path)
    elif target == BackToOriginRule.RedirectTarget.REPLACE_PREFIX:
        _add(redirect, "EnableReplacePrefix", "true")
        _add(redirect, "ReplaceKeyPrefixWith", rule.replace_prefix_with)


# -- IndexDocument / ErrorDocument, applied after the rules ---------------------------


def fallback_response(request, bucket, key):
    """The index page or error document for a missing key no rule matched, or None."""
    documents = WebsiteDocuments.objects.filter(bucket=bucket).first()
    if documents is None or documents.is_empty:
        return None
    if documents.index_suffix:
        if key.endswith("/"):
            index = _existing(bucket, key + documents.index_suffix)
            if index is not None:
                return _serve(request, index)
        elif documents.index_support_sub_dir and _existing(
            bucket, f"{key}/{documents.index_suffix}"
        ):
            if documents.index_type == 0:
                response = HttpResponse(status=302)
                response["Location"] = f"/{bucket.name}/{quote(key)}/"
                response["x-oss-request-id"] = request.oss_request_id
                return response
            if documents.index_type == 2:
                return _serve(
                    request, _existing(bucket, f"{key}/{documents.index_suffix}")
                )
    if documents.error_key:
        error_page = _existing(bucket, documents.error_key)
        if error_page is not None:
            response = _serve(request, error_page)
            response.status_code = documents.error_http_status
            return response
    return None


def _existing(bucket, key):
    return bucket.stored_objects.filter(key=key).first()


def _serve(request, obj):
    try:
        response = serve_object(request, obj)
    except errors.OssError as error:  # e.g. a Range past the end of the error page
        return error.response(request)
    response["x-oss-request-id"] = request.oss_request_id
    return response
