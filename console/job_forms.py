"""Warm up and Refresh prefix forms of the Back-to-Origin section.

They only turn what was typed (or uploaded) into the arguments of `jobs.create_job`,
which validates keys, prefixes, rules and concurrency once for the console and the
JSON API alike; its JobRequestError lands next to the field it names."""

from django import forms

from origin import jobs

MAX_KEYS_FILE_BYTES = 10 * 1024 * 1024
KEYS, LIST_ORIGIN = "keys", "list_origin"


def keys_from_text(text):
    """One key per line, exactly as stored; blank lines ignored. Only \\n (and a \\r
    before it) ends a line: any other control character stays in its key, where
    create_job refuses it instead of silently splitting the key in two."""
    lines = (line.removesuffix("\r") for line in text.split("\n"))
    return [line for line in lines if line.strip()]


class WarmupForm(forms.Form):
    source = forms.ChoiceField(
        label="What to copy",
        choices=[(KEYS, "These keys"), (LIST_ORIGIN, "List the origin")],
        initial=KEYS,
        widget=forms.RadioSelect,
    )
    keys = forms.CharField(
        label="Keys",
        required=False,
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 5, "spellcheck": "false", "placeholder": "images/a.jpg"}
        ),
    )
    keys_file = forms.FileField(
        label="Or upload a text file of keys",
        required=False,
        widget=forms.ClearableFileInput(attrs={"accept": ".txt,text/plain"}),
    )
    rule = forms.IntegerField(label="Mirroring rule", required=False)
    list_prefix = forms.CharField(label="Prefix", required=False, strip=False)
    # Bounds are create_job's; the browser hints them, the server checks them once.
    concurrency = forms.IntegerField(
        label="Concurrency",
        initial=4,
        widget=forms.NumberInput(attrs={"min": 1, "max": jobs.MAX_CONCURRENCY}),
    )
    skip_existing = forms.BooleanField(
        label="Skip keys already in the bucket", required=False, initial=True
    )

    def __init__(self, *args, rules=(), **kwargs):
        kwargs.setdefault("auto_id", "warmup-%s")
        super().__init__(*args, **kwargs)
        mirror_rules = [rule for rule in rules if rule.is_mirror]
        self.fields["rule"].widget = forms.Select(
            choices=[
                (rule.position, f"Rule {rule.position} · {rule.origin_url}")
                for rule in mirror_rules
            ]
        )
        self.has_mirror_rules = bool(mirror_rules)

    def clean_keys_file(self):
        upload = self.cleaned_data["keys_file"]
        if not upload:
            return None
        if upload.size > MAX_KEYS_FILE_BYTES:
            raise forms.ValidationError(
                "The file is larger than 10 MiB: split it into several jobs."
            )
        try:
            text = b"".join(upload.chunks()).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(
                "The file is not UTF-8 text: save it as UTF-8, one key per line."
            ) from None
        return keys_from_text(text)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("source") == KEYS:
            self._clean_given_keys(cleaned)
        elif cleaned.get("source") == LIST_ORIGIN and cleaned.get("rule") is None:
            self.add_error("rule", "Choose the mirroring rule whose origin to list.")
        return cleaned

    def _clean_given_keys(self, cleaned):
        pasted = keys_from_text(cleaned.get("keys") or "")
        uploaded = cleaned.get("keys_file")
        if "keys_file" in self.errors:
            return
        if pasted and uploaded is not None:
            self.add_error("keys", "Paste keys or upload a file, not both.")
        elif not pasted and not uploaded:
            field = "keys" if uploaded is None else "keys_file"
            self.add_error(field, "Enter at least one key, one per line.")
        cleaned["key_list"] = pasted or uploaded

    def job_arguments(self):
        """create_job's keyword arguments for what the form says."""
        data = self.cleaned_data
        chosen = (
            {"keys": data["key_list"]}
            if data["source"] == KEYS
            else {"list_origin": {"rule": data["rule"], "prefix": data["list_prefix"]}}
        )
        return {
            **chosen,
            "concurrency": data["concurrency"],
            "skip_existing": data["skip_existing"],
        }

    def add_job_error(self, error):
        """Show a JobRequestError next to the field it is about."""
        field = {
            "keys": "keys_file" if self.cleaned_data.get("keys_file") else "keys",
            "list_origin": "rule",
            "concurrency": "concurrency",
        }.get(error.field)
        self.add_error(field, error.message)


class RefreshForm(forms.Form):
    prefix = forms.CharField(
        label="Prefix",
        strip=False,
        error_messages={"required": "Enter the prefix of the objects to refresh."},
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "refresh-%s")
        super().__init__(*args, **kwargs)

    def add_job_error(self, error):
        self.add_error("prefix" if error.field == "prefix" else None, error.message)
