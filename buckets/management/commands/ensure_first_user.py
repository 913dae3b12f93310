import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first console user when none exists, and print the console URL and login."

    def handle(self, *args, **options):
        user_model = get_user_model()
        url = f"http://{settings.HOST}:{settings.PORT}/console/"
        if user_model.objects.exists():
            self.stdout.write(
                f"Console: {url}\nLog on with an existing account (users: {user_model.objects.count()})."
            )
            return
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME") or "admin"
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD") or secrets.token_urlsafe(
            12
        )
        user_model.objects.create_superuser(
            username=username, password=password, email=""
        )
        shown = (
            password
            if not os.environ.get("DJANGO_SUPERUSER_PASSWORD")
            else "(from DJANGO_SUPERUSER_PASSWORD)"
        )
        self.stdout.write(f"Console: {url}\nLogin:   {username} / {shown}")
