"""The Create Rule / Edit form. Validation is the model's clean(); this only maps inputs."""

import copy
import itertools
from urllib.parse import urlsplit

from django import forms
from django.core.exceptions import ValidationError

from buckets.numbers import parse_decimal
from origin import engine, rule_checks
from origin.models import HEADER_LIST_LABELS, PROTECTION_LIMITS, BackToOriginRule


class HeaderNamesWidget(forms.Widget):
    """Repeated inputs named `<name>`; blank rows are ignored."""

    def value_from_datadict(self, data, files, name):
        return [value.strip() for value in data.getlist(name) if value.strip()]

    def value_omitted_from_data(self, data, files, name):
        return False


class HeaderPairsWidget(forms.Widget):
    """Rows of `<name>_name` / `<name>_value` inputs; rows with neither are ignored."""

    def value_from_datadict(self, data, files, name):
        names, values = data.getlist(f"{name}_name"), data.getlist(f"{name}_value")
        pairs = zip(names, values + [""] * (len(names) - len(values)), strict=False)
        return [[key.strip(), value] for key, value in pairs if key.strip() or value]

    def value_omitted_from_data(self, data, files, name):
        return False


class HeaderConditionsWidget(forms.Widget):
    """Rows of `<name>_name` / `<name>_match` / `<name>_value` inputs; rows with neither
    a name nor a value are ignored, and a row without a comparison means equals."""

    def value_from_datadict(self, data, files, name):
        names, values = data.getlist(f"{name}_name"), data.getlist(f"{name}_value")
        matches = data.getlist(f"{name}_match")
        rows = []
        for index, key in enumerate(names):
            value = values[index] if index < len(values) else ""
            match = matches[index] if index < len(matches) else ""
            if key.strip() or value:
                rows.append([key.strip(), value, match or engine.MATCH_EQUALS])
        return rows

    def value_omitted_from_data(self, data, files, name):
        return False


class AlternatesWidget(forms.Widget):
    """Rows of `<name>_number` / `<name>_url` inputs, as typed; rows with neither are ignored."""

    def value_from_datadict(self, data, files, name):
        numbers, urls = data.getlist(f"{name}_number"), data.getlist(f"{name}_url")
        rows = itertools.zip_longest(numbers, urls, fillvalue="")
        return [
            [number.strip(), url.strip()]
            for number, url in rows
            if number.strip() or url.strip()
        ]

    def value_omitted_from_data(self, data, files, name):
        return False


class HeaderListField(forms.Field):
    def __init__(self, *, pairs=False, widget=None, **kwargs):
        super().__init__(
            required=False,
            widget=widget or (HeaderPairsWidget if pairs else HeaderNamesWidget),
            **kwargs,
        )
        self.pairs = (
            pairs  # one row is a name and a value (the header-row view reads it)
        )

    def to_python(self, value):
        return list(value or [])

    def has_changed(self, initial, data):
        return (initial or []) != (data or [])


class AlternatesField(HeaderListField):
    """Alternate origins as [[number, URL], ...]. A row without a number comes after
    the numbered ones; the model checks the numbers' range and the URLs."""

    def __init__(self, **kwargs):
        super().__init__(pairs=True, widget=AlternatesWidget, **kwargs)

    def to_python(self, value):
        numbered, unnumbered = [], []
        limit = rule_checks.MAX_ALTERNATE_NUMBER
        for number, url in value or []:
            if not number:
                unnumbered.append(url)
                continue
            try:
                numbered.append([parse_decimal(number, max_value=limit), url])
            except ValueError:
                raise ValidationError(
                    f"Alternate origin: {number[:20]!r} is not a number from 1 to {limit}."
                ) from None
        after = max((number for number, _ in numbered), default=0)
        return numbered + [
            [after + offset, url] for offset, url in enumerate(unnumbered, start=1)
        ]


class StatusCodesField(forms.CharField):
    """Comma-separated status codes ("403,429"), stored as a list of numbers."""

    def to_python(self, value):
        return rule_checks.parse_status_codes(super().to_python(value), self.label)

    def prepare_value(self, value):
        if isinstance(value, list):
            return ",".join(str(code) for code in value)
        return value


# The rule's fields in the form's Advanced group, in the order shown.
ADVANCED_MODEL_FIELDS = (
    "alternates",
    "switch_on_all_errors",
    "transparent_codes",
    "mirror_head",
    "proxy_only",
    "save_origin_meta",
    "keep_origin_last_modified",
    "pass_original_slashes",
    "return_headers",
    "mirror_tags",
    "auth_type",
    "auth_access_key_id",
    "auth_region",
)


# Origin protection (SPEC §11), shown in the Advanced group; 0 = off.
PROTECTION_MODEL_FIELDS = tuple(PROTECTION_LIMITS)


class ProtectionNumberInput(forms.NumberInput):
    """Never "omitted": a Redirection form (which does not show these) saves them as 0
    instead of keeping a Mirroring rule's values the model would then refuse."""

    def value_omitted_from_data(self, data, files, name):
        return False


class RuleForm(forms.ModelForm):
    include_headers = HeaderListField(
        pairs=True,
        widget=HeaderConditionsWidget,
        label=HEADER_LIST_LABELS["include_headers"],
    )
    pass_headers = HeaderListField(label=HEADER_LIST_LABELS["pass_headers"])
    remove_headers = HeaderListField(label=HEADER_LIST_LABELS["remove_headers"])
    set_headers = HeaderListField(pairs=True, label=HEADER_LIST_LABELS["set_headers"])
    alternates = AlternatesField(label="Alternate origins")
    transparent_codes = StatusCodesField(
        label="Transparent origin status codes",
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "403,429"}),
    )
    return_headers = HeaderListField(
        pairs=True, label=HEADER_LIST_LABELS["return_headers"]
    )
    mirror_tags = HeaderListField(pairs=True, label="Tags for saved copies")
    # Write-only: never rendered back (not even after an error), sealed by the model.
    auth_access_key_secret = forms.CharField(
        label="Origin AccessKey secret",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    # The lists typed as repeated rows; the header-row view serves an empty row of each.
    ROW_LISTS = (
        "include_headers",
        "pass_headers",
        "remove_headers",
        "set_headers",
        "return_headers",
        "mirror_tags",
        "alternates",
    )
    # Mirroring's Advanced group (SPEC §10); MirrorSNI is always on, so not shown.
    ADVANCED_FIELDS = (
        *ADVANCED_MODEL_FIELDS,
        "auth_access_key_secret",
        *PROTECTION_MODEL_FIELDS,
    )

    class Meta:
        model = BackToOriginRule
        fields = [
            "mode",
            "http_status",
            "key_prefix",
            "key_suffix",
            "include_headers",
            "protocol",
            "host",
            "path",
            "pass_query_string",
            "follow_redirects",
            "check_md5",
            "replace_prefix",
            "replace_prefix_with",
            "secondary_url",
            "probe_url",
            "pass_all_headers",
            "pass_headers",
            "remove_headers",
            "set_headers",
            *ADVANCED_MODEL_FIELDS,
            *PROTECTION_MODEL_FIELDS,
            "redirect_type",
            "redirect_code",
            "redirect_target",
            "target_prefix",
            "target_suffix",
            "target_fixed_path",
        ]
        widgets = {
            "mode": forms.RadioSelect,
            "redirect_target": forms.RadioSelect,
            "key_prefix": forms.TextInput(attrs={"placeholder": "e.g. images/"}),
            "key_suffix": forms.TextInput(attrs={"placeholder": "e.g. .jpg"}),
            "host": forms.TextInput(attrs={"placeholder": "www.example.com"}),
            "path": forms.TextInput(attrs={"placeholder": "folder/on/origin"}),
            "secondary_url": forms.TextInput(
                attrs={"placeholder": "https://backup.example.com/folder/"}
            ),
            "probe_url": forms.TextInput(
                attrs={"placeholder": "https://www.example.com/health.txt"}
            ),
            # Not a log-on name: keep the browser's password manager out of it.
            "auth_access_key_id": forms.TextInput(attrs={"autocomplete": "off"}),
            "auth_region": forms.TextInput(attrs={"placeholder": "us-east-1"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The rule as stored: validation changes the instance in place, and an empty
        # secret keeps the stored one while the AccessKey ID stays the same.
        self.previous = copy.copy(self.instance) if self.instance.pk else None
        for name in (
            "mode",
            "protocol",
            "redirect_type",
            "redirect_code",
            "redirect_target",
        ):
            self.fields[name].choices = [
                choice for choice in self.fields[name].choices if choice[0] != ""
            ]
        # Only the chosen mode's fields are on the page: a Mirroring form posts no
        # Redirection Code or target, and its status is fixed at 404 (the model enforces it).
        for name in (
            "http_status",
            "redirect_type",
            "redirect_code",
            "redirect_target",
        ):
            self.fields[name].required = False
        self.fields["redirect_type"].label = "Redirect type"
        for name in PROTECTION_MODEL_FIELDS:
            self.fields[name].required = False
            self.fields[name].widget = ProtectionNumberInput(attrs={"min": 0})
        # The model field's min_value (0) overrides the widget's min; show the real range.
        self.fields["http_status"].widget.attrs.update(min=400, max=599)

    @classmethod
    def for_mode_switch(cls, query, instance):
        """An unbound form showing what was typed so far, for swapping the mode fields.

        Unbound so nothing is validated yet and untouched options keep their defaults.
        """
        form = cls(instance=instance)
        typed = {}
        for name, field in form.fields.items():
            if name in query or (
                name in cls.ROW_LISTS and any(key.startswith(name) for key in query)
            ):
                typed[name] = field.widget.value_from_datadict(query, {}, name)
        # On the page in both modes, so missing from the query means unticked, not unseen.
        typed["pass_query_string"] = "pass_query_string" in query
        # Never carried in a query string (the page does not send it either).
        typed.pop("auth_access_key_secret", None)
        form.initial.update(typed)
        return form

    @property
    def mode_value(self):
        value = self["mode"].value()
        Mode = BackToOriginRule.Mode
        return value if value in Mode.values else Mode.MIRROR

    @property
    def advanced_is_open(self):
        """Open the Advanced group when an option in it is set or has an error."""
        return any(
            self[name].value() or self[name].errors for name in self.ADVANCED_FIELDS
        )

    @property
    def host_as_url(self):
        """A whole URL pasted into Domain or IP, split into the form's fields, or None.

        Offered, never applied silently: the person confirms the split."""
        parts = urlsplit((self["host"].value() or "").strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return None
        path = parts.path.strip("/")
        if path and self.mode_value != BackToOriginRule.Mode.MIRROR:
            return None  # only Mirroring has a Path to put it in
        return {"protocol": parts.scheme, "host": parts.netloc, "path": path}

    @property
    def secret_is_stored(self):
        return bool(self.previous and self.previous.auth_sealed_secret)

    @property
    def secret_needs_retyping(self):
        """A typed secret is never sent back to the page, so after an error it is typed again."""
        return (
            self.is_bound
            and bool(self.data.get("auth_access_key_secret"))
            and bool(self.errors)
        )

    def _protection_value(self, name):
        return self.cleaned_data.get(name) or 0  # empty means off

    def clean_negative_cache_seconds(self):
        return self._protection_value("negative_cache_seconds")

    def clean_max_concurrent_fetches(self):
        return self._protection_value("max_concurrent_fetches")

    def clean_breaker_failures(self):
        return self._protection_value("breaker_failures")

    def clean_breaker_open_seconds(self):
        return self._protection_value("breaker_open_seconds")

    def clean_http_status(self):
        return self.cleaned_data.get("http_status") or 404

    def clean_redirect_code(self):
        return (
            self.cleaned_data.get("redirect_code")
            or BackToOriginRule.RedirectCode.MOVED_PERMANENTLY
        )

    def clean_redirect_type(self):
        return (
            self.cleaned_data.get("redirect_type")
            or BackToOriginRule.RedirectType.EXTERNAL
        )

    def clean_redirect_target(self):
        return (
            self.cleaned_data.get("redirect_target")
            or BackToOriginRule.RedirectTarget.KEEP
        )

    def clean(self):
        cleaned_data = super().clean()
        # Sealed before the model validates (it checks that a secret is stored); the
        # AccessKey ID as posted decides whether an empty secret keeps the stored one.
        if "auth_access_key_id" in cleaned_data:
            self.instance.auth_access_key_id = cleaned_data["auth_access_key_id"]
        try:
            self.instance.apply_auth_secret(
                cleaned_data.get("auth_access_key_secret"), previous=self.previous
            )
        except ValidationError as error:
            self.add_error(None, error)
        return cleaned_data

    def _update_errors(self, errors):
        # A refused secret is reported above; the model would add that none is stored.
        if self.has_error("auth_access_key_secret") and hasattr(errors, "error_dict"):
            errors.error_dict.pop("auth_access_key_secret", None)
        super()._update_errors(errors)


class DryRunForm(forms.Form):
    """Test a request: a key, a query string and request headers ("Name: value" lines)."""

    key = forms.CharField(label="Object key", max_length=1023, strip=False)
    query = forms.CharField(
        label="Query string",
        required=False,
        strip=True,
        widget=forms.TextInput(attrs={"placeholder": "a=1&b=2"}),
    )
    headers = forms.CharField(
        label="Request headers",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "aaa-header: aaa"}),
    )
    probe = forms.BooleanField(
        label="Also probe the origin (sends a HEAD request to it)", required=False
    )

    def clean_query(self):
        return self.cleaned_data["query"].lstrip("?")

    def clean_headers(self):
        headers = {}
        for number, line in enumerate(
            self.cleaned_data["headers"].splitlines(), start=1
        ):
            if not line.strip():
                continue
            name, separator, value = line.partition(":")
            if not separator or not name.strip():
                raise forms.ValidationError(
                    f"Line {number}: write headers as 'Name: value'."
                )
            headers[name.strip()] = value.strip()
        return headers

    def cleaned_request(self):
        data = self.cleaned_data
        return {
            "key": data["key"],
            "query": data["query"],
            "headers": data["headers"],
            "status": 404,
            "probe": data["probe"],
        }
