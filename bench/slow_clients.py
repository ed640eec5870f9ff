"""Slow uploaders against gunicorn: do normal requests still answer quickly?

    .venv/bin/python bench/slow_clients.py [--slow 4] [--seconds 25] [--workers sync,gthread]

For each worker model, a fresh SQLite database and store in a temporary folder, gunicorn with `make run`'s
settings (gthread: `--worker-class gthread --workers 2 --threads 8`; sync: `--workers 2`, the old
setting), then `--slow` clients that each get an upload URL and trickle the file to it at 100 bytes a
second, and meanwhile one client that sends normal requests (`GET /api/projects/` with a key, `GET
/login`) one after another for `--seconds`, printing their latencies. The API rate limit is raised for
the run (one client sends far more than 480 calls a minute). See bench/README.md.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from urllib.parse import urlsplit

import requests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKER_MODELS = {
    "gthread": ["--worker-class", "gthread", "--workers", "2", "--threads", "8"],
    "sync": ["--workers", "2"],
}
TRICKLE_BYTES, TRICKLE_EVERY = 10, 0.1  # 100 bytes a second
REQUEST_TIMEOUT = 60  # seconds: a normal request that waits longer counts as failed


def flask(env, *args) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout


def trickle(base_url: str, key: str, stop: threading.Event, answers: list) -> None:
    """Get an upload URL, then send its multipart body at 100 bytes a second until cut off or told to stop."""
    chunk_id = str(uuid.uuid4())
    response = requests.post(
        f"{base_url}/api/environments/@current/error_tracking/symbol_sets/bulk_start_upload/",
        headers={"Authorization": f"Bearer {key}"},
        json={"chunk_ids": [chunk_id]},
        timeout=REQUEST_TIMEOUT,
    )
    presigned = response.json()["id_map"][chunk_id]["presigned_url"]
    boundary = "benchboundary"
    form = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in presigned["fields"].items()
    )
    form += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="file"\r\n\r\n'
    url = urlsplit(presigned["url"])
    head = (
        f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Length: {len(form) + 1_000_000}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n{form}"
    )
    with socket.create_connection((url.hostname, url.port)) as connection:
        connection.sendall(head.encode())
        connection.settimeout(TRICKLE_EVERY)
        while not stop.is_set():
            try:
                answer = connection.recv(100)  # the server cut us off: its answer
                answers.append(answer.split(b"\r\n")[0].decode() or "connection closed")
                return
            except TimeoutError:
                pass
            try:
                connection.sendall(b"x" * TRICKLE_BYTES)
            except OSError:
                answers.append("connection closed")
                return


def wait_until_up(base_url: str) -> None:
    deadline = time.monotonic() + REQUEST_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if requests.get(base_url + "/login", timeout=REQUEST_TIMEOUT).ok:
                return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not answer")


def measure(base_url: str, key: str, seconds: float) -> dict[str, list[float]]:
    """Latencies of normal requests, sent one after another for `seconds`."""
    latencies = {"GET /api/projects/": [], "GET /login": []}
    failures = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name, url, headers in (
            ("GET /api/projects/", "/api/projects/", {"Authorization": f"Bearer {key}"}),
            ("GET /login", "/login", {}),
        ):
            started = time.monotonic()
            try:
                ok = requests.get(base_url + url, headers=headers, timeout=REQUEST_TIMEOUT).ok
            except requests.RequestException:
                ok = False
            if ok:
                latencies[name].append(time.monotonic() - started)
            else:
                failures += 1
    latencies["failures"] = failures
    return latencies


def run(model: str, slow: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory() as folder:
        env = dict(
            os.environ,
            DATABASE_URL=f"sqlite:///{folder}/bench.sqlite3",
            STORAGE_URL=f"file://{folder}/objects",
            SECRET_KEY="bench-secret",
            # This measures the worker model: the one client must not hit the API's 480/minute.
            API_RATE_LIMITS="100000/minute",
        )
        flask(env, "db", "upgrade")
        flask(
            env, "users", "create", "bench@example.com", "--password", "bench-password", "--organization", "B"
        )
        key = flask(env, "keys", "create", "bench@example.com", "--scopes", "*").strip().splitlines()[-1]
        listener = socket.create_server(("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *WORKER_MODELS[model]]
            + ["--bind", f"fd://{listener.fileno()}", "wsgi:app"],
            cwd=ROOT,
            env=env,
            pass_fds=[listener.fileno()],
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_up(base_url)
            baseline = measure(base_url, key, 2)
            stop = threading.Event()
            answers = []
            tricklers = [
                threading.Thread(target=trickle, args=(base_url, key, stop, answers), daemon=True)
                for _ in range(slow)
            ]
            for thread in tricklers:
                thread.start()
            time.sleep(1)  # let every slow client start its upload and take its thread (or worker)
            loaded = measure(base_url, key, seconds)
            cut_during_run = list(answers)
            stop.set()
            for thread in tricklers:
                thread.join()
        finally:
            server.terminate()
            server.wait(30)
            listener.close()
    print(f"\n== {model}: gunicorn {' '.join(WORKER_MODELS[model])}")
    for label, latencies in (("alone", baseline), (f"with {slow} slow uploaders", loaded)):
        print(f"  {label}:")
        for name in ("GET /api/projects/", "GET /login"):
            values = sorted(latencies[name])
            if not values:
                print(f"    {name:20} no answer within {REQUEST_TIMEOUT} s")
                continue
            print(
                f"    {name:20} {len(values):4} requests  median {statistics.median(values) * 1000:7.1f} ms"
                f"  max {values[-1] * 1000:8.1f} ms"
            )
        print(f"    failed or timed out: {latencies['failures']}")
    print(f"  slow uploaders cut off while measuring: {len(cut_during_run)} {sorted(set(cut_during_run))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slow", type=int, default=4, help="slow uploaders (default 4)")
    parser.add_argument("--seconds", type=float, default=25, help="how long to measure (default 25)")
    parser.add_argument("--workers", default="gthread,sync", help="worker models to run (gthread,sync)")
    args = parser.parse_args()
    for model in args.workers.split(","):
        run(model, args.slow, args.seconds)


if __name__ == "__main__":
    main()
