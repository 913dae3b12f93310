"""The project's 403/404/500 answers outside the OSS endpoint (which answers OSS XML
itself): JSON under /api/, a console page with a way back everywhere else."""

from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults

API_PREFIX = "/api/"

ERROR_PAGES = {
    403: (
        "Access denied",
        "You do not have permission to open this page. Buckets and keys are visible to their owner only.",
    ),
    404: (
        "Page not found",
        "There is nothing at this address. The bucket, object or rule may have been deleted, or the link is mistyped.",
    ),
    500: (
        "Something went wrong on our side",
        "The request could not be completed and nothing was saved. Please try again in a moment.",
    ),
}

API_DETAILS = {
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    500: "Internal error; nothing was saved. Please try again.",
}


def _error_answer(request, status):
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": API_DETAILS[status]}, status=status)
    title, explanation = ERROR_PAGES[status]
    return render(
        request,
        "console/error.html",
        {"status": status, "title": title, "explanation": explanation},
        status=status,
    )


def page_not_found(request, exception=None):
    return _error_answer(request, 404)


def permission_denied(request, exception=None):
    return _error_answer(request, 403)


def server_error(request):
    """No template context processors here: the error may have come from one of them."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({"detail": API_DETAILS[500]}, status=500)
    return defaults.server_error(
        request
    )  # templates/500.html, rendered without a context
