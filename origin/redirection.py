"""Executors of redirection decisions: a 3xx to the computed Location, or (Internal)
the target key served from the same bucket."""

from django.http import HttpResponse

from buckets import errors
from buckets.serving import serve_object


def redirect_response(status, location):
    response = HttpResponse(status=status)
    response["Location"] = location
    response["Content-Length"] = "0"
    return response


def redirect(request, target, decision):
    """Answer the decision's Redirection Code and Location, with an empty body."""
    return redirect_response(decision.redirection.status, decision.redirection.location)


def serve_internal(request, target, decision):
    """Serve the decision's internal key from the same bucket (200), or NoSuchKey; no 3xx."""
    obj = target.bucket.stored_objects.filter(key=decision.internal_key).first()
    if obj is None:
        raise errors.no_such_key(target.key)
    return serve_object(request, obj)
