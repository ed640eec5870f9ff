"""Time the symbol-set upload path the way the PostHog CLI drives it, over real HTTP on 127.0.0.1.

    .venv/bin/python bench/symbol_upload.py [--s3] [--sizes 1,25,95] [--chunks 200]

For each blob size: bulk_start_upload, a streamed multipart POST to the presigned URL, bulk_finish_upload
(the server reads the object back, hashes it and parses the source map). Then many small chunks in one
batch, twice (the second run finds them all uploaded). Local storage always; with --s3 also S3, through a
moto server in a child process on 127.0.0.1. Each storage runs in a process of its own (max RSS is per
process). Everything lives in a temporary folder that is removed at the end. See bench/README.md.
"""

import argparse
import hashlib
import json
import logging
import multiprocessing
import os
import random
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
import uuid
from contextlib import contextmanager

import requests
from flask_migrate import upgrade
from werkzeug.serving import make_server

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.services import accounts, api_keys  # noqa: E402

MiB = 1024 * 1024
HEADER = b"posthog_error_tracking" + struct.pack("<II", 1, 2)  # version 1, type 2 (source + map)
READ_CHUNK = 256 * 1024  # the client's read size when streaming a blob from disk
HTTP_TIMEOUT = 300  # seconds, per request: nothing here may hang for ever
S3_BUCKET = "bench-symbols"
MOTO_MAX_SECONDS = 3600  # the moto child stops by itself after this, whatever happens to us


# --- payloads -----------------------------------------------------------------------------------------


def _mappings_block() -> bytes:
    """64 KiB of segments as bundlers write them (`CAAC,SAAS,...`), every one a valid mapping into source 0.

    One minified line (the source is one line too): symbolic refuses a map of more lines than its source.
    Each segment is 4 one-character VLQ values and a comma, so a cut at any multiple of 5 stays valid.
    """
    rng = random.Random(1)
    positive = "CEGIKMOQSUWYace"  # VLQ digits of small positive numbers (no continuation bit)
    out = []
    while len(out) * 5 < 64 * 1024:
        out.append(f"{rng.choice(positive)}A{rng.choice('AC')}{rng.choice(positive)},")
    return "".join(out).encode()


SOURCE_TEXT = "".join(
    f"export function handler{i}(event, context) {{\n"
    f'\tconst value = event["field_{i}"] ?? "default {i}";\n'
    f"\tif (!value) throw new Error(`missing field_{i} in ${{context.name}}`);\n"
    f"\treturn {{ id: {i}, value, at: Date.now() }};\n}}\n\n"
    for i in range(200)
)
MINIFIED_BLOCK = (
    b'!function(){"use strict";var e=function(e,t){return e.field?e.field:t.name},'
    b'n=function(e){for(var t=0;t<e.length;t++)if(e[t]===null)throw new Error("x");return e};'
    b"window.__app=window.__app||[],window.__app.push([e,n])}();"
) * 200
MAPPINGS_BLOCK = _mappings_block()


class _HashingWriter:
    def __init__(self, out):
        self.out = out
        self.digest = hashlib.sha512()
        self.size = 0

    def write(self, data: bytes) -> None:
        self.out.write(data)
        self.digest.update(data)
        self.size += len(data)

    def repeat(self, block: bytes, length: int) -> None:
        """Write `length` bytes of `block` repeated (cut at the end), never more than one block at once."""
        while length > 0:
            part = block[:length]
            self.write(part)
            length -= len(part)


def write_blob(path: str, chunk_id: str, total: int) -> str:
    """Write a PostHog symbol-data blob of exactly `total` bytes, streamed; return its sha512 hex.

    A fifth is minified source (ending with `//# chunkId=`), the rest a source map JSON whose
    sourcesContent takes about 60% and mappings the remainder.
    """
    body = total - len(HEADER) - 16
    source_length = max(256, body // 5)
    map_length = body - source_length
    trailer = f";\n//# chunkId={chunk_id}\n".encode()

    content_budget = map_length * 3 // 5
    entry = json.dumps(SOURCE_TEXT).encode()
    count = content_budget // (len(entry) + 1)
    if count == 0:  # a small blob: one shorter source file
        count, entry = 1, json.dumps(SOURCE_TEXT[: max(1, content_budget - 200) // 2]).encode()
    sources = ",".join(f'"webpack://app/src/module_{i}.js"' for i in range(count))
    prefix = (
        f'{{"version":3,"file":"chunk-{chunk_id}.js","sources":[{sources}],'
        f'"names":["e","t","n","value","context"],"mappings":"'
    ).encode()
    middle = b'","sourcesContent":['
    suffix = b"]}"
    mappings_length = map_length - len(prefix) - len(middle) - count * len(entry) - (count - 1) - len(suffix)
    if mappings_length < 1:
        raise ValueError(f"{total} bytes is too small for a blob")

    with open(path, "wb") as handle:
        out = _HashingWriter(handle)
        out.write(HEADER)
        out.write(struct.pack("<Q", source_length))
        out.repeat(MINIFIED_BLOCK, source_length - len(trailer))
        out.write(trailer)
        out.write(struct.pack("<Q", map_length))
        out.write(prefix)
        whole = mappings_length - mappings_length % 5
        out.repeat(MAPPINGS_BLOCK, whole)
        out.write(b"C,C,"[: mappings_length - whole])  # one-value segments fill the rest
        out.write(middle)
        for i in range(count):
            out.write(entry if i == 0 else b"," + entry)
        out.write(suffix)
    if out.size != total:
        raise AssertionError(f"wrote {out.size} bytes, meant {total}")
    return out.digest.hexdigest()


class MultipartFile:
    """The CLI's (reqwest's) multipart form: every presigned field as a text part, then part `file`
    (filename "file"). The file's bytes are read from disk as the body is sent; len() gives requests
    the Content-Length the CLI sends (it is not a chunked upload, which S3 refuses)."""

    def __init__(self, fields: dict[str, str], path: str):
        boundary = uuid.uuid4().hex
        self.content_type = f"multipart/form-data; boundary={boundary}"
        self.path = path
        head = "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in fields.items()
        )
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="file"\r\n\r\n'
        self.head = head.encode()
        self.tail = f"\r\n--{boundary}--\r\n".encode()
        self.length = len(self.head) + os.path.getsize(path) + len(self.tail)

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        yield self.head
        with open(self.path, "rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                yield chunk
        yield self.tail


# --- measuring ----------------------------------------------------------------------------------------


class AppMeter:
    """WSGI middleware: while tracemalloc runs, the peak of Python memory allocated while the app
    handles each request (from the call to the last byte of its response; responses here are small)."""

    def __init__(self, app):
        self.app = app
        self.peaks: list[int] = []

    def __call__(self, environ, start_response):
        if not tracemalloc.is_tracing():
            return self.app(environ, start_response)
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        body = self.app(environ, start_response)
        try:
            chunks = list(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        self.peaks.append(tracemalloc.get_traced_memory()[1] - before)
        return chunks


def settle(timeout: float = 5.0) -> None:
    """Wait (bounded) until the server's earlier request threads are gone: after answering, werkzeug's
    development server drains the socket with `rfile.read(10_000_000)`, a 10 MB buffer that would
    otherwise land in the next phase's numbers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
        "process_request_thread" in thread.name for thread in threading.enumerate()
    ):
        time.sleep(0.005)


class Phase:
    """Wall time of a block; when traced, the peak of Python memory allocated while the app handled
    the block's request (MiB; None when the request did not reach the app).

    Measured inside the app: tracemalloc sees every thread, and the process as a whole also holds the
    client's buffers and, now and then, the development server's 10 MB drain buffer (see settle()).
    """

    def __init__(self, meter: AppMeter, traced: bool):
        self.meter = meter
        self.traced = traced
        self.seconds = 0.0
        self.app_mib: float | None = None

    def __enter__(self):
        settle()
        if self.traced:
            self.meter.peaks.clear()
            tracemalloc.start()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.started
        if self.traced:
            tracemalloc.stop()
            if self.meter.peaks:
                self.app_mib = max(self.meter.peaks) / MiB
        return False

    def app_peak(self) -> str:
        return "-" if self.app_mib is None else f"{self.app_mib:.1f} MiB"


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def check(response: requests.Response, status: int, what: str) -> requests.Response:
    if response.status_code != status:
        raise SystemExit(f"{what}: expected {status}, got {response.status_code}: {response.text[:500]}")
    return response


# --- the server and the stores ------------------------------------------------------------------------


@contextmanager
def serving(app):
    """The app on a real threaded HTTP server on 127.0.0.1 (werkzeug's, one thread per request);
    yields its base URL and the AppMeter around it."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
    server = make_server("127.0.0.1", 0, AppMeter(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="bench-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", server.app
    finally:
        server.shutdown()
        thread.join(timeout=30)
        server.server_close()


def _s3_environment() -> None:
    """Dummy credentials only, so nothing here can reach a real account (as tests/conftest.py does)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )


def _moto_main(ready, stop) -> None:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no access log line per request
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    ready.put(server.get_host_and_port())
    stop.wait(MOTO_MAX_SECONDS)
    server.stop()


@contextmanager
def moto_endpoint():
    """An S3-compatible server on 127.0.0.1 with one bucket, in a child process: its memory (it keeps
    objects in RAM) stays out of this process's numbers."""
    import boto3

    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    process = context.Process(target=_moto_main, args=(ready, stop), name="bench-moto", daemon=True)
    process.start()
    try:
        host, port = ready.get(timeout=60)
        endpoint = f"http://{host}:{port}"
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=S3_BUCKET)
        yield endpoint
    finally:
        stop.set()
        process.join(timeout=30)
        if process.is_alive():
            process.terminate()
            process.join(timeout=10)


def make_app(workdir: str, storage: dict):
    config = {
        "DATABASE_URL": "sqlite:///" + os.path.join(workdir, "bench.sqlite3"),
        "STORAGE_URL": "file://" + os.path.join(workdir, "storage"),
        "SECRET_KEY": "bench",
        **storage,
    }
    app = create_app(config)
    with app.app_context():
        upgrade()
        user = accounts.create_user("bench@example.com", "bench-password-1", "Bench")
        project_id = accounts.resolve_project(user, "@current").id
        _, raw_key = api_keys.create_key(user, "bench", "error_tracking:write")
        db.session.remove()
    return app, project_id, raw_key


# --- the runs -----------------------------------------------------------------------------------------


class Client:
    """What the CLI does, over one kept-alive connection pool (as its HTTP client has)."""

    def __init__(self, base: str, meter: AppMeter, project_id: int, raw_key: str):
        self.meter = meter
        self.api = f"{base}/api/environments/{project_id}/error_tracking/symbol_sets"
        self.http = requests.Session()
        self.auth = {"Authorization": f"Bearer {raw_key}"}

    def start(self, blobs: dict[str, str]) -> dict:
        body = {"symbol_sets": [{"chunk_id": chunk, "content_hash": sha} for chunk, sha in blobs.items()]}
        response = self.http.post(
            f"{self.api}/bulk_start_upload", json=body, headers=self.auth, timeout=HTTP_TIMEOUT
        )
        return check(response, 201, "bulk_start_upload").json()["id_map"]

    def upload(self, presigned: dict, path: str) -> None:
        form = MultipartFile(presigned["fields"], path)
        response = self.http.post(  # no auth header: the presigned fields are the authorization
            presigned["url"], data=form, headers={"Content-Type": form.content_type}, timeout=HTTP_TIMEOUT
        )
        check(response, 204, "upload to the presigned URL")

    def finish(self, hashes: dict[str, str]) -> None:
        response = self.http.post(
            f"{self.api}/bulk_finish_upload",
            json={"content_hashes": hashes},
            headers=self.auth,
            timeout=HTTP_TIMEOUT,
        )
        check(response, 201, "bulk_finish_upload")

    def get(self, symbol_set_id: str) -> dict:
        response = self.http.get(f"{self.api}/{symbol_set_id}", headers=self.auth, timeout=HTTP_TIMEOUT)
        return check(response, 200, "retrieve").json()

    def delete(self, symbol_set_id: str) -> None:
        response = self.http.delete(f"{self.api}/{symbol_set_id}", headers=self.auth, timeout=HTTP_TIMEOUT)
        check(response, 204, "delete")


def one_blob(client: Client, path: str, chunk_id: str, sha: str, traced: bool) -> tuple[Phase, Phase, str]:
    """start, upload, finish one blob; check it ended up uploaded; return the two measured phases."""
    issued = client.start({chunk_id: sha})[chunk_id]
    with Phase(client.meter, traced) as upload:
        client.upload(issued["presigned_url"], path)
    with Phase(client.meter, traced) as finish:
        client.finish({issued["symbol_set_id"]: sha})
    item = client.get(issued["symbol_set_id"])
    if item["status"] != "uploaded" or item["size_bytes"] != os.path.getsize(path):
        raise SystemExit(f"{chunk_id}: not uploaded: {item}")
    return upload, finish, issued["symbol_set_id"]


def bench_sizes(client: Client, workdir: str, sizes_mib: list[float], backend: str) -> None:
    print(
        "Each size: one untraced run for the times, then the same upload again (after DELETE) under "
        "tracemalloc for the memory."
    )
    if backend == "s3":
        print(
            "The app takes no part in the upload here: the client posts straight to the bucket (moto, "
            "in another process), so there is no app peak for the upload."
        )
    print(f"max RSS before the first upload: {max_rss_mib():.0f} MiB\n")
    header = (
        f"{'blob':>8} {'map':>8} | {'upload':>7} {'MiB/s':>5} | {'finish':>7} {'MiB/s':>5} | "
        f"{'upload peak':>11} {'finish peak':>11} | {'max RSS':>7}"
    )
    print(header)
    print("-" * len(header))
    for size_mib in sizes_mib:
        total = int(size_mib * MiB)
        chunk_id = str(uuid.uuid4())
        path = os.path.join(workdir, f"blob-{chunk_id}.bin")
        sha = write_blob(path, chunk_id, total)
        with open(path, "rb") as handle:
            handle.seek(len(HEADER))
            (source_length,) = struct.unpack("<Q", handle.read(8))
        map_mib = (total - len(HEADER) - 16 - source_length) / MiB
        upload, finish, symbol_set_id = one_blob(client, path, chunk_id, sha, traced=False)
        client.delete(symbol_set_id)
        traced_upload, traced_finish, _ = one_blob(client, path, chunk_id, sha, traced=True)
        os.unlink(path)
        print(
            f"{total / MiB:>4.0f} MiB {map_mib:>4.1f} MiB | "
            f"{upload.seconds:>5.2f} s {total / MiB / upload.seconds:>5.0f} | "
            f"{finish.seconds:>5.2f} s {total / MiB / finish.seconds:>5.0f} | "
            f"{traced_upload.app_peak():>11} {traced_finish.app_peak():>11} | "
            f"{max_rss_mib():>3.0f} MiB",
            flush=True,
        )
    print(
        "(times: the untraced run, client side, from sending the request to the response. Peaks: the most\n"
        " Python memory (tracemalloc) allocated at once while the app handled the request. Max RSS: this\n"
        " process's high-water mark so far, getrusage; it holds the app and the client.)"
    )


def bench_many(client: Client, workdir: str, count: int, size_kib: int) -> None:
    folder = os.path.join(workdir, "small")
    os.mkdir(folder)
    blobs, paths = {}, {}
    for i in range(count):
        chunk_id = f"bench-small-{i:04d}-{uuid.uuid4().hex[:8]}"
        paths[chunk_id] = os.path.join(folder, f"{i}.bin")
        blobs[chunk_id] = write_blob(paths[chunk_id], chunk_id, size_kib * 1024)

    print(
        f"\n{count} chunks of {size_kib} KiB: one bulk_start_upload, {count} uploads, one bulk_finish_upload"
    )
    started = time.perf_counter()
    id_map = client.start(blobs)
    start_seconds = time.perf_counter() - started
    if len(id_map) != count:
        raise SystemExit(f"first run: {len(id_map)} of {count} chunks to upload")
    timings = []
    for chunk_id, issued in id_map.items():
        begun = time.perf_counter()
        client.upload(issued["presigned_url"], paths[chunk_id])
        timings.append(time.perf_counter() - begun)
    started = time.perf_counter()
    client.finish({issued["symbol_set_id"]: blobs[chunk_id] for chunk_id, issued in id_map.items()})
    finish_seconds = time.perf_counter() - started
    total = start_seconds + sum(timings) + finish_seconds
    rows = [
        (f"bulk_start_upload ({count} sets)", start_seconds, ""),
        (
            f"{count} uploads, one after another",
            sum(timings),
            f"   (median {statistics.median(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms)",
        ),
        (f"bulk_finish_upload ({count} sets)", finish_seconds, ""),
        ("total", total, ""),
    ]
    for name, seconds, note in rows:
        print(f"  {name:<36} {seconds * 1000:7.0f} ms{note}")

    started = time.perf_counter()
    id_map = client.start(blobs)
    start_seconds = time.perf_counter() - started
    if id_map:
        raise SystemExit(f"second run: {len(id_map)} chunks to upload again, expected none")
    started = time.perf_counter()
    client.finish({})  # what the CLI sends when there was nothing to upload
    finish_seconds = time.perf_counter() - started
    print(
        f"Same {count} chunks again: bulk_start_upload {start_seconds * 1000:.0f} ms (id_map empty: all "
        f"already uploaded), bulk_finish_upload {{}} {finish_seconds * 1000:.0f} ms"
    )
    for path in paths.values():
        os.unlink(path)


def run_backend(backend: str, sizes_mib: list[float], count: int, size_kib: int) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="bench-symbols-") as workdir,
        storage_config(backend) as storage,
    ):
        app, project_id, raw_key = make_app(workdir, storage)
        with serving(app) as (base, meter):
            client = Client(base, meter, project_id, raw_key)
            try:
                bench_sizes(client, workdir, sizes_mib, backend)
                bench_many(client, workdir, count, size_kib)
            finally:
                client.http.close()
        with app.app_context():
            db.engine.dispose()


@contextmanager
def storage_config(backend: str):
    """The app config for the store: a local folder (set in make_app), or a bucket on a moto server."""
    if backend == "local":
        yield {}
        return
    _s3_environment()
    with moto_endpoint() as endpoint:
        yield {"STORAGE_URL": f"s3://{S3_BUCKET}/bench", "S3_ENDPOINT_URL": endpoint}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--s3", action="store_true", help="also run against S3 (moto on 127.0.0.1)")
    parser.add_argument("--sizes", default="1,25,95", help="blob sizes in MiB (default 1,25,95)")
    parser.add_argument("--chunks", type=int, default=200, help="small chunks in one batch (default 200)")
    parser.add_argument("--chunk-kib", type=int, default=10, help="size of each small chunk (default 10)")
    parser.add_argument("--backend", choices=("local", "s3"), help="run this store only (used internally)")
    args = parser.parse_args()
    sizes = [float(value) for value in args.sizes.split(",") if value.strip()]
    if any(size <= 0 or size > 99 for size in sizes) or not 1 <= args.chunks <= 1000:
        parser.error("sizes must be in (0, 99] MiB (the limit is 100 MiB) and --chunks in 1..1000")
    if args.backend:
        run_backend(args.backend, sizes, args.chunks, args.chunk_kib)
        return
    backends = [("local storage (file://, the app takes the upload)", "local")]
    if args.s3:
        backends.append(("S3 (moto on 127.0.0.1, in a child process; the client posts to it)", "s3"))
    for label, backend in backends:
        print(f"\n== {label}", flush=True)
        # One process per store: max RSS is a per-process high-water mark.
        command = [sys.executable, os.path.abspath(__file__), "--backend", backend, "--sizes", args.sizes]
        command += ["--chunks", str(args.chunks), "--chunk-kib", str(args.chunk_kib)]
        subprocess.run(command, check=True, timeout=3600)
    if not args.s3:
        print("\n(pass --s3 to run against S3 through a moto server too)")


if __name__ == "__main__":
    main()
