"""Time stack-trace resolution through a large source map: the first request, repeated ones, a new process.

    .venv/bin/python bench/symbolicate.py [--map-mib 20] [--frames 10] [--repeats 30]

Builds a minified bundle with a source map of about --map-mib MiB (60,000 minified lines mapped to a
TypeScript file, plus padding sources with their content, as large apps ship them), uploads it through the
API as the CLI does (bulk_start_upload, presigned POST, bulk_finish_upload), then POSTs an Error.stack to
/symbolicate/ through the Flask test client:
- first: nothing cached: the set's file is read from storage, parsed by symbolic, and symbolic's cache
  bytes written to the disk level (SYMBOL_CACHE_DIR);
- repeated: the cache file is open in this process's memory level;
- new process: another Python process on the same folders (as another gunicorn worker or a restart finds
  them): it maps the cache file, first once, then repeated.
Memory is the process's resident set and its anonymous part (symbolic's parse lives outside Python's
allocator; a mapped file's pages are shared page cache). Everything lives in a temporary folder removed at
the end. See bench/README.md.
"""

import argparse
import hashlib
import io
import json
import os
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from flask_migrate import upgrade

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from webapp import create_app  # noqa: E402
from webapp.extensions import db  # noqa: E402
from webapp.services import accounts, api_keys  # noqa: E402
from webapp.services.symbol_data import MAGIC  # noqa: E402

MiB = 1024 * 1024
LINES = 60_000
CHUNK = "bench-chunk"
SCRIPT = "https://shop.example/assets/app.min.js"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _vlq(number: int) -> str:
    value = (-number << 1) | 1 if number < 0 else number << 1
    out = ""
    while True:
        digit, value = value & 31, value >> 5
        out += _B64[digit | (32 if value else 0)]
        if not value:
            return out


def bundle(map_mib: int) -> tuple[bytes, bytes]:
    """Minified line i: `function f<i>(a){return a+<i>}`, mapped to line i of src/app.ts; padding sources."""
    minified = (
        "\n".join(f"function f{i}(a){{return a+{i}}}" for i in range(LINES)) + f"\n//# chunkId={CHUNK}\n"
    )
    original = "\n".join(
        f"export function handler{i}(a: number): number {{ return a + {i}; }}" for i in range(LINES)
    )
    # Per line: column 0 -> this source line, column 9 -> the function's name in the original.
    mappings = []
    for i in range(LINES):
        mappings.append(
            _vlq(0) + _vlq(0) + _vlq(0 if i == 0 else 1) + _vlq(0 if i == 0 else -16) + "," + _vlq(9) + "AAgB"
        )
    document = {
        "version": 3,
        "file": "app.min.js",
        "sources": ["src/app.ts"],
        "sourcesContent": [original],
        "names": [],
        "mappings": ";".join(mappings),
    }
    size = len(json.dumps(document))
    padding, number = [], 0
    while size < map_mib * MiB:
        text = "// vendored module\n" + "export const value = 1;\n" * 4000
        document["sources"].append(f"node_modules/vendor/module{number}.js")
        padding.append(text)
        size += len(text) + 40
        number += 1
    document["sourcesContent"] += padding
    return minified.encode(), json.dumps(document).encode()


def blob(source: bytes, source_map: bytes) -> bytes:
    return (
        MAGIC
        + struct.pack("<II", 1, 2)
        + struct.pack("<Q", len(source))
        + source
        + struct.pack("<Q", len(source_map))
        + source_map
    )


def memory_mib() -> tuple[float, float]:
    """The process's resident set and its anonymous part (a mapped cache file's pages are shared page
    cache, not this process's own memory)."""
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon"):
                found[key] = int(value.split()[0]) / 1024
    return found.get("VmRSS", 0.0), found.get("RssAnon", 0.0)


def peak_mib() -> float:
    """VmHWM: unlike ru_maxrss, it starts again at exec (a child does not inherit its parent's peak)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def make_app(folder: str):
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder}/bench.sqlite3",
            "SECRET_KEY": "bench",
            "STORAGE_URL": f"file://{folder}/storage",
            "SYMBOL_CACHE_DIR": f"{folder}/symbol-cache",
            "API_RATE_LIMITS": "1000000/minute",
            "UPLOAD_RATE_LIMITS": "1000000/minute",
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1",
        }
    )
    app.instance_path = folder
    return app


class Resolver:
    """POSTs the benchmark's stack to symbolicate/ and checks every frame came back resolved."""

    def __init__(self, app, project_id: int, key: str, frames: int):
        self.client = app.test_client()
        self.headers = {"Authorization": f"Bearer {key}"}
        self.url = f"/api/environments/{project_id}/error_tracking/symbolicate/"
        step = LINES // frames
        stack = "Error: boom\n" + "\n".join(
            f"    at f{line - 1} ({SCRIPT}:{line}:10)" for line in range(1, LINES, step)[:frames]
        )
        self.body = {"stack": stack, "chunk_ids": {SCRIPT: CHUNK}}

    def warm_up(self) -> None:
        """A request that resolves nothing: the process's first request costs (imports, the database
        connection, the key check) are not the cache's."""
        response = self.client.post(self.url, headers=self.headers, json={"stack": "Error: none"})
        assert response.status_code == 200, response.get_json()

    def __call__(self) -> tuple[float, float]:
        """Wall-clock and this process's CPU seconds (the CPU is what a loaded machine cannot inflate)."""
        began, cpu = time.perf_counter(), time.process_time()
        response = self.client.post(self.url, headers=self.headers, json=self.body)
        elapsed = (time.perf_counter() - began, time.process_time() - cpu)
        frames = response.get_json()["frames"]
        assert all(frame["resolved"] for frame in frames), frames[0]
        assert frames[0]["source"] == "src/app.ts" and frames[0]["function"], frames[0]
        return elapsed


def measure(resolve: Resolver, repeats: int) -> dict:
    """The first resolution in this process and the median of the repeated ones, with memory."""
    before = memory_mib()
    first = resolve()
    after = memory_mib()
    repeated = [resolve() for _ in range(repeats)]
    return {
        "first": first,
        "repeated": (
            statistics.median(wall for wall, _ in repeated),
            statistics.median(cpu for _, cpu in repeated),
        ),
        "before": before,
        "after": after,
        "peak": peak_mib(),
    }


def child(folder: str, project_id: int, key: str, frames: int, repeats: int) -> None:
    """The new process: same database, storage and cache folder, nothing in memory."""
    started = time.process_time()
    app = make_app(folder)
    resolve = Resolver(app, project_id, key, frames)
    resolve.warm_up()
    startup = time.process_time() - started
    print(json.dumps({"startup_cpu": startup, **measure(resolve, repeats)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map-mib", type=int, default=20)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--child", nargs=3, metavar=("FOLDER", "PROJECT_ID", "KEY"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        folder, project_id, key = args.child
        child(folder, int(project_id), key, args.frames, args.repeats)
        return
    with tempfile.TemporaryDirectory(prefix="bench-symbolicate-") as folder:
        app = make_app(folder)
        with app.app_context():
            upgrade()
            user = accounts.create_user("bench@example.com", "bench password", "Bench")
            project_id = accounts.resolve_project(user, "@current").id
            _, raw = api_keys.create_key(user, "bench", "*", None)
            db.session.remove()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {raw}"}
        base = f"/api/environments/{project_id}/error_tracking/"
        source, source_map = bundle(args.map_mib)
        data = blob(source, source_map)
        digest = hashlib.sha512(data).hexdigest()
        started = client.post(
            base + "symbol_sets/bulk_start_upload",
            headers=headers,
            json={"symbol_sets": [{"chunk_id": CHUNK, "content_hash": digest}]},
        ).get_json()["id_map"][CHUNK]
        presigned = started["presigned_url"]
        posted = client.post(
            presigned["url"].removeprefix("http://localhost"),
            data={**presigned["fields"], "file": (io.BytesIO(data), "file")},
            content_type="multipart/form-data",
        )
        assert posted.status_code == 204, posted.status_code
        finish_started = time.perf_counter()
        finished = client.post(
            base + "symbol_sets/bulk_finish_upload",
            headers=headers,
            json={"content_hashes": {started["symbol_set_id"]: digest}},
        )
        finish_seconds = time.perf_counter() - finish_started
        assert finished.status_code == 201, finished.get_json()
        del data

        resolve = Resolver(app, project_id, raw, args.frames)
        resolve.warm_up()
        here = measure(resolve, args.repeats)
        cache_files = list(Path(folder, "symbol-cache").glob("*.smcache"))
        cache_bytes = sum(path.stat().st_size for path in cache_files)
        # A new process (another gunicorn worker, a restart): the same folders, an empty memory.
        command = [sys.executable, __file__, "--frames", str(args.frames), "--repeats", str(args.repeats)]
        output = subprocess.run(
            [*command, "--child", folder, str(project_id), raw], check=True, capture_output=True, text=True
        ).stdout
        fresh = json.loads(output.strip().splitlines()[-1])

    print(
        f"map {len(source_map) / MiB:.1f} MiB, minified {len(source) / MiB:.1f} MiB, "
        f"{args.frames} frames a request; cache file {cache_bytes / MiB:.1f} MiB"
    )
    print(f"upload check (bulk_finish_upload, parses with symbolic): {finish_seconds * 1000:8.1f} ms")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("                                                  wall ms    CPU ms")
    rows = [
        ("first resolution (storage, parse, write cache):", here["first"]),
        (f"repeated in that process, median of {args.repeats}:", here["repeated"]),
        ("new process, first (maps the cache file):", fresh["first"]),
        (f"new process, repeated, median of {args.repeats}:", fresh["repeated"]),
    ]
    for label, (wall, cpu) in rows:
        print(f"{label:<48}{wall * 1000:9.2f} {cpu * 1000:9.2f}")
    for name, measured in (("first process", here), ("new process", fresh)):
        (rss_before, anon_before), (rss_after, anon_after) = measured["before"], measured["after"]
        print(
            f"{name}: resident {rss_before:.0f} -> {rss_after:.0f} MiB across its first resolution "
            f"(anonymous {anon_before:.0f} -> {anon_after:.0f} MiB), peak {measured['peak']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
