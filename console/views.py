"""Console pages. Each view opens with the owner-only bucket accessor, then one action."""

from urllib.parse import quote

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from buckets.errors import is_disk_full
from buckets.listing import list_objects
from buckets.models import Bucket
from buckets.names import validate_object_key
from buckets.serving import serve_object
from buckets.storage import ObjectMetadata, ObjectWriter, commit_object, delete_object
from buckets.worm import ObjectImmutable
from console.forms import BucketAclForm, BucketCreateForm, FolderCreateForm
from console.uploads import ObjectUploadHandler

FILES_PAGE_SIZE = 100


def _get_bucket_for_user(request, name):
    """The user's own bucket, or 404: other users' buckets do not exist for them."""
    return get_object_or_404(Bucket, name=name, owner=request.user)


def _get_object(bucket, key):
    obj = bucket.stored_objects.filter(key=key).first()
    if obj is None:
        raise Http404("No such object")
    return obj


def _files_url(bucket, prefix=""):
    url = reverse("console-files", args=[bucket.name])
    return f"{url}?{urlencode({'prefix': prefix})}" if prefix else url


def _parent_prefix(key):
    return key.rstrip("/").rpartition("/")[0] + "/" if "/" in key.rstrip("/") else ""


def _bucket_context(request, bucket, tab, **extra):
    return {
        "bucket": bucket,
        "tab": tab,
        "buckets": request.user.buckets.all(),
        **extra,
    }


def _redirect(request, url):
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _page_or_partial(request, page, partial, ctx):
    """The partial alone for an htmx swap; the full page (which includes it) otherwise.

    Views that call this are decorated with vary_on_headers("HX-Request"), so no cache
    (the browser's back button included) serves the partial as the page.
    """
    return render(request, partial if request.htmx else page, ctx)


@login_required
@require_GET
def home(request):
    return render(
        request,
        "console/home.html",
        {
            "buckets": request.user.buckets.all(),
            "form": BucketCreateForm(owner=request.user),
        },
    )


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def bucket_create(request):
    form = BucketCreateForm(request.POST or None, owner=request.user)
    if request.method == "POST" and form.is_valid():
        bucket = form.save()
        messages.success(request, f"Bucket {bucket.name} created.")
        return _redirect(request, reverse("console-bucket", args=[bucket.name]))
    return _page_or_partial(
        request,
        "console/bucket_create.html",
        "console/_bucket_create_form.html",
        {"form": form, "buckets": request.user.buckets.all()},
    )


@login_required
@require_GET
def bucket_overview(request, name):
    bucket = _get_bucket_for_user(request, name)
    count, size = bucket.usage()
    endpoint = request.build_absolute_uri(f"/{bucket.name}/")
    return render(
        request,
        "console/bucket_overview.html",
        _bucket_context(
            request,
            bucket,
            "overview",
            object_count=count,
            total_size=size,
            endpoint=endpoint,
            is_empty=bucket.is_empty(),
        ),
    )


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def bucket_delete(request, name):
    """GET: the inline confirmation; POST: delete, refused while objects remain."""
    bucket = _get_bucket_for_user(request, name)
    if request.method == "GET":
        return _page_or_partial(
            request,
            "console/bucket_delete.html",
            "console/_bucket_delete_confirm.html",
            _bucket_context(request, bucket, "overview", is_empty=bucket.is_empty()),
        )
    if not bucket.is_empty():
        messages.error(
            request, f"Bucket {bucket.name} still holds objects. Delete them first."
        )
        return _redirect(request, reverse("console-bucket", args=[bucket.name]))
    bucket.delete()
    messages.success(request, f"Bucket {name} deleted.")
    return _redirect(request, reverse("console-home"))


@login_required
@vary_on_headers("HX-Request")
@require_GET
def bucket_files(request, name):
    bucket = _get_bucket_for_user(request, name)
    prefix = request.GET.get("prefix", "")
    listing = list_objects(
        bucket,
        prefix=prefix,
        delimiter="/",
        marker=request.GET.get("marker", ""),
        max_keys=FILES_PAGE_SIZE,
    )
    ctx = _bucket_context(
        request,
        bucket,
        "files",
        prefix=prefix,
        parent_prefix=_parent_prefix(prefix),
        listing=listing,
        folders=[(folder[len(prefix) :], folder) for folder in listing.common_prefixes],
        breadcrumbs=_breadcrumbs(prefix),
    )
    return _page_or_partial(
        request, "console/bucket_files.html", "console/_file_table.html", ctx
    )


def _breadcrumbs(prefix):
    crumbs, path = [], ""
    for part in prefix.split("/")[:-1]:
        path += part + "/"
        crumbs.append((part, path))
    return crumbs


@login_required
@vary_on_headers("HX-Request")
@csrf_exempt  # the upload handler must be in place before the CSRF check reads the body
@require_POST
def files_upload(request, name):
    handler = ObjectUploadHandler(request)
    request.upload_handlers = [handler]
    try:
        return _files_upload(request, name)
    finally:
        handler.discard_all()  # whatever was not committed, a cut upload's file too


@csrf_protect
def _files_upload(request, name):
    bucket = _get_bucket_for_user(request, name)
    prefix = request.POST.get("prefix", "")
    handler = request.upload_handlers[0]
    uploaded, errors = [], [handler.failure] if handler.failure else []
    for upload in request.FILES.getlist("files"):
        key = prefix + upload.name
        try:
            validate_object_key(key)
            commit_object(
                bucket,
                key,
                upload.writer,
                ObjectMetadata(content_type=upload.content_type),
            )
        except ValidationError as error:
            errors.append(f"{upload.name}: {error.messages[0]}")
            continue
        except ObjectImmutable:  # a retention policy keeps the object as it is
            errors.append(f"{upload.name}: the object is immutable (retention policy).")
            continue
        except (OSError, DatabaseError) as error:
            if not is_disk_full(error):
                raise
            errors.append(f"{upload.name}: not enough free storage; not saved.")
            continue
        uploaded.append(upload.name)
    if not uploaded and not errors:
        errors.append("Choose at least one file to upload.")
    for message in errors:
        messages.error(request, message)
    if uploaded:
        messages.success(
            request, f"Uploaded {len(uploaded)} file(s): {', '.join(uploaded)}."
        )
    return _redirect(request, _files_url(bucket, prefix))


@login_required
@vary_on_headers("HX-Request")
@require_POST
def folder_create(request, name):
    bucket = _get_bucket_for_user(request, name)
    prefix = request.POST.get("prefix", "")
    form = FolderCreateForm(request.POST, prefix=prefix)
    if form.is_valid():
        try:
            with ObjectWriter() as writer:
                commit_object(bucket, form.key, writer)
        except ObjectImmutable:  # the folder exists, kept by a retention policy
            messages.error(
                request, f"Folder {form.key} is immutable (retention policy)."
            )
            return _redirect(request, _files_url(bucket, prefix))
        messages.success(request, f"Folder {form.cleaned_data['name']}/ created.")
        return _redirect(request, _files_url(bucket, prefix))
    for field_errors in form.errors.values():
        for message in field_errors:
            messages.error(request, f"Folder not created: {message}")
    return _redirect(request, _files_url(bucket, prefix))


@login_required
@vary_on_headers("HX-Request")
@require_GET
def object_detail(request, name):
    bucket = _get_bucket_for_user(request, name)
    obj = _get_object(bucket, request.GET.get("key", ""))
    ctx = _bucket_context(
        request,
        bucket,
        "files",
        obj=obj,
        object_url=request.build_absolute_uri(f"/{bucket.name}/{quote(obj.key)}"),
        back_url=_files_url(bucket, _parent_prefix(obj.key)),
    )
    return _page_or_partial(
        request, "console/object_detail.html", "console/_object_detail.html", ctx
    )


@login_required
@require_GET
def object_download(request, name):
    bucket = _get_bucket_for_user(request, name)
    return serve_object(
        request, _get_object(bucket, request.GET.get("key", "")), as_attachment=True
    )


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def object_delete(request, name):
    bucket = _get_bucket_for_user(request, name)
    obj = _get_object(bucket, request.GET.get("key") or request.POST.get("key", ""))
    back_url = _files_url(bucket, _parent_prefix(obj.key))
    if request.method == "POST":
        try:
            delete_object(obj)
        except ObjectImmutable:  # a retention policy keeps the object
            messages.error(
                request, f"{obj.key} is immutable (retention policy); not deleted."
            )
            return _redirect(request, back_url)
        messages.success(request, f"Deleted {obj.key}.")
        return _redirect(request, back_url)
    ctx = _bucket_context(request, bucket, "files", obj=obj, back_url=back_url)
    return _page_or_partial(
        request,
        "console/object_delete.html",
        "console/_object_delete_confirm.html",
        ctx,
    )


@login_required
@require_GET
def bucket_settings(request, name):
    bucket = _get_bucket_for_user(request, name)
    return render(
        request,
        "console/bucket_settings.html",
        _bucket_context(request, bucket, "settings"),
    )


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def acl_edit(request, name):
    bucket = _get_bucket_for_user(request, name)
    editing = request.method == "POST" or request.GET.get("edit") == "1"
    form = BucketAclForm(request.POST or None, instance=bucket)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"ACL set to {bucket.get_acl_display()}.")
        if not request.htmx:
            return redirect("console-settings", bucket.name)
        editing = False
    ctx = _bucket_context(
        request, bucket, "settings", acl_form=form, acl_editing=editing
    )
    return _page_or_partial(
        request, "console/bucket_settings.html", "console/_acl_section.html", ctx
    )
