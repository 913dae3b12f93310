"""Basic Settings > Back-to-Origin: Export and Import the rules as OSS XML.

Import shows the differences first (origin/rule_transfer.py plans it with the very
replacement PUT ?website makes, then rolls it back); Replace rules sends the file
back and it is validated again, so the preview is never trusted.
"""

import base64
import binascii

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import reswap, retarget

from console.rule_views import _render_editor
from console.views import _get_bucket_for_user
from origin import rule_transfer
from origin.rule_warnings import bucket_endpoint
from origin.website_xml import WebsiteError

IMPORT_PANEL = "console/_rules_import.html"
NO_FILE = "Choose a WebsiteConfiguration XML file to import."
TOO_BIG = (
    "The file is larger than 1 MiB, far more than five rules take. Nothing was changed."
)
DAMAGED = (
    "The import form arrived incomplete. Choose the file again; nothing was changed."
)
CHANGED_SINCE = "The rules changed since this preview: here are the differences again."
SECRET_HINT = (
    " Exported files carry no secrets: a rule keeps its stored secret only when the "
    "rule at the same position here has the same AccessKey ID; otherwise add "
    "AccessKeySecret to its MirrorAuth."
)


@login_required
@require_GET
def rules_export(request, name):
    bucket = _get_bucket_for_user(request, name)
    response = HttpResponse(
        rule_transfer.export_xml(bucket), content_type="application/xml"
    )
    filename = rule_transfer.export_filename(bucket)  # bucket names are [a-z0-9-]
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def rules_import(request, name):
    bucket = _get_bucket_for_user(request, name)
    if request.method == "GET":
        return _render_import(request, bucket)
    upload = request.FILES.get("file")
    if upload is None:
        return _render_import(request, bucket, import_error=NO_FILE)
    if upload.size > rule_transfer.MAX_IMPORT_BYTES:
        return _render_import(request, bucket, import_error=TOO_BIG)
    return _preview(request, bucket, upload.read(), upload.name[:200])


@login_required
@vary_on_headers("HX-Request")
@require_POST
def rules_import_confirm(request, name):
    bucket = _get_bucket_for_user(request, name)
    body = _decoded(request.POST.get("configuration", ""))
    file_name = request.POST.get("name", "")[:200]
    if body is None:
        return _render_import(request, bucket, import_error=DAMAGED)
    try:
        rule_transfer.apply_import(bucket, body, request.POST.get("fingerprint", ""))
    except rule_transfer.ConfigurationChanged:
        return _preview(request, bucket, body, file_name, import_note=CHANGED_SINCE)
    except WebsiteError as error:
        return _render_import(request, bucket, import_error=_refusal(error))
    count = bucket.origin_rules.count()
    messages.success(request, f"Rules replaced from {file_name}: {count} rules now.")
    if not request.htmx:
        return redirect(reverse("console-rules", args=[bucket.name]) + "#rule-list")
    # The panel posted; once replaced, the whole section is swapped in.
    response = _render_editor(request, bucket)
    return reswap(retarget(response, "#back-to-origin-section"), "outerHTML")


def _render_import(request, bucket, **extra):
    return _render_editor(request, bucket, IMPORT_PANEL, importing=True, **extra)


def _preview(request, bucket, body, file_name, **extra):
    """The differences `body` would make, or the reason it is refused."""
    try:
        plan = rule_transfer.plan_import(bucket, body, bucket_endpoint(request, bucket))
    except WebsiteError as error:
        return _render_import(request, bucket, import_error=_refusal(error))
    return _render_import(
        request,
        bucket,
        plan=plan,
        import_name=file_name,
        import_payload=base64.b64encode(body).decode(),
        **extra,
    )


def _refusal(error):
    """What the console says about a refused file: PUT ?website's own reason."""
    hint = SECRET_HINT if error.name == "AccessKeySecret" else ""
    return f"The file was refused: {error.message}{hint} Nothing was changed."


def _decoded(payload):
    try:
        body = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not body or len(body) > rule_transfer.MAX_IMPORT_BYTES:
        return None
    return body
