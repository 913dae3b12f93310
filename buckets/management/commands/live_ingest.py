import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from buckets.live.channels import release_all_publishers
from buckets.live.ingest import start_publish
from buckets.live.rtmp import RtmpServer


class Command(BaseCommand):
    help = (
        "Serve RTMP publishes to live channels on LIVE_RTMP_HOST:LIVE_RTMP_PORT "
        "(gunicorn starts it beside itself). Stops on SIGTERM or SIGINT."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.LIVE_RTMP_HOST)
        parser.add_argument("--port", type=int, default=settings.LIVE_RTMP_PORT)

    def handle(self, *args, host, port, **options):
        # Publishes of an earlier run that died did not end cleanly: they have.
        release_all_publishers()
        server = RtmpServer(host, port, start_publish)
        stopping = threading.Event()

        def stop(_signum, _frame):
            if not stopping.is_set():
                stopping.set()
                # shutdown() waits for serve_forever: not from its own thread.
                threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"RTMP ingest on {host}:{server.port}", ending="\n")
        self.stdout.flush()
        server.serve_forever()
        server.shutdown()  # every publication closed, its playlist ended
