"""JSON answers for every failure under /api/ (SPEC §6, §9): never an HTML page."""

import logging

from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from buckets.errors import is_disk_full

logger = logging.getLogger(__name__)


def api_exception_handler(exc, context):
    response = exception_handler(exc, context)
    if response is not None:
        return response
    if is_disk_full(exc):
        logger.warning("storage full: %s", exc)
        return Response(
            {"detail": "There is not enough free storage; nothing was saved."},
            status=status.HTTP_507_INSUFFICIENT_STORAGE,
        )
    logger.error("internal error in %s", context["request"].path, exc_info=exc)
    return Response(
        {"detail": "Internal error; nothing was saved. Please try again."},
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )
