"""The Create Rule / Edit form. Validation is the model's clean(); this only maps inputs."""

from django import forms

from origin.models import BackToOriginRule


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


class HeaderListField(forms.Field):
    def __init__(self, *, pairs=False, **kwargs):
        super().__init__(
            required=False,
            widget=HeaderPairsWidget if pairs else HeaderNamesWidget,
            **kwargs,
        )
        self.pairs = pairs

    def to_python(self, value):
        return list(value or [])

    def has_changed(self, initial, data):
        return (initial or []) != (data or [])


class RuleForm(forms.ModelForm):
    include_headers = HeaderListField(pairs=True, label="Header condition")
    pass_headers = HeaderListField(label="Transmit these headers")
    remove_headers = HeaderListField(label="Do not transmit these headers")
    set_headers = HeaderListField(pairs=True, label="Set these headers")

    HEADER_LISTS = ("include_headers", "pass_headers", "remove_headers", "set_headers")

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
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
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
                name in cls.HEADER_LISTS and any(key.startswith(name) for key in query)
            ):
                typed[name] = field.widget.value_from_datadict(query, {}, name)
        # On the page in both modes, so missing from the query means unticked, not unseen.
        typed["pass_query_string"] = "pass_query_string" in query
        form.initial.update(typed)
        return form

    @property
    def mode_value(self):
        value = self["mode"].value()
        Mode = BackToOriginRule.Mode
        return value if value in Mode.values else Mode.MIRROR

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
