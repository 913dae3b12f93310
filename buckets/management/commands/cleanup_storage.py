from django.core.management.base import BaseCommand

from buckets.storage import remove_leftovers


class Command(BaseCommand):
    help = "Remove partial writes and unreferenced object files. Run it while no server is writing."

    def handle(self, *args, **options):
        tmp, blobs = remove_leftovers()
        self.stdout.write(
            f"Removed {tmp} temporary file(s) and {blobs} unreferenced object file(s)."
        )
