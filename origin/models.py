"""Back-to-Origin rules: up to BACK_TO_ORIGIN_MAX_RULES ordered rules per bucket.

Fields map one-to-one onto OSS RoutingRule XML (reference §2.2), noted per field.
Validation is `clean()`, built on the value checks in origin/rule_checks.py; the
console form, the JSON API and PUT ?website all save through it, so they accept
and refuse the same rules.
"""

import functools
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.db.models.functions import Now
from django.utils.text import capfirst

from buckets import bucket_lookup
from buckets.errors import OssError
from buckets.models import Bucket, seal_secret
from buckets.tagging import object_tags
from origin import engine, rule_checks

# Labels of the header lists, as the console shows them.
HEADER_LIST_LABELS = {
    "include_headers": "Header condition",
    "pass_headers": "Transmit these headers",
    "remove_headers": "Do not transmit these headers",
    "set_headers": "Set these headers",
    "return_headers": "Add these response headers",
}


# Origin protection fields and their (lowest, highest) values; 0 means off.
PROTECTION_LIMITS = {
    "negative_cache_seconds": (0, 86400),
    "max_concurrent_fetches": (0, 1000),
    "breaker_failures": (0, 1000),
    "breaker_open_seconds": (0, 86400),
}


def _list_field():
    return models.JSONField(default=list, blank=True)


class BackToOriginRuleQuerySet(models.QuerySet):
    def engine_rules(self, bucket):
        """The bucket's rules as engine dataclasses, in evaluation order, in one query."""
        return _engine_rules_of(bucket.pk)


# bucket id -> (its rule rows as last read, their engine rules). An engine rule is
# immutable and made from its row alone, so rows equal to the last ones give the
# same rules: a miss reads the rows (one plain SELECT, no ORM query compiler) but
# builds models and engine rules only when they changed.
_ENGINE_RULES = {}
_ENGINE_RULES_MAX_BUCKETS = 10_000


def _engine_rules_of(bucket_id):
    reader, sql = _rules_select(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [bucket_id])
        rows = tuple(cursor.fetchall())
    cached = _ENGINE_RULES.get(bucket_id)
    if cached is not None and cached[0] == rows:
        return cached[1]
    rules = tuple(reader.instance(row).to_engine() for row in rows)
    if len(_ENGINE_RULES) >= _ENGINE_RULES_MAX_BUCKETS:
        _ENGINE_RULES.clear()
    _ENGINE_RULES[bucket_id] = (rows, rules)
    return rules


@functools.cache
def _rules_select(vendor):
    """(how to read a rule row, the SELECT of a bucket's rules in position order)."""
    rule = BackToOriginRule
    sql = (
        f"SELECT {', '.join(bucket_lookup.columns(rule, 'r'))}"
        f" FROM {bucket_lookup.quoted_table(rule)} r"
        f" WHERE r.{bucket_lookup.quoted_column(rule, 'bucket')} = %s"
        f" ORDER BY r.{bucket_lookup.quoted_column(rule, 'position')}"
    )
    return bucket_lookup.table(rule, "r"), sql


class BackToOriginRule(models.Model):
    class Mode(models.TextChoices):
        MIRROR = engine.MIRROR, "Mirroring"
        REDIRECT = engine.REDIRECT, "Redirection"

    class Protocol(models.TextChoices):
        HTTP = "http", "http://"
        HTTPS = "https", "https://"

    class RedirectCode(models.IntegerChoices):
        MOVED_PERMANENTLY = 301, "301 Moved Permanently"
        FOUND = 302, "302 Found"
        TEMPORARY_REDIRECT = 307, "307 Temporary Redirect"

    class RedirectType(models.TextChoices):
        EXTERNAL = "External", "External"
        ALICDN = "AliCDN", "Source from Alibaba Cloud CDN"
        INTERNAL = engine.INTERNAL, "Internal (serve the target key from this bucket)"

    class AuthType(models.TextChoices):
        NONE = "", "None (public origin)"
        S3V4 = "S3V4", "S3 Signature V4"
        OSS = "OSS", "OSS signature"

    class RedirectTarget(models.TextChoices):
        KEEP = engine.TARGET_KEEP, "Keep the file name"
        AFFIX = engine.TARGET_AFFIX, "Add prefix or suffix"
        FIXED = engine.TARGET_FIXED, "Redirect to fixed URL path"
        REPLACE_PREFIX = engine.TARGET_REPLACE_PREFIX, "Replace file name prefix"

    bucket = models.ForeignKey(
        Bucket, on_delete=models.CASCADE, related_name="origin_rules"
    )
    position = models.PositiveIntegerField()  # RuleNumber
    mode = models.CharField(
        max_length=10, choices=Mode.choices, default=Mode.MIRROR
    )  # RedirectType Mirror | External

    # Prerequisite (Condition)
    http_status = models.PositiveIntegerField(
        "HTTP Status Code", default=404
    )  # HttpErrorCodeReturnedEquals
    key_prefix = models.CharField(
        "File Name Prefix", max_length=1023, blank=True
    )  # KeyPrefixEquals
    key_suffix = models.CharField(
        "File Name Suffix", max_length=1023, blank=True
    )  # KeySuffixEquals
    include_headers = (
        _list_field()
    )  # IncludeHeader: [[name, value, equals|starts_with|ends_with], ...]

    # Origin URL
    protocol = models.CharField(
        max_length=5, choices=Protocol.choices, default=Protocol.HTTPS
    )  # Protocol / MirrorURL
    host = models.CharField(
        "Domain or IP", max_length=255, blank=True
    )  # HostName / MirrorURL
    path = models.CharField("Path", max_length=1023, blank=True)  # MirrorURL path
    pass_query_string = models.BooleanField(
        "Transfer queryString", default=False
    )  # (Mirror)PassQueryString

    # Mirroring options
    follow_redirects = models.BooleanField(
        "Follow origin 3xx redirects", default=True
    )  # MirrorFollowRedirect
    check_md5 = models.BooleanField("MD5 verification", default=False)  # MirrorCheckMd5
    replace_prefix = models.BooleanField(
        "Replace or delete file prefix", default=False
    )  # EnableReplacePrefix
    replace_prefix_with = models.CharField(
        "Replace prefix with", max_length=1023, blank=True
    )  # ReplaceKeyPrefixWith
    secondary_url = models.CharField(
        "Secondary origin URL", max_length=2048, blank=True
    )  # MirrorURLSlave
    probe_url = models.CharField(
        "Probe URL", max_length=2048, blank=True
    )  # MirrorURLProbe
    pass_all_headers = models.BooleanField(
        "Transmit all headers", default=False
    )  # MirrorHeaders/PassAll
    pass_headers = _list_field()  # MirrorHeaders/Pass
    remove_headers = _list_field()  # MirrorHeaders/Remove
    set_headers = _list_field()  # MirrorHeaders/Set: [[name, value], ...]

    # Advanced mirroring options (SPEC §10)
    alternates = _list_field()  # MirrorMultiAlternates: [[number, url], ...] by number
    switch_on_all_errors = models.BooleanField(
        "Switch origins on any error", default=False
    )  # MirrorSwitchAllErrors
    transparent_codes = _list_field()  # TransparentMirrorResponseCodes: [403, 429]
    mirror_head = models.BooleanField(
        "Mirror HEAD requests", default=False
    )  # MirrorAllowHeadObject
    proxy_only = models.BooleanField(
        "Serve without saving (proxy only)", default=False
    )  # MirrorProxyPass
    save_origin_meta = models.BooleanField(
        "Keep the origin's user metadata", default=False
    )  # MirrorSaveOssMeta
    keep_origin_last_modified = models.BooleanField(
        "Keep the origin's Last-Modified", default=False
    )  # MirrorUserLastModified
    pass_original_slashes = models.BooleanField(
        "Keep repeated slashes in the origin URL", default=False
    )  # MirrorPassOriginalSlashes
    send_sni = models.BooleanField("Send SNI", default=True)  # MirrorSNI
    return_headers = _list_field()  # MirrorReturnHeaders: [[name, value], ...]
    mirror_tags = (
        _list_field()
    )  # MirrorTaggings: [[key, value], ...] set on saved copies
    # MirrorAuth: the origin request is signed so a private bucket can be the origin.
    auth_type = models.CharField(
        "Origin authentication",
        max_length=8,
        choices=AuthType.choices,
        blank=True,
    )  # MirrorAuth/AuthType
    auth_access_key_id = models.CharField(
        "Origin AccessKey ID", max_length=128, blank=True
    )  # MirrorAuth/AccessKeyId
    auth_sealed_secret = models.TextField(
        blank=True
    )  # MirrorAuth/AccessKeySecret, sealed
    auth_region = models.CharField(
        "Origin region", max_length=64, blank=True
    )  # MirrorAuth/Region

    # Origin protection (SPEC §11): product fields of ours, not OSS elements, so
    # GET ?website never emits them. 0 = off. State lives in origin/protection.py's tables.
    negative_cache_seconds = models.PositiveIntegerField(
        "Remember origin 404s (seconds)", default=0
    )
    max_concurrent_fetches = models.PositiveIntegerField(
        "Max concurrent fetches per origin host", default=0
    )
    breaker_failures = models.PositiveIntegerField(
        "Open circuit after N failures", default=0
    )
    breaker_open_seconds = models.PositiveIntegerField(
        "Keep circuit open (seconds)", default=0
    )

    # Redirection options
    redirect_type = models.CharField(
        max_length=10, choices=RedirectType.choices, default=RedirectType.EXTERNAL
    )  # RedirectType External | AliCDN (Mirror is the mode)
    redirect_code = models.PositiveIntegerField(
        "Redirection Code", choices=RedirectCode.choices, default=301
    )  # HttpRedirectCode
    redirect_target = models.CharField(
        max_length=20, choices=RedirectTarget.choices, default=RedirectTarget.KEEP
    )
    target_prefix = models.CharField(
        "Prefix", max_length=1023, blank=True
    )  # ReplaceKeyWith prefix${key}suffix
    target_suffix = models.CharField("Suffix", max_length=1023, blank=True)
    target_fixed_path = models.CharField(
        "Fixed URL path", max_length=1023, blank=True
    )  # ReplaceKeyWith

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = BackToOriginRuleQuerySet.as_manager()

    MIRROR_ONLY_FIELDS = (
        "path",
        "follow_redirects",
        "check_md5",
        "replace_prefix",
        "secondary_url",
        "probe_url",
        "pass_all_headers",
        "pass_headers",
        "remove_headers",
        "set_headers",
        "alternates",
        "switch_on_all_errors",
        "transparent_codes",
        "mirror_head",
        "proxy_only",
        "save_origin_meta",
        "keep_origin_last_modified",
        "pass_original_slashes",
        "send_sni",
        "return_headers",
        "mirror_tags",
        "auth_type",
        "auth_access_key_id",
        "auth_sealed_secret",
        "auth_region",
    )
    REDIRECT_ONLY_FIELDS = (
        "redirect_type",
        "redirect_code",
        "redirect_target",
        "target_prefix",
        "target_suffix",
        "target_fixed_path",
    )

    class Meta:
        ordering = ["bucket", "position"]

    def __str__(self):
        return f"{self.bucket_id} rule {self.position} ({self.mode})"

    @property
    def is_mirror(self):
        return self.mode == self.Mode.MIRROR

    @property
    def origin_url(self):
        if self.is_mirror:
            return engine.origin_base_url(self.to_engine())
        if self.is_internal:
            return f"/{self.bucket.name}/"
        return f"{self.protocol}://{self.host}/"

    def prerequisite_summary(self):
        parts = [f"HTTP {self.http_status}"]
        if self.key_prefix:
            parts.append(f"prefix {self.key_prefix}")
        if self.key_suffix:
            parts.append(f"suffix {self.key_suffix}")
        parts += [
            f"header {condition.describe()}" for condition in self._header_conditions()
        ]
        return " · ".join(parts)

    def options_summary(self):
        parts = ["queryString ✓" if self.pass_query_string else "queryString ✗"]
        if self.is_mirror:
            parts.append("follow 3xx ✓" if self.follow_redirects else "follow 3xx ✗")
            if self.check_md5:
                parts.append("MD5 ✓")
            if self.replace_prefix:
                parts.append(
                    f"prefix → {self.replace_prefix_with!r}"
                    if self.replace_prefix_with
                    else "delete prefix"
                )
            if self.secondary_url:
                parts.append(f"secondary {self.secondary_url}")
            if self.pass_all_headers:
                parts.append("pass all headers")
            parts += [f"pass {name}" for name in self.pass_headers]
            parts += [f"remove {name}" for name in self.remove_headers]
            parts += [f"set {name}={value}" for name, value in self.set_headers]
            parts += [f"alternate {url}" for _, url in self.alternates]
            if self.switch_on_all_errors:
                parts.append("switch on any error")
            if self.transparent_codes:
                parts.append(
                    "pass through " + ",".join(map(str, self.transparent_codes))
                )
            if self.mirror_head:
                parts.append("HEAD ✓")
            if self.proxy_only:
                parts.append("proxy only, not saved")
            if self.save_origin_meta:
                parts.append("keep origin metadata")
            if self.keep_origin_last_modified:
                parts.append("keep origin Last-Modified")
            if self.pass_original_slashes:
                parts.append("keep //")
            parts += [f"return {name}: {value}" for name, value in self.return_headers]
            parts += [f"tag {key}={value}" for key, value in self.mirror_tags]
            if self.auth_type:
                parts.append(f"signed {self.auth_type} as {self.auth_access_key_id}")
            parts += self._protection_summary()
        else:
            parts.insert(0, str(self.redirect_code))
            target = self.redirect_target
            if target == self.RedirectTarget.AFFIX:
                parts.append(f"key → {self.target_prefix}${{key}}{self.target_suffix}")
            elif target == self.RedirectTarget.FIXED:
                parts.append(f"key → {self.target_fixed_path}")
            elif target == self.RedirectTarget.REPLACE_PREFIX:
                parts.append(f"prefix → {self.replace_prefix_with!r}")
        return " · ".join(parts)

    def _protection_summary(self):
        parts = []
        if self.negative_cache_seconds:
            parts.append(f"origin 404s remembered {self.negative_cache_seconds} s")
        if self.max_concurrent_fetches:
            parts.append(f"≤ {self.max_concurrent_fetches} fetches per origin host")
        if self.breaker_failures:
            parts.append(
                f"circuit opens after {self.breaker_failures} failures for {self.breaker_open_seconds} s"
            )
        return parts

    # -- validation ---------------------------------------------------------

    def clean(self):
        self._drop_other_mode_options()
        errors = {}

        def check(field_name, validate):
            try:
                validate()
            except ValidationError as error:
                errors.setdefault(field_name, []).extend(error.messages)

        check("http_status", self._clean_http_status)
        check("host", self._clean_host)
        check("path", lambda: rule_checks.check_path(self.path, "Path"))
        check(
            "key_prefix",
            lambda: rule_checks.check_key_part(self.key_prefix, "File Name Prefix"),
        )
        check(
            "key_suffix",
            lambda: rule_checks.check_key_part(self.key_suffix, "File Name Suffix"),
        )
        labels = HEADER_LIST_LABELS
        check("include_headers", self._clean_include_headers)
        if self.is_mirror:
            check("secondary_url", self._clean_secondary)
            check("probe_url", self._clean_probe)
            check(
                "pass_headers",
                lambda: rule_checks.check_header_names(
                    self.pass_headers, labels["pass_headers"]
                ),
            )
            check(
                "remove_headers",
                lambda: rule_checks.check_header_names(
                    self.remove_headers, labels["remove_headers"]
                ),
            )
            check(
                "set_headers",
                lambda: rule_checks.check_header_pairs(
                    self.set_headers, labels["set_headers"]
                ),
            )
            check("replace_prefix_with", self._clean_replace_prefix)
            check("alternates", self._clean_alternates)
            check(
                "transparent_codes",
                lambda: setattr(
                    self,
                    "transparent_codes",
                    rule_checks.check_status_codes(
                        self.transparent_codes, "Transparent origin status codes"
                    ),
                ),
            )
            check(
                "return_headers",
                lambda: rule_checks.check_header_pairs(
                    self.return_headers, labels["return_headers"]
                ),
            )
            check("mirror_tags", self._clean_mirror_tags)
            check("send_sni", self._clean_send_sni)
            check("proxy_only", self._clean_proxy_only)
            self._clean_auth(check)
        self._clean_protection(check)
        if not self.is_mirror:
            check("redirect_code", self._clean_redirect_code)
            check("redirect_target", self._clean_redirect_target)
            if self.is_internal:
                check("protocol", self._clean_internal_protocol)
        # On the values that would be stored; a field refused above keeps its one message.
        for name, label, strings in self._stored_strings():
            if name not in errors:
                check(
                    name, functools.partial(rule_checks.check_storable, strings, label)
                )
        # Only a valid prefix and suffix are compared with the stored rules.
        if not {"key_prefix", "key_suffix"} & errors.keys():
            check("key_prefix", self._clean_unique_condition)
        check("__all__", self._clean_rule_count)
        if errors:
            raise ValidationError(errors)

    def _stored_strings(self):
        """(field name, label, its strings) for every text the rule stores."""
        for field in self._meta.concrete_fields:
            if isinstance(field, models.CharField):
                value = getattr(self, field.attname)
                yield field.name, capfirst(field.verbose_name), [str(value or "")]
        for name, label in HEADER_LIST_LABELS.items():
            yield name, label, list(rule_checks.strings_in(getattr(self, name)))

    def _drop_other_mode_options(self):
        """Keep only the options of the chosen mode, so a stored row maps onto one RoutingRule."""
        defaults = {
            field.name: field.get_default() for field in self._meta.concrete_fields
        }
        unused = (
            self.REDIRECT_ONLY_FIELDS if self.is_mirror else self.MIRROR_ONLY_FIELDS
        )
        for name in unused:
            setattr(self, name, defaults[name])

    def _clean_http_status(self):
        if self.is_mirror:
            # Refused, not rewritten: a 403 rule saved as 404 would fire where it was not meant to.
            if self.http_status != 404:
                raise ValidationError(
                    "Mirroring applies to missing objects only: the HTTP Status Code must be 404."
                )
        elif not 400 <= (self.http_status or 0) <= 599:
            raise ValidationError("The HTTP status code must be between 400 and 599.")

    @property
    def is_internal(self):
        return not self.is_mirror and self.redirect_type == self.RedirectType.INTERNAL

    def _clean_host(self):
        if self.is_internal:
            # An internal rewrite never leaves the bucket: an origin given with it would be
            # ignored, so it is refused (for the protocol and the Redirection Code, the
            # defaults https and 301 stand for "not given").
            if self.host.strip():
                raise ValidationError(
                    "An Internal rule serves the target file from this bucket: it takes no Domain or IP."
                )
            self.host = ""
            return
        if not self.is_mirror and not self.host.strip():
            # OSS documents HostName for External and AliCDN redirects; a same-host
            # redirect (S3's behaviour) is what an Internal rule does without a round trip.
            raise ValidationError(
                "Domain or IP is required for a redirect. To answer with another file "
                "of this bucket instead (for example a single-page app's index.html), "
                "use the Internal redirect type."
            )
        rule_checks.check_host_port(self.host, "Domain or IP")
        self.host = self.host.strip().rstrip("/")

    def _clean_internal_protocol(self):
        if self.protocol != self.Protocol.HTTPS:
            raise ValidationError(
                "An Internal rule serves the target file from this bucket: it takes no protocol other than the default https."
            )

    def _clean_secondary(self):
        # A probe without a secondary is allowed (OSS accepts it): it then chooses
        # between the primary and the alternate origins. Stripped first, or a trailing space would end up before the added "/".
        self.secondary_url = self.secondary_url.strip()
        if self.secondary_url:
            rule_checks.split_origin_url(self.secondary_url, "Secondary origin URL")
            if not self.secondary_url.endswith("/"):
                self.secondary_url += "/"

    def _clean_probe(self):
        if self.secondary_url and not self.probe_url:
            raise ValidationError(
                "A secondary origin needs a probe URL: the secondary is used while the probe does not answer 200."
            )
        self.probe_url = self.probe_url.strip()
        if self.probe_url:
            rule_checks.check_url(self.probe_url, "Probe URL")

    def _clean_include_headers(self):
        self.include_headers = rule_checks.check_header_conditions(
            self.include_headers, HEADER_LIST_LABELS["include_headers"]
        )

    def _header_conditions(self):
        # Stored rows hold [name, value, match]; rows from before StartsWith/EndsWith hold pairs.
        return [
            engine.HeaderCondition(*condition) for condition in self.include_headers
        ]

    def _clean_alternates(self):
        self.alternates = rule_checks.check_alternates(
            self.alternates, "Alternate origin"
        )

    def _clean_mirror_tags(self):
        pairs = self.mirror_tags
        if not isinstance(pairs, list) or not all(
            isinstance(pair, list | tuple)
            and len(pair) == 2
            and all(isinstance(part, str) for part in pair)
            for pair in pairs
        ):
            raise ValidationError("Tags: expected a list of [key, value] pairs.")
        try:
            object_tags(pairs)  # the same rules as PutObjectTagging
        except OssError as error:
            raise ValidationError(f"Tags: {error.message}") from None
        self.mirror_tags = [list(pair) for pair in pairs]

    def _clean_send_sni(self):
        if not self.send_sni:
            # Honoured or refused (SPEC §10): this server's TLS client always sends SNI.
            raise ValidationError(
                "Turning SNI off (MirrorSNI false) is not supported: this server always sends the origin's host name as TLS SNI."
            )

    def _clean_proxy_only(self):
        if self.proxy_only and self.keep_origin_last_modified:
            raise ValidationError(
                "A proxy-only rule saves nothing, so it cannot keep the origin's Last-Modified on a saved copy."
            )
        if self.proxy_only and self.save_origin_meta:
            raise ValidationError(
                "A proxy-only rule saves nothing, so it cannot keep the origin's metadata on a saved copy."
            )

    def _clean_auth(self, check):
        if not self.auth_type:
            if self.auth_access_key_id or self.auth_region or self.auth_sealed_secret:
                check(
                    "auth_type",
                    lambda: _refuse(
                        "Choose how origin requests are signed, or leave the AccessKey ID, secret and region empty."
                    ),
                )
            self.auth_sealed_secret = ""
            return
        check(
            "auth_type",
            lambda: (
                self.auth_type in self.AuthType.values
                or _refuse("Origin authentication must be S3V4 or OSS.")
            ),
        )
        check(
            "auth_access_key_id",
            lambda: rule_checks.check_credential(
                self.auth_access_key_id, "Origin AccessKey ID"
            ),
        )
        check(
            "auth_access_key_secret",
            lambda: (
                self.auth_sealed_secret
                or _refuse("Origin AccessKey secret is required.")
            ),
        )
        if self.auth_type == self.AuthType.S3V4 or self.auth_region:
            check(
                "auth_region",
                lambda: rule_checks.check_region(self.auth_region, "Origin region"),
            )

    def _clean_protection(self, check):
        """Origin protection: whole seconds and counts within sane bounds, on
        Mirroring rules only (a redirect never contacts the origin)."""
        for name, (low, high) in PROTECTION_LIMITS.items():
            label = self._meta.get_field(name).verbose_name
            value = getattr(self, name)
            if not self.is_mirror:
                if value:
                    check(
                        name,
                        lambda label=label: _refuse(
                            f"{label}: origin protection applies to Mirroring rules only; leave it at 0 on a Redirection rule."
                        ),
                    )
                continue
            if (
                name == "breaker_open_seconds"
                and isinstance(self.breaker_failures, int)
                and 0
                < self.breaker_failures
                <= PROTECTION_LIMITS["breaker_failures"][1]
            ):
                low = 1  # an open circuit must stay open for a while
            if not isinstance(value, int) or not low <= value <= high:
                check(
                    name,
                    lambda label=label, low=low, high=high: _refuse(
                        f"{label} must be a whole number from {low} to {high}."
                    ),
                )

    def keep_protection_of(self, previous):
        """PUT ?website replaces the rules and OSS XML has no protection elements: a
        Mirroring rule at the same position with the same origin keeps its protection."""
        if (
            previous is not None
            and self.is_mirror
            and previous.is_mirror
            and (self.protocol, self.host) == (previous.protocol, previous.host)
        ):
            for name in PROTECTION_LIMITS:
                setattr(self, name, getattr(previous, name))

    @property
    def has_protection(self):
        return any(getattr(self, name) for name in PROTECTION_LIMITS)

    @property
    def circuit_notice(self):
        """'Origin circuit open until …' for the rule row; empty while closed."""
        from origin.protection import circuit_notice  # it imports this module

        return circuit_notice(self)

    def apply_auth_secret(self, secret, previous=None):
        """Seal a newly given MirrorAuth secret. Without one, keep `previous`'s secret
        while the AccessKey ID is the same: secrets are never sent back, so a client
        that edits a rule cannot send the stored one again."""
        if secret:
            try:
                rule_checks.check_credential(secret, "Origin AccessKey secret", 256)
            except ValidationError as error:
                raise ValidationError(
                    {"auth_access_key_secret": error.messages}
                ) from None
            self.auth_sealed_secret = seal_secret(secret)
        elif (
            previous is not None
            and previous.auth_type
            and previous.auth_access_key_id == self.auth_access_key_id
        ):
            self.auth_sealed_secret = previous.auth_sealed_secret
        else:
            self.auth_sealed_secret = ""

    def _clean_replace_prefix(self):
        if self.replace_prefix and not self.key_prefix:
            raise ValidationError("Replacing the file prefix needs a File Name Prefix.")
        if not self.replace_prefix:
            self.replace_prefix_with = ""
        rule_checks.check_path(self.replace_prefix_with, "Replace prefix with")

    def _clean_redirect_code(self):
        if self.redirect_code not in self.RedirectCode.values:
            raise ValidationError("The Redirection Code must be 301, 302 or 307.")
        if (
            self.is_internal
            and self.redirect_code != self.RedirectCode.MOVED_PERMANENTLY
        ):
            raise ValidationError(
                "An Internal rule serves the target file instead of redirecting: it takes no Redirection Code other than the default 301."
            )

    def _clean_redirect_target(self):
        target = self.redirect_target
        if target not in self.RedirectTarget.values:
            raise ValidationError("Choose how the target file name is built.")
        # Only the chosen option's inputs are kept.
        if target != self.RedirectTarget.AFFIX:
            self.target_prefix = self.target_suffix = ""
        if target != self.RedirectTarget.FIXED:
            self.target_fixed_path = ""
        if target != self.RedirectTarget.REPLACE_PREFIX:
            self.replace_prefix_with = ""
        if target == self.RedirectTarget.AFFIX and not (
            self.target_prefix or self.target_suffix
        ):
            raise ValidationError(
                "Enter a prefix, a suffix or both to add to the file name."
            )
        if target == self.RedirectTarget.FIXED and not self.target_fixed_path.strip(
            "/"
        ):
            raise ValidationError("Enter the fixed URL path to redirect to.")
        if (
            target == self.RedirectTarget.REPLACE_PREFIX
            and "*" in self.replace_prefix_with
        ):
            raise ValidationError("The replacement prefix must not contain *.")
        for value, label in (
            (self.target_prefix, "Prefix"),
            (self.target_suffix, "Suffix"),
            (self.target_fixed_path, "Fixed URL path"),
            (self.replace_prefix_with, "Replacement prefix"),
        ):
            rule_checks.check_path(value, label)

    def _other_rules(self):
        others = BackToOriginRule.objects.filter(bucket_id=self.bucket_id)
        return others.exclude(pk=self.pk) if self.pk else others

    def _clean_unique_condition(self):
        if (
            self.bucket_id
            and self._other_rules()
            .filter(key_prefix=self.key_prefix, key_suffix=self.key_suffix)
            .exists()
        ):
            shown = (
                f"prefix {self.key_prefix!r} and suffix {self.key_suffix!r}"
                if (self.key_prefix or self.key_suffix)
                else "no prefix and no suffix"
            )
            raise ValidationError(
                f"Another rule already has {shown}. Each rule needs a different File Name Prefix or Suffix."
            )

    def _clean_rule_count(self):
        limit = settings.BACK_TO_ORIGIN_MAX_RULES
        if self.bucket_id and not self.pk and self._other_rules().count() >= limit:
            raise ValidationError(
                f"A bucket can have at most {limit} Back-to-Origin rules."
            )

    # -- persistence --------------------------------------------------------

    def save_in_order(self, position=None):
        """Validate and save; a new rule goes last unless given a position (an OSS
        RuleNumber). The bucket row is locked so the rule limit and positions hold
        under concurrent saves."""
        with transaction.atomic():
            Bucket.objects.select_for_update().get(pk=self.bucket_id)
            self.full_clean(exclude=["position"])
            if position is not None:
                self.position = position
            elif not self.pk:
                last = (
                    self._other_rules().aggregate(models.Max("position"))[
                        "position__max"
                    ]
                    or 0
                )
                self.position = last + 1
            elif self.pk:
                # A changed rule starts afresh: no remembered 404s, a closed circuit.
                NegativeCacheEntry.objects.filter(rule_id=self.pk).delete()
                OriginBreaker.objects.filter(rule_id=self.pk).delete()
            self.save()

    def clear(self):
        """Delete this rule and renumber the rest 1..n."""
        with transaction.atomic():
            Bucket.objects.select_for_update().get(pk=self.bucket_id)
            self.delete()
            _renumber(self.bucket_id)

    def move(self, offset):
        """Swap with the neighbour above (offset -1) or below (+1); False at an end."""
        with transaction.atomic():
            Bucket.objects.select_for_update().get(pk=self.bucket_id)
            rules = list(
                BackToOriginRule.objects.filter(bucket_id=self.bucket_id).order_by(
                    "position"
                )
            )
            index = next(i for i, rule in enumerate(rules) if rule.pk == self.pk)
            target = index + offset
            if not 0 <= target < len(rules):
                return False
            rules[index], rules[target] = rules[target], rules[index]
            _renumber(self.bucket_id, rules)
            self.position = target + 1  # `rules` holds a fresh copy of self
            return True

    # -- engine adapter -----------------------------------------------------

    def to_engine(self):
        return engine.Rule(
            position=self.position,
            mode=self.mode,
            rule_id=self.pk,
            key_prefix=self.key_prefix,
            key_suffix=self.key_suffix,
            http_status=self.http_status,
            include_headers=tuple(self._header_conditions()),
            protocol=self.protocol,
            host=self.host,
            path=self.path,
            pass_query_string=self.pass_query_string,
            follow_redirects=self.follow_redirects,
            check_md5=self.check_md5,
            replace_prefix=self.replace_prefix
            or self.redirect_target == self.RedirectTarget.REPLACE_PREFIX,
            replace_prefix_with=self.replace_prefix_with,
            secondary_url=self.secondary_url,
            probe_url=self.probe_url,
            headers=engine.HeaderTransmission(
                pass_all=self.pass_all_headers,
                pass_names=tuple(self.pass_headers),
                remove_names=tuple(self.remove_headers),
                set_headers=tuple((name, value) for name, value in self.set_headers),
            ),
            alternate_urls=tuple(url for _, url in self.alternates),
            switch_on_all_errors=self.switch_on_all_errors,
            transparent_codes=frozenset(self.transparent_codes),
            mirror_head=self.mirror_head,
            proxy_only=self.proxy_only,
            save_origin_meta=self.save_origin_meta,
            keep_origin_last_modified=self.keep_origin_last_modified,
            pass_original_slashes=self.pass_original_slashes,
            return_headers=tuple((name, value) for name, value in self.return_headers),
            tags=tuple((key, value) for key, value in self.mirror_tags),
            auth=engine.OriginAuth(
                self.auth_type,
                self.auth_access_key_id,
                self.auth_sealed_secret,
                self.auth_region,
            )
            if self.is_mirror and self.auth_type
            else None,
            protection=tuple(
                (name, getattr(self, name))
                for name in PROTECTION_LIMITS
                if getattr(self, name)
            ),
            redirect_type=self.redirect_type,
            redirect_code=self.redirect_code,
            redirect_target=self.redirect_target,
            target_prefix=self.target_prefix,
            target_suffix=self.target_suffix,
            target_fixed_path=self.target_fixed_path,
        )


def _refuse(message):
    raise ValidationError(message)


def _renumber(bucket_id, rules=None):
    rules = (
        rules
        if rules is not None
        else BackToOriginRule.objects.filter(bucket_id=bucket_id).order_by("position")
    )
    for position, rule in enumerate(rules, start=1):
        if rule.position != position:
            BackToOriginRule.objects.filter(pk=rule.pk).update(position=position)
            rule.position = position


class OriginFetchQuerySet(models.QuerySet):
    def counts_by_rule(self, bucket):
        """{rule id: {"saved": n, "failed": n, "total": n}} for the bucket, in one query."""
        failed = [self.model.Outcome.FAILED, self.model.Outcome.REFUSED]
        rows = (
            self.filter(bucket=bucket, rule__isnull=False)
            .values("rule_id")
            .annotate(
                saved=models.Count(
                    "id", filter=models.Q(outcome=self.model.Outcome.SAVED)
                ),
                failed=models.Count("id", filter=models.Q(outcome__in=failed)),
                total=models.Count("id"),
            )
        )
        return {row.pop("rule_id"): row for row in rows}


class OriginFetch(models.Model):
    """One origin fetch made by a mirroring rule: the fetch log."""

    class Outcome(models.TextChoices):
        SAVED = "saved", "Saved"
        NOT_SAVED = "not_saved", "Served, not saved"
        NOT_FOUND = "not_found", "Origin 404"
        REDIRECT_PASSED = "redirect_passed", "3xx passed through"
        FAILED = "failed", "Failed"
        REFUSED = "refused", "Refused (internal address)"

    bucket = models.ForeignKey(
        Bucket, on_delete=models.CASCADE, related_name="origin_fetches"
    )
    rule = models.ForeignKey(
        BackToOriginRule,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="fetches",
    )
    rule_position = models.PositiveIntegerField()
    key = models.CharField(max_length=1023)
    origin_url = models.CharField(max_length=4096)
    status_code = models.PositiveIntegerField(null=True, blank=True)
    bytes_received = models.BigIntegerField(default=0)
    duration_ms = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    message = models.CharField(max_length=1024, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = OriginFetchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["bucket", "-created_at"]),
            models.Index(fields=["rule", "-created_at"]),
        ]

    def __str__(self):
        return f"{self.origin_url} → {self.outcome}"


@dataclass(frozen=True)
class WebsiteFallback:
    """An IndexDocument or ErrorDocument answer: serve an object (with a status), or redirect."""

    serve: object = None  # a StoredObject
    status: int = 200
    location: str = ""


class WebsiteDocuments(models.Model):
    """IndexDocument and ErrorDocument of a bucket's OSS website configuration.

    They share the configuration document with the routing rules (PUT ?website
    replaces all of it) and apply after the rules: a missing key that no rule
    matched gets the index page (keys ending in /) or the error document.
    """

    bucket = models.OneToOneField(
        Bucket, on_delete=models.CASCADE, related_name="website_documents"
    )
    index_suffix = models.CharField(max_length=1023, blank=True)  # IndexDocument/Suffix
    index_support_sub_dir = models.BooleanField(
        default=False
    )  # IndexDocument/SupportSubDir
    index_type = models.PositiveSmallIntegerField(default=0)  # IndexDocument/Type
    error_key = models.CharField(max_length=1023, blank=True)  # ErrorDocument/Key
    error_http_status = models.PositiveIntegerField(
        default=404
    )  # ErrorDocument/HttpStatus

    def __str__(self):
        return f"website documents of {self.bucket_id}"

    @property
    def is_empty(self):
        return not (self.index_suffix or self.error_key)

    def fallback_for(self, key):
        """What a missing `key` that no rule matched is answered with (reference §3.1):
        an index page or the error document to serve, a redirect to the folder, or None."""
        bucket = self.bucket
        if self.index_suffix:
            if key.endswith("/"):
                # A folder's own index page only with SupportSubDir; else the root's (OSS).
                folder = key if self.index_support_sub_dir else ""
                index = bucket.stored_objects.filter(
                    key=folder + self.index_suffix
                ).first()
                if index is not None:
                    return WebsiteFallback(serve=index)
            elif self.index_support_sub_dir and self.index_type in (0, 2):
                index = bucket.stored_objects.filter(
                    key=f"{key}/{self.index_suffix}"
                ).first()
                if index is not None and self.index_type == 0:
                    return WebsiteFallback(location=f"/{bucket.name}/{quote(key)}/")
                if index is not None:
                    return WebsiteFallback(serve=index)
        if self.error_key:
            page = bucket.stored_objects.filter(key=self.error_key).first()
            if page is not None:
                return WebsiteFallback(serve=page, status=self.error_http_status)
        return None

    def clean(self):
        errors = {}
        if self.index_type not in (0, 1, 2):
            errors["index_type"] = "IndexDocument/Type must be 0, 1 or 2."
        if self.error_http_status not in (200, 404):
            errors["error_http_status"] = "ErrorDocument/HttpStatus must be 200 or 404."
        if errors:
            raise ValidationError(errors)


class FlightOutcomeQuerySet(models.QuerySet):
    def finished_before(self, seconds):
        """Rows older than `seconds` by the database's clock (the one that wrote them)."""
        return self.filter(finished_at__lt=Now() - timedelta(seconds=seconds))


class FlightOutcome(models.Model):
    """The failure a mirror fetch left for the requests waiting on it, on any server
    (single flight on PostgreSQL, origin/flight_postgres.py). Written and read with
    plain SQL on the advisory lock's own connection, outside any request's
    transaction: hence a bucket id and no foreign key. Short-lived, swept by age."""

    bucket_id = models.BigIntegerField()
    key_digest = models.CharField(max_length=64)  # sha256 of bucket id + key, hex
    outcome = models.JSONField()
    finished_at = models.DateTimeField(db_index=True)

    objects = FlightOutcomeQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket_id", "key_digest"], name="origin_flight_outcome_key"
            )
        ]

    def __str__(self):
        return f"bucket {self.bucket_id} {self.key_digest[:12]}: {self.outcome}"


class NegativeCacheEntry(models.Model):
    """An origin 404 a rule remembers (negative_cache_seconds), shared by every
    worker and server on the database. Keyed by a digest: keys never become names."""

    rule = models.ForeignKey(
        BackToOriginRule, on_delete=models.CASCADE, related_name="+"
    )
    key_digest = models.CharField(max_length=64)  # sha256 of the key, hex
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "key_digest"], name="origin_negative_cache_key"
            )
        ]

    def __str__(self):
        return f"rule {self.rule_id} {self.key_digest[:12]} until {self.expires_at}"


class OriginBreaker(models.Model):
    """A rule's circuit breaker (breaker_failures, breaker_open_seconds): consecutive
    failed fetches, and until when the circuit is open. After that one trial request
    holds `trial_until` (half-open); its outcome closes or reopens the circuit."""

    rule = models.OneToOneField(
        BackToOriginRule, on_delete=models.CASCADE, related_name="breaker"
    )
    failures = models.PositiveIntegerField(default=0)
    open_until = models.DateTimeField(null=True, blank=True)
    trial_until = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"rule {self.rule_id}: {self.failures} failures, open until {self.open_until}"


from origin.job_models import JobKey, MigrationJob  # noqa: E402, F401 - models of this app
