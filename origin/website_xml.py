"""The OSS WebsiteConfiguration document (reference §2.2-2.5), parsed and written.

Pure: no database. A PUT ?website body becomes rule and document field values;
rule rows become the GET ?website document. The parser refuses only what it
cannot read (malformed XML, a missing RuleNumber, a number or boolean that is
not one, elements that cannot go together); whether a value is allowed is the
models' clean() (origin/rule_checks.py), the same for the console and the JSON
API. The writer gives oss2 what it needs: lowercase booleans, no namespace,
every Condition with KeyPrefixEquals and HttpErrorCodeReturnedEquals.
"""

import xml.etree.ElementTree as ET
from urllib.parse import unquote

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from django.core.exceptions import ValidationError

from buckets.numbers import parse_decimal
from buckets.oss_xml import element
from origin import engine, rule_checks
from origin.models import BackToOriginRule

KEY_PLACEHOLDER = "${key}"
MAX_RULE_NUMBER = 1_000_000

MAX_CODE = 999  # status and redirect codes have three digits; Type is 0, 1 or 2
Mode = BackToOriginRule.Mode
RedirectTarget = BackToOriginRule.RedirectTarget

# Elements this server honours, per parent. Anything else is refused, naming it (SPEC §10):
# a setting the runtime would ignore is never accepted.
RULE_ELEMENTS = {"RuleNumber", "Condition", "Redirect"}
INCLUDE_HEADER_MATCHES = {
    "Equals": engine.MATCH_EQUALS,
    "StartsWith": engine.MATCH_STARTS_WITH,
    "EndsWith": engine.MATCH_ENDS_WITH,
}
MATCH_ELEMENTS = {match: tag for tag, match in INCLUDE_HEADER_MATCHES.items()}
INCLUDE_HEADER_ELEMENTS = {"Key", *INCLUDE_HEADER_MATCHES}
ALTERNATES_ELEMENTS = {"MirrorMultiAlternate"}
ALTERNATE_ELEMENTS = {"MirrorMultiAlternateNumber", "MirrorMultiAlternateURL"}
RETURN_HEADERS_ELEMENTS = {"ReturnHeader"}
AUTH_ELEMENTS = {"AuthType", "AccessKeyId", "AccessKeySecret", "Region"}
MIRROR_HEADERS_ELEMENTS = {"PassAll", "Pass", "Remove", "Set"}
SET_HEADER_ELEMENTS = {"Key", "Value"}
CONDITION_ELEMENTS = {
    "KeyPrefixEquals",
    "KeySuffixEquals",
    "HttpErrorCodeReturnedEquals",
    "IncludeHeader",
}
COMMON_REDIRECT_ELEMENTS = {
    "RedirectType", "PassQueryString", "ReplaceKeyPrefixWith", "EnableReplacePrefix",
}  # fmt: skip
# Elements of External, AliCDN and Internal rules: a Mirror rule would ignore them.
REDIRECT_ELEMENTS = {"Protocol", "HostName", "HttpRedirectCode", "ReplaceKeyWith"}
# Elements only a Mirror rule has: on another RedirectType they would be ignored, so refused.
MIRROR_ELEMENTS = {
    "MirrorURL", "MirrorURLSlave", "MirrorURLProbe", "MirrorPassQueryString", "MirrorFollowRedirect",
    "MirrorCheckMd5", "MirrorHeaders", "MirrorMultiAlternates", "MirrorSwitchAllErrors",
    "TransparentMirrorResponseCodes", "MirrorAllowHeadObject", "MirrorProxyPass", "MirrorSaveOssMeta",
    "MirrorUserLastModified", "MirrorPassOriginalSlashes", "MirrorSNI", "MirrorReturnHeaders",
    "MirrorAuth", "MirrorTaggings",
}  # fmt: skip

# Model field -> the XML element its errors are reported against.
RULE_FIELD_ELEMENTS = {
    "http_status": "HttpErrorCodeReturnedEquals",
    "key_prefix": "KeyPrefixEquals",
    "key_suffix": "KeySuffixEquals",
    "include_headers": "IncludeHeader",
    "secondary_url": "MirrorURLSlave",
    "probe_url": "MirrorURLProbe",
    "pass_headers": "Pass",
    "remove_headers": "Remove",
    "set_headers": "Set",
    "alternates": "MirrorMultiAlternateURL",
    "transparent_codes": "TransparentMirrorResponseCodes",
    "return_headers": "ReturnHeader",
    "mirror_tags": "Taggings",
    "send_sni": "MirrorSNI",
    "proxy_only": "MirrorProxyPass",
    "auth_type": "AuthType",
    "auth_access_key_id": "AccessKeyId",
    "auth_access_key_secret": "AccessKeySecret",
    "auth_region": "Region",
    "replace_prefix_with": "ReplaceKeyPrefixWith",
    "redirect_type": "RedirectType",
    "redirect_code": "HttpRedirectCode",
    "redirect_target": "ReplaceKeyWith",
    "target_fixed_path": "ReplaceKeyWith",
    "target_prefix": "ReplaceKeyWith",
    "target_suffix": "ReplaceKeyWith",
    "__all__": "RoutingRule",
}
# The origin is one MirrorURL for mirroring, Protocol and HostName for redirection.
MIRROR_URL_ELEMENTS = {
    "protocol": "MirrorURL",
    "host": "MirrorURL",
    "path": "MirrorURL",
}
REDIRECT_URL_ELEMENTS = {"protocol": "Protocol", "host": "HostName"}
DOCUMENT_FIELD_ELEMENTS = {
    "index_suffix": "Suffix",
    "index_support_sub_dir": "SupportSubDir",
    "index_type": "Type",
    "error_key": "Key",
    "error_http_status": "HttpStatus",
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


def invalid_rule(error, rule):
    """The InvalidArgument for a rule clean() refused: its first message, named by
    the RuleNumber sent and the element the field comes from."""
    field, messages = next(iter(error.message_dict.items()))
    url_elements = MIRROR_URL_ELEMENTS if rule.is_mirror else REDIRECT_URL_ELEMENTS
    name = url_elements.get(field) or RULE_FIELD_ELEMENTS.get(field, field)
    value = getattr(rule, field, "") if field != "__all__" else rule.position
    if field in ("auth_access_key_secret", "auth_sealed_secret"):
        value = ""  # a secret is never sent back, not even in an error
    return _invalid(f"RuleNumber {rule.position}: {messages[0]}", name, value)


def invalid_documents(error, documents):
    """The InvalidArgument for IndexDocument / ErrorDocument values clean() refused."""
    field, messages = next(iter(error.message_dict.items()))
    name = DOCUMENT_FIELD_ELEMENTS.get(field, field)
    return _invalid(messages[0], name, getattr(documents, field, ""))


# -- reading -----------------------------------------------------------------------


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


def _refuse_unsupported(node, known, position):
    """Refuse the first child element this server does not honour, naming it."""
    for child in node:
        if child.tag not in known:
            raise _invalid(
                f"RuleNumber {position}: {child.tag} is not supported by this server; "
                "the configuration was not saved.",
                child.tag,
                (child.text or "").strip(),
            )


def parse_website(body):
    """(rule field dicts in RuleNumber order, documents field dict) from a PUT ?website body."""
    try:
        # defusedxml: a client's entity declarations (billion laughs, external files) are refused.
        root = fromstring(body)
    except ParseError as error:
        raise _malformed(f"The XML is not well-formed: {error}.") from None
    except DefusedXmlException:
        raise _malformed(
            "The XML must not declare entities or refer to external resources."
        ) from None
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
    rule_nodes = rules_node.findall("RoutingRule") if rules_node is not None else []
    rules = [_parse_rule(node) for node in rule_nodes]
    numbers = [rule["position"] for rule in rules]
    duplicates = sorted({number for number in numbers if numbers.count(number) > 1})
    if duplicates:
        raise _invalid(
            f"RuleNumber {duplicates[0]} is used by more than one rule.",
            "RuleNumber",
            duplicates[0],
        )
    rules.sort(key=lambda rule: rule["position"])
    return rules, _parse_documents(index, error_doc)


def _parse_documents(index, error_doc):
    """Every documents field: PUT replaces the whole configuration, so an omitted
    document is cleared. oss2 sends both, with an empty Suffix / Key when not set."""
    fields = {
        "index_suffix": "",
        "index_support_sub_dir": False,
        "index_type": 0,
        "error_key": "",
        "error_http_status": 404,
    }
    if index is not None:
        fields["index_suffix"] = _text(index, "Suffix", "").strip()
        fields["index_support_sub_dir"] = _bool(index, "SupportSubDir")
        fields["index_type"] = _int(index, "Type", 0)
    if error_doc is not None:
        fields["error_key"] = _text(error_doc, "Key", "").strip()
        fields["error_http_status"] = _int(error_doc, "HttpStatus", 404)
    return fields


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
        rule.update(_parse_mirror(redirect, position))
    elif redirect_type in BackToOriginRule.RedirectType.values:
        rule.update(_parse_redirect(redirect, redirect_type))
    else:
        raise _invalid(
            "RedirectType must be Mirror, External, AliCDN or Internal.",
            "RedirectType",
            redirect_type,
        )
    _refuse_unsupported(node, RULE_ELEMENTS, position)
    _refuse_unsupported(condition, CONDITION_ELEMENTS, position)
    for include in condition.findall("IncludeHeader"):
        _refuse_unsupported(include, INCLUDE_HEADER_ELEMENTS, position)
    is_mirror = redirect_type == "Mirror"
    _refuse_unsupported(
        redirect,
        COMMON_REDIRECT_ELEMENTS
        | (MIRROR_ELEMENTS if is_mirror else REDIRECT_ELEMENTS),
        position,
    )
    for container, known, items, item_known in (
        ("MirrorHeaders", MIRROR_HEADERS_ELEMENTS, "Set", SET_HEADER_ELEMENTS),
        ("MirrorMultiAlternates", ALTERNATES_ELEMENTS, "MirrorMultiAlternate", ALTERNATE_ELEMENTS),
        ("MirrorReturnHeaders", RETURN_HEADERS_ELEMENTS, "ReturnHeader", SET_HEADER_ELEMENTS),
        ("MirrorAuth", AUTH_ELEMENTS, None, None),
        ("MirrorTaggings", {"Taggings"}, "Taggings", SET_HEADER_ELEMENTS),
    ):  # fmt: skip
        node = redirect.find(container)
        if node is None:
            continue
        _refuse_unsupported(node, known, position)
        for item in node.findall(items) if items else ():
            _refuse_unsupported(item, item_known, position)
    return rule


def _parse_condition(condition):
    fields = {
        "key_prefix": _text(condition, "KeyPrefixEquals", ""),
        "key_suffix": _text(condition, "KeySuffixEquals", ""),
        "include_headers": [
            _include_header(include) for include in condition.findall("IncludeHeader")
        ],
    }
    status = _int(condition, "HttpErrorCodeReturnedEquals")
    if status is not None:  # omitted: the model's default, 404
        fields["http_status"] = status
    return fields


def _include_header(include):
    """[name, value, match] of one IncludeHeader; without a comparison it is Equals "" ."""
    name = _required(include, "Key").strip()
    given = [tag for tag in INCLUDE_HEADER_MATCHES if include.find(tag) is not None]
    if len(given) > 1:
        raise _invalid(
            f"IncludeHeader {name} takes one of Equals, StartsWith or EndsWith "
            "(use one IncludeHeader per comparison).",
            "IncludeHeader",
            name,
        )
    tag = given[0] if given else "Equals"
    return [name, _text(include, tag, ""), INCLUDE_HEADER_MATCHES[tag]]


def _parse_mirror(redirect, position):
    mirror_url = _required(redirect, "MirrorURL").strip()
    try:
        protocol, host, path = rule_checks.split_origin_url(mirror_url, "MirrorURL")
    except ValidationError as error:
        raise _invalid(
            f"RuleNumber {position}: {error.messages[0]}", "MirrorURL", mirror_url
        ) from None
    if redirect.find("ReplaceKeyWith") is not None:
        raise _invalid(
            "A Mirror rule cannot use ReplaceKeyWith.",
            "ReplaceKeyWith",
            _text(redirect, "ReplaceKeyWith"),
        )
    replace_with = _text(redirect, "ReplaceKeyPrefixWith")
    fields = {
        "mode": Mode.MIRROR,
        "protocol": protocol,
        "host": host,
        # GET writes the path percent-encoded (engine.origin_base_url): decode it, or
        # every GET-then-PUT would encode it once more.
        "path": unquote(path).strip("/"),
        "pass_query_string": _bool(
            redirect,
            "MirrorPassQueryString",
            default=_bool(redirect, "PassQueryString"),
        ),
        "follow_redirects": _bool(redirect, "MirrorFollowRedirect", default=True),
        "check_md5": _bool(redirect, "MirrorCheckMd5"),
        "replace_prefix": _bool(redirect, "EnableReplacePrefix") or bool(replace_with),
        "replace_prefix_with": replace_with or "",
        "secondary_url": _text(redirect, "MirrorURLSlave", ""),
        "probe_url": _text(redirect, "MirrorURLProbe", ""),
        "alternates": _alternates(redirect),
        "switch_on_all_errors": _bool(redirect, "MirrorSwitchAllErrors"),
        "transparent_codes": _status_codes(redirect, position),
        "mirror_head": _bool(redirect, "MirrorAllowHeadObject"),
        "proxy_only": _bool(redirect, "MirrorProxyPass"),
        "save_origin_meta": _bool(redirect, "MirrorSaveOssMeta"),
        "keep_origin_last_modified": _bool(redirect, "MirrorUserLastModified"),
        "pass_original_slashes": _bool(redirect, "MirrorPassOriginalSlashes"),
        "send_sni": _bool(redirect, "MirrorSNI", default=True),
        "return_headers": [
            [_required(item, "Key").strip(), _required(item, "Value")]
            for item in redirect.findall("MirrorReturnHeaders/ReturnHeader")
        ],
        "mirror_tags": [
            [_required(item, "Key"), _text(item, "Value", "")]
            for item in redirect.findall("MirrorTaggings/Taggings")
        ],
        **_auth(redirect),
    }
    headers = redirect.find("MirrorHeaders")
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


def _alternates(redirect):
    return [
        [
            _int(item, "MirrorMultiAlternateNumber", max_value=MAX_RULE_NUMBER),
            _required(item, "MirrorMultiAlternateURL").strip(),
        ]
        for item in redirect.findall("MirrorMultiAlternates/MirrorMultiAlternate")
    ]


def _status_codes(redirect, position):
    text = _text(redirect, "TransparentMirrorResponseCodes", "")
    try:
        return rule_checks.parse_status_codes(text, "TransparentMirrorResponseCodes")
    except ValidationError as error:
        raise _invalid(
            f"RuleNumber {position}: {error.messages[0]}",
            "TransparentMirrorResponseCodes",
            text,
        ) from None


def _auth(redirect):
    """MirrorAuth fields; `auth_secret` is the secret sent (None: keep the stored one)."""
    node = redirect.find("MirrorAuth")
    if node is None:
        return {"auth_type": "", "auth_secret": None}
    return {
        "auth_type": (_text(node, "AuthType") or "").strip(),
        "auth_access_key_id": (_text(node, "AccessKeyId") or "").strip(),
        "auth_region": (_text(node, "Region") or "").strip(),
        "auth_secret": _text(node, "AccessKeySecret"),
    }


def _parse_redirect(redirect, redirect_type):
    replace_key_with = _text(redirect, "ReplaceKeyWith")
    replace_prefix_with = _text(redirect, "ReplaceKeyPrefixWith")
    enable_replace = _bool(redirect, "EnableReplacePrefix")
    # A rule has one way of building the target key: two cannot be stored as one.
    if replace_key_with is not None and (
        replace_prefix_with is not None or enable_replace
    ):
        raise _invalid(
            "ReplaceKeyWith and ReplaceKeyPrefixWith cannot be used together.",
            "ReplaceKeyWith",
            replace_key_with,
        )
    fields = {
        "mode": Mode.REDIRECT,
        "redirect_type": redirect_type,
        # Omitted (or empty) elements take the model's defaults; clean() decides the rest.
        "protocol": (_text(redirect, "Protocol") or "").strip()
        or BackToOriginRule.Protocol.HTTPS,
        "host": (_text(redirect, "HostName") or "").strip(),
        "pass_query_string": _bool(redirect, "PassQueryString"),
        "redirect_code": _int(
            redirect,
            "HttpRedirectCode",
            BackToOriginRule.RedirectCode.MOVED_PERMANENTLY,
        ),
        "redirect_target": RedirectTarget.KEEP,
    }
    if replace_key_with is not None:
        fields.update(_key_replacement(replace_key_with))
    elif replace_prefix_with is not None or enable_replace:
        fields.update(
            redirect_target=RedirectTarget.REPLACE_PREFIX,
            replace_prefix_with=replace_prefix_with or "",
        )
    return fields


def _key_replacement(replace_key_with):
    """ReplaceKeyWith as the console's target: prefix${key}suffix, or a fixed path."""
    if replace_key_with.count(KEY_PLACEHOLDER) > 1:
        # The rule stores one prefix and one suffix around the key.
        raise _invalid(
            "ReplaceKeyWith may contain ${key} at most once.",
            "ReplaceKeyWith",
            replace_key_with,
        )
    if KEY_PLACEHOLDER not in replace_key_with:
        return {
            "redirect_target": RedirectTarget.FIXED,
            "target_fixed_path": replace_key_with,
        }
    prefix, _, suffix = replace_key_with.partition(KEY_PLACEHOLDER)
    if not (prefix or suffix):
        return {"redirect_target": RedirectTarget.KEEP}
    return {
        "redirect_target": RedirectTarget.AFFIX,
        "target_prefix": prefix,
        "target_suffix": suffix,
    }


# -- writing -----------------------------------------------------------------------


def _bool_text(value):
    return "true" if value else "false"


def write_website(rules, documents):
    """The GET ?website document for rule rows in RuleNumber order and the
    WebsiteDocuments row (None or empty: no IndexDocument / ErrorDocument)."""
    children = []
    if documents and documents.index_suffix:
        children.append(
            element(
                "IndexDocument",
                children=[
                    element("Suffix", documents.index_suffix),
                    element(
                        "SupportSubDir", _bool_text(documents.index_support_sub_dir)
                    ),
                    element("Type", documents.index_type),
                ],
            )
        )
    if documents and documents.error_key:
        children.append(
            element(
                "ErrorDocument",
                children=[
                    element("Key", documents.error_key),
                    element("HttpStatus", documents.error_http_status),
                ],
            )
        )
    if rules:
        children.append(
            element("RoutingRules", children=[_rule_element(rule) for rule in rules])
        )
    root = element("WebsiteConfiguration", children=children)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        root, encoding="utf-8", xml_declaration=False
    )


def _rule_element(rule):
    condition = [
        element("KeyPrefixEquals", rule.key_prefix),
        element("KeySuffixEquals", rule.key_suffix) if rule.key_suffix else None,
        element("HttpErrorCodeReturnedEquals", rule.http_status),
        *(
            element(
                "IncludeHeader",
                children=[
                    element("Key", condition.name),
                    element(MATCH_ELEMENTS[condition.match], condition.value),
                ],
            )
            for condition in rule.to_engine().include_headers
        ),
    ]
    redirect = _mirror_elements(rule) if rule.is_mirror else _redirect_elements(rule)
    return element(
        "RoutingRule",
        children=[
            element("RuleNumber", rule.position),
            element("Condition", children=condition),
            element("Redirect", children=redirect),
        ],
    )


def _mirror_elements(rule):
    headers = [
        element("PassAll", _bool_text(rule.pass_all_headers)),
        *(element("Pass", name) for name in rule.pass_headers),
        *(element("Remove", name) for name in rule.remove_headers),
        *_key_value_elements("Set", rule.set_headers),
    ]
    secondary = [
        element(name, value)
        for name, value in (
            ("MirrorURLSlave", rule.secondary_url),
            ("MirrorURLProbe", rule.probe_url),
        )
        if value
    ]
    # Default booleans are emitted, as OSS does (reference §2.5).
    replacement = (
        [
            element("EnableReplacePrefix", "true"),
            element("ReplaceKeyPrefixWith", rule.replace_prefix_with),
        ]
        if rule.replace_prefix
        else [element("EnableReplacePrefix", "false")]
    )
    return [
        element("RedirectType", "Mirror"),
        # oss2 reads back PassQueryString equal to MirrorPassQueryString (reference §2.5).
        element("PassQueryString", _bool_text(rule.pass_query_string)),
        element("MirrorURL", rule.origin_url),
        *secondary,
        element("MirrorPassQueryString", _bool_text(rule.pass_query_string)),
        element("MirrorFollowRedirect", _bool_text(rule.follow_redirects)),
        element("MirrorCheckMd5", _bool_text(rule.check_md5)),
        *replacement,
        element("MirrorHeaders", children=headers),
        *_advanced_mirror_elements(rule),
    ]


def _key_value_elements(tag, pairs):
    """<tag><Key>k</Key><Value>v</Value></tag> for each (k, v): Set, ReturnHeader, Taggings."""
    return [
        element(tag, children=[element("Key", key), element("Value", value)])
        for key, value in pairs
    ]


def _advanced_mirror_elements(rule):
    """The newer Mirror elements (SPEC §10); booleans always, lists when set."""
    children = []
    if rule.alternates:
        children.append(
            element(
                "MirrorMultiAlternates",
                children=[
                    element(
                        "MirrorMultiAlternate",
                        children=[
                            element("MirrorMultiAlternateNumber", number),
                            element("MirrorMultiAlternateURL", url),
                        ],
                    )
                    for number, url in rule.alternates
                ],
            )
        )
    children += [
        element("MirrorSwitchAllErrors", _bool_text(rule.switch_on_all_errors)),
        element("MirrorAllowHeadObject", _bool_text(rule.mirror_head)),
        element("MirrorProxyPass", _bool_text(rule.proxy_only)),
        element("MirrorSaveOssMeta", _bool_text(rule.save_origin_meta)),
        element("MirrorUserLastModified", _bool_text(rule.keep_origin_last_modified)),
        element("MirrorPassOriginalSlashes", _bool_text(rule.pass_original_slashes)),
        element("MirrorSNI", _bool_text(rule.send_sni)),
    ]
    if rule.transparent_codes:
        codes = ",".join(str(code) for code in rule.transparent_codes)
        children.append(element("TransparentMirrorResponseCodes", codes))
    if rule.return_headers:
        children.append(
            element(
                "MirrorReturnHeaders",
                children=_key_value_elements("ReturnHeader", rule.return_headers),
            )
        )
    if rule.mirror_tags:
        children.append(
            element(
                "MirrorTaggings",
                children=_key_value_elements("Taggings", rule.mirror_tags),
            )
        )
    if rule.auth_type:
        # The secret is write-only: never in the document (SPEC §10).
        auth = [
            element("AuthType", rule.auth_type),
            element("AccessKeyId", rule.auth_access_key_id),
        ]
        if rule.auth_region:
            auth.append(element("Region", rule.auth_region))
        children.append(element("MirrorAuth", children=auth))
    return children


def _redirect_elements(rule):
    children = [
        element("RedirectType", rule.redirect_type),
        element("PassQueryString", _bool_text(rule.pass_query_string)),
    ]
    if not rule.is_internal:
        children += [
            element("Protocol", rule.protocol),
            element("HostName", rule.host),
            element("HttpRedirectCode", rule.redirect_code),
        ]
    target = rule.redirect_target
    if target == RedirectTarget.AFFIX:
        replace_key_with = f"{rule.target_prefix}{KEY_PLACEHOLDER}{rule.target_suffix}"
        children.append(element("ReplaceKeyWith", replace_key_with))
    elif target == RedirectTarget.FIXED:
        children.append(element("ReplaceKeyWith", rule.target_fixed_path))
    if target == RedirectTarget.REPLACE_PREFIX:
        children += [
            element("EnableReplacePrefix", "true"),
            element("ReplaceKeyPrefixWith", rule.replace_prefix_with),
        ]
    else:
        children.append(element("EnableReplacePrefix", "false"))
    return children
