from django.core.management.base import BaseCommand

from buckets.inventory import run_due_inventories


class Command(BaseCommand):
    help = (
        "Write every enabled bucket inventory whose Daily or Weekly turn has come "
        "(with --all: every enabled one) into its destination bucket now."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--all",
            action="store_true",
            help="write every enabled inventory, due or not",
        )

    def handle(self, *args, **options):
        written = run_due_inventories(every=options["all"])
        self.stdout.write(f"Wrote {written} inventory(ies).")
