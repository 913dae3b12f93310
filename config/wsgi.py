import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()

from buckets.body import (  # noqa: E402 - needs the settings above
    CompleteBodyInput,
    mark_path_encoding,
)
from buckets.unread_body import close_if_body_unread  # noqa: E402


def checked_application(environ, start_response):
    # A body cut short must raise, not look whole; a key must be UTF-8 (buckets/body.py).
    environ["wsgi.input"] = CompleteBodyInput.wrap(environ)
    mark_path_encoding(environ)
    return django_application(environ, start_response)


# A connection whose request body was not read ends with its answer (buckets/unread_body.py).
application = close_if_body_unread(checked_application)
