"""The peers the hot paths are compared with, started on free loopback ports for the run:
nginx as a static file server and as the classic mirror (`try_files $uri @fetch;
proxy_store on;`, bench/nginx-peers.conf.template), and a bare Django project
(`django-admin startproject` plus one FileResponse view) under gunicorn with our
gunicorn settings, read from config/gunicorn.conf.py.

Both read the test objects from one directory, laid out like the origin's paths, so a
key means the same bytes everywhere.
"""

import os
import re
import runpy
import shutil
import subprocess
from pathlib import Path
from unittest import mock

import requests

from bench.loopback_origin import body_pieces
from bench.server_under_test import (
    ACCEL_REDIRECT_LOCATION,
    BUCKET,
    WEB_THREADS,
    WEB_WORKERS,
    accel_server,
)
from tests.origin_server import unused_port
from tests.server_process import BIN, ROOT, sigterm_when_parent_dies, wait_until

HERE = Path(__file__).resolve().parent
NGINX_TEMPLATE = HERE / "nginx-peers.conf.template"
GUNICORN_CONF = ROOT / "config" / "gunicorn.conf.py"
DEPLOY_NGINX_CONF = ROOT / "deploy" / "nginx.conf"
# The settings that decide how gunicorn serves, copied from ours to the bare project.
COPIED_SETTINGS = (
    "worker_class",
    "workers",
    "threads",
    "timeout",
    "graceful_timeout",
    "access_log_format",
    "control_socket_disable",  # several gunicorns run at once here
)


def find_nginx():
    """Debian installs nginx in /usr/sbin, which is not on every PATH."""
    found = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")
    if found is None:
        raise RuntimeError("nginx is not installed: run bench/install-tools")
    return found


def write_objects(directory, keys_and_sizes):
    """The test objects as files named by their keys, with the origin's bytes."""
    for key, size in keys_and_sizes:
        path = directory / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            for piece in body_pieces(key, size):
                file.write(piece)


class Peer:
    """A peer as a fetch target: `url_for(key)`, no x-oss-tag on its answers."""

    mirrored = False

    def __init__(self, url, prefix=""):
        self.url = url
        self.prefix = prefix

    def url_for(self, key):
        return f"{self.url}{self.prefix}/{key}"


class Nginx:
    """One nginx process holding both peers: `static` over the objects directory and
    `mirror`, storing what it fetches from the origin under `mirror_root`; and `front`,
    nginx in front of our server in X-Accel-Redirect mode (`front_server()`, started
    by the row that measures it, on `front_data_dir`)."""

    def __init__(self, prefix, objects_dir, origin_netloc):
        self.prefix = Path(prefix)
        self.mirror_root = self.prefix / "mirror"
        self.mirror_root.mkdir()
        (self.prefix / "mirror-temp").mkdir()
        (self.prefix / "front-temp").mkdir()
        static_port, mirror_port = unused_port(), unused_port()
        front_port, self.front_upstream_port = unused_port(), unused_port()
        self.front_data_dir = self.prefix / "front-data"
        self.static = Peer(f"http://127.0.0.1:{static_port}")
        self.mirror = Peer(f"http://127.0.0.1:{mirror_port}")
        self.front = Peer(f"http://127.0.0.1:{front_port}", f"/{BUCKET}")
        self.conf = self.prefix / "nginx.conf"
        self.conf.write_text(
            fill(
                NGINX_TEMPLATE.read_text(),
                # As root nginx would run its workers as nobody, who cannot enter
                # the temporary directories.
                USER="user root;" if os.geteuid() == 0 else "",
                WORKERS=str(WEB_WORKERS),
                PREFIX=str(self.prefix),
                STATIC_PORT=str(static_port),
                STATIC_ROOT=str(objects_dir),
                MIRROR_PORT=str(mirror_port),
                MIRROR_ROOT=str(self.mirror_root),
                MIRROR_TEMP=str(self.prefix / "mirror-temp"),
                ORIGIN=origin_netloc,
                FRONT_PORT=str(front_port),
                FRONT_UPSTREAM=f"127.0.0.1:{self.front_upstream_port}",
                FRONT_OBJECTS=str(self.front_data_dir / "objects"),
                ACCEL_LOCATION=ACCEL_REDIRECT_LOCATION,
                RESTORED_HEADERS=restored_headers(),
            )
        )
        self.process = None

    def front_server(self):
        """Our server for `front` to proxy to (not started)."""
        return accel_server(self.front_data_dir, self.front_upstream_port)

    def start(self):
        self.process = subprocess.Popen(
            [find_nginx(), "-p", str(self.prefix), "-c", str(self.conf)]
            # -e: not even the start-up messages go to the system's log directory.
            + ["-e", str(self.prefix / "error.log"), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=(self.prefix / "stderr.log").open("ab"),
            preexec_fn=sigterm_when_parent_dies,
        )
        for peer in (self.static, self.mirror):
            wait_until(
                lambda peer=peer: answers(peer.url), f"nginx listens on {peer.url}"
            )
        return self

    def stop(self):
        stop_process(self.process)

    def version(self):
        result = subprocess.run([find_nginx(), "-v"], capture_output=True, text=True)
        return result.stderr.strip().split("/", 1)[-1]


def restored_headers():
    """deploy/nginx.conf's #accel add_header lines (the headers nginx drops on
    X-Accel-Redirect and puts back from the product's answer), uncommented."""
    lines = re.findall(
        r"^\s*#accel\s+(add_header \S+\s+\$upstream_http_\w+;)$",
        DEPLOY_NGINX_CONF.read_text(),
        flags=re.MULTILINE,
    )
    return "\n".join(" " * 12 + line for line in lines)


def fill(template, **fields):
    for name, value in fields.items():
        template = template.replace("{{" + name + "}}", value)
    return template


def our_gunicorn_settings():
    """Our config's serving settings, as the benchmark's server runs it."""
    environment = {"WEB_WORKERS": str(WEB_WORKERS), "WEB_THREADS": str(WEB_THREADS)}
    with mock.patch.dict(os.environ, environment):
        config = runpy.run_path(str(GUNICORN_CONF))
    return {name: config[name] for name in COPIED_SETTINGS if name in config}


BARE_VIEWS = '''"""One view: the file named by the path, as a FileResponse."""
import os
from pathlib import Path

from django.http import FileResponse, Http404
from django.utils._os import safe_join

FILES = Path(os.environ["BARE_FILES"])


def serve(request, path):
    try:
        return FileResponse(open(safe_join(FILES, path), "rb"))
    except (OSError, ValueError):
        raise Http404(path)
'''

BARE_URLS = """from django.urls import path

from bare.views import serve

urlpatterns = [path("files/<path:path>", serve)]
"""

BARE_SETTINGS = """
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
"""


class BareDjango:
    """`django-admin startproject bare` plus one FileResponse view over the objects
    directory, under gunicorn with our serving settings."""

    def __init__(self, directory, objects_dir):
        self.directory = Path(directory)
        self.port = unused_port()
        self.settings = our_gunicorn_settings()
        self.peer = Peer(f"http://127.0.0.1:{self.port}", "/files")
        self.env = {**os.environ, "BARE_FILES": str(objects_dir)}
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.log = self.directory / "gunicorn.log"
        self.process = None

    def generate(self):
        subprocess.run(
            [BIN / "django-admin", "startproject", "bare", str(self.directory)],
            check=True,
            env=self.env,
        )
        package = self.directory / "bare"
        (package / "views.py").write_text(BARE_VIEWS)
        (package / "urls.py").write_text(BARE_URLS)
        with (package / "settings.py").open("a") as settings:
            settings.write(BARE_SETTINGS)
        conf = [f"bind = '127.0.0.1:{self.port}'", "accesslog = '/dev/null'"]
        conf += [f"{name} = {value!r}" for name, value in self.settings.items()]
        (self.directory / "gunicorn.conf.py").write_text("\n".join(conf) + "\n")
        return self

    def start(self):
        with self.log.open("ab") as log_file:
            self.process = subprocess.Popen(
                [BIN / "gunicorn", "-c", "gunicorn.conf.py", "bare.wsgi:application"],
                cwd=self.directory,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=sigterm_when_parent_dies,
            )
        wait_until(
            lambda: self.process.poll() is not None or answers(self.peer.url),
            "the bare Django project answers",
            timeout=60,
        )
        if self.process.poll() is not None:
            raise RuntimeError(
                f"bare Django's gunicorn exited:\n{self.log.read_text()}"
            )
        return self

    def stop(self):
        stop_process(self.process)

    def describe(self):
        settings = self.settings
        return (
            f"gunicorn {settings['worker_class']}, {settings['workers']} workers × "
            f"{settings['threads']} threads (read from config/gunicorn.conf.py)"
        )


def answers(url):
    try:
        requests.get(url, timeout=2)
    except requests.RequestException:
        return False
    return True


def stop_process(process):
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_peers(scratch, objects, origin, cleanup):
    """nginx (static and mirror) and bare Django over `objects` ((key, size) pairs),
    in `scratch`; `cleanup` stops them, also when interrupted while they start."""
    objects_dir = scratch / "objects"
    objects_dir.mkdir()
    write_objects(objects_dir, objects)
    nginx = Nginx(mkdir(scratch / "nginx"), objects_dir, origin.netloc)
    cleanup.add(nginx.stop)
    nginx.start()
    bare = BareDjango(mkdir(scratch / "bare"), objects_dir).generate()
    cleanup.add(bare.stop)
    bare.start()
    return nginx, bare


def mkdir(path):
    path.mkdir()
    return path
