from django import forms
from django.core.exceptions import ValidationError

from buckets.models import Bucket
from buckets.names import validate_object_key


class BucketCreateForm(forms.ModelForm):
    class Meta:
        model = Bucket
        fields = ["name", "acl"]
        labels = {"name": "Bucket Name", "acl": "ACL"}
        widgets = {"acl": forms.RadioSelect}
        help_texts = {
            "name": "3-63 characters: lowercase letters, digits and hyphens; starts and ends with a letter or digit."
        }

    def __init__(self, *args, owner, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.owner = owner
        self.fields["name"].widget.attrs.update(
            {"autocomplete": "off", "placeholder": "my-bucket"}
        )


class BucketAclForm(forms.ModelForm):
    class Meta:
        model = Bucket
        fields = ["acl"]
        labels = {"acl": "ACL"}
        widgets = {"acl": forms.RadioSelect}


class FolderCreateForm(forms.Form):
    name = forms.CharField(label="Folder Name", max_length=254)

    def __init__(self, *args, prefix="", **kwargs):
        super().__init__(*args, **kwargs)
        self.prefix = prefix

    def clean_name(self):
        name = self.cleaned_data["name"].strip().strip("/")
        if not name:
            raise ValidationError("Enter a folder name.")
        if "//" in name:
            raise ValidationError("A folder name must not contain empty parts (//).")
        self.key = f"{self.prefix}{name}/"
        validate_object_key(self.key)
        return name
