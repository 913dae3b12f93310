from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from buckets.models import AccessKey


class Command(BaseCommand):
    help = (
        "Create an OSS access key for a user and print AccessKeyId and AccessKeySecret."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
        key, secret = AccessKey.create_for(user)
        self.stdout.write(f"AccessKeyId={key.key_id}\nAccessKeySecret={secret}")
