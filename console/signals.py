"""Console reactions to auth events."""

from django.contrib import messages


def say_logged_out(sender, request, user, **kwargs):
    """The log-on page says the log-out worked (the message outlives the session:
    Django's default message storage keeps it in a cookie first)."""
    if request is not None:
        messages.info(request, "You have logged out.")
