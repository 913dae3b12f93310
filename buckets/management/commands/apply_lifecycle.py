from django.core.management.base import BaseCommand
from django.utils import timezone

from buckets.lifecycle_job import apply_lifecycle


class Command(BaseCommand):
    help = (
        "Apply every bucket's lifecycle rules now: delete expired objects (and older "
        "versions), move objects to colder classes and abort expired multipart "
        "uploads. Safe beside running servers and another run."
    )

    def handle(self, *args, **options):
        outcome = apply_lifecycle(timezone.now())
        self.stdout.write(
            f"Deleted {outcome.deleted_objects} expired object(s), moved "
            f"{outcome.transitioned_objects} to a colder class and aborted "
            f"{outcome.aborted_uploads} expired multipart upload(s)."
        )
