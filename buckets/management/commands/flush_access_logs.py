from django.core.management.base import BaseCommand

from buckets.access_logging import flush_access_logs


class Command(BaseCommand):
    help = (
        "Write the buffered access-log lines of every logged bucket into its target "
        "bucket now. Safe beside running servers and another run."
    )

    def handle(self, *args, **options):
        written = flush_access_logs()
        self.stdout.write(f"Wrote {written} access log object(s).")
