"""User menu > AccessKey: create (secret shown once), enable/disable, delete."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers

from buckets.models import AccessKey
from console.views import _page_or_partial


def _get_key_for_user(request, key_id):
    return get_object_or_404(AccessKey, user=request.user, key_id=key_id)


def _render_keys(request, **extra):
    ctx = {
        "access_keys": request.user.access_keys.all(),
        "buckets": request.user.buckets.all(),  # the bucket list on the left
        **extra,
    }
    return _page_or_partial(
        request, "console/access_keys.html", "console/_access_key_list.html", ctx
    )


def _keys_after_change(request):
    """htmx swaps the fresh list in; a plain post redirects, so a reload repeats nothing."""
    return _render_keys(request) if request.htmx else redirect("console-access-keys")


@login_required
@vary_on_headers("HX-Request")
@require_GET
def access_key_list(request):
    return _render_keys(request)


@login_required
@vary_on_headers("HX-Request")
@never_cache  # the page carries a secret
@require_POST
def access_key_create(request):
    key, secret = AccessKey.create_for(request.user)
    # The secret is rendered into this one response only; it is never stored in the clear.
    return _render_keys(request, new_key=key, new_secret=secret)


@login_required
@vary_on_headers("HX-Request")
@require_POST
def access_key_toggle(request, key_id):
    key = _get_key_for_user(request, key_id)
    key.is_active = not key.is_active
    key.save(update_fields=["is_active"])
    messages.success(
        request, f"AccessKey {key.key_id} {'enabled' if key.is_active else 'disabled'}."
    )
    return _keys_after_change(request)


@login_required
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def access_key_delete(request, key_id):
    """GET: the inline confirmation in the list; POST: delete."""
    key = _get_key_for_user(request, key_id)
    if request.method == "GET":
        return _render_keys(request, deleting_key=key)
    key.delete()
    messages.success(request, f"AccessKey {key_id} deleted.")
    return _keys_after_change(request)
