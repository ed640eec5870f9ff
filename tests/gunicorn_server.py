"""The app under a real gunicorn (gthread, `make run`'s worker model) on this run's test database."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
# Bounds the start and the stop; never a pause.
START_SECONDS = 30


def database_url_for_another_process(app) -> str:
    """The test database's URL for a server process: on PostgreSQL the run's schema rides in the query."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}).get("options")
    if options:
        # The run's schema (see conftest): libpq reads the same options from the URL's query.
        url = url.update_query_dict({"options": options})
    return url.render_as_string(hide_password=False)


@dataclass(frozen=True)
class GunicornServer:
    base: str
    objects: Path
    log_path: Path

    def log(self) -> str:
        """The end of the server's log, for assertion messages."""
        return self.log_path.read_text(errors="replace")[-4000:]


@contextmanager
def run_gunicorn(app, folder: Path, *, workers: int = 1, threads: int = 4, environment: dict | None = None):
    """Serve `wsgi:app` with gunicorn on a socket bound here (no port race); files go to folder/objects."""
    log_path = folder / "gunicorn.log"
    objects = folder / "objects"
    listener = socket.create_server(("127.0.0.1", 0))
    env = {
        **os.environ,
        "DATABASE_URL": database_url_for_another_process(app),
        "SECRET_KEY": app.config["SECRET_KEY"],
        "STORAGE_URL": f"file://{objects}",
        **(environment or {}),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--bind",
        f"fd://{listener.fileno()}",
        # Import the app once and fork: several workers importing it side by side take seconds.
        "--preload",
        # Whatever is still in flight when the test stops the server is cut after a second.
        "--graceful-timeout",
        "1",
        # Gunicorn's control socket is one path per user; parallel test runs would share it.
        "--no-control-socket",
        "wsgi:app",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, pass_fds=[listener.fileno()]
        )
    server = GunicornServer(f"http://127.0.0.1:{listener.getsockname()[1]}", objects, log_path)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert process.poll() is None, f"gunicorn exited:\n{server.log()}"
            assert time.monotonic() < deadline, f"gunicorn did not answer:\n{server.log()}"
            try:
                # The socket is listening already: this waits in its backlog until a worker is up.
                requests.get(f"{server.base}/api/users/@me/", timeout=1)
                break
            except requests.RequestException:
                continue
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=START_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        listener.close()
