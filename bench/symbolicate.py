"""Time stack-trace resolution through a large source map: the first request, repeated ones, a new process.

    .venv/bin/python bench/symbolicate.py [--map-mib 20] [--frames 10] [--repeats 30]

Builds a minified bundle with a source map of about --map-mib MiB (60,000 minified lines mapped to a
TypeScript file, plus padding sources with their content, as large apps ship them), uploads it through the
API as the CLI does (bulk_start_upload, presigned POST, bulk_finish_upload), then POSTs an Error.stack to
/symbolicate/ through the Flask test client:
- first: nothing cached (the set's file is read from storage, split, parsed by symbolic);
- repeated: the parsed map is in this process's memory level;
- new process: the memory level emptied, the disk level (SYMBOL_CACHE_DIR) kept.
Memory is the process's resident set (symbolic's parse lives outside Python's allocator). Everything lives
in a temporary folder removed at the end. See bench/README.md.
"""

import argparse
import hashlib
import io
import json
import os
import resource
import statistics
import struct
import sys
import tempfile
import time

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


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0  # not Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--map-mib", type=int, default=20)
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-symbolicate-") as folder:
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

        step = LINES // args.frames
        stack = "Error: boom\n" + "\n".join(
            f"    at f{line - 1} ({SCRIPT}:{line}:10)" for line in range(1, LINES, step)[: args.frames]
        )
        body = {"stack": stack, "chunk_ids": {SCRIPT: CHUNK}}

        def resolve() -> tuple[float, float]:
            """Wall-clock and this process's CPU seconds (the CPU is what a loaded machine cannot inflate)."""
            began, cpu = time.perf_counter(), time.process_time()
            response = client.post(base + "symbolicate/", headers=headers, json=body)
            elapsed = (time.perf_counter() - began, time.process_time() - cpu)
            frames = response.get_json()["frames"]
            assert all(frame["resolved"] for frame in frames), frames[0]
            assert frames[0]["source"] == "src/app.ts" and frames[0]["function"], frames[0]
            return elapsed

        before = rss_mib()
        first = resolve()
        after_first = rss_mib()
        repeated = [resolve() for _ in range(args.repeats)]
        app.extensions["symbol_cache"]._memory.clear()  # as a new worker process finds it
        app.extensions["symbol_cache"]._memory_bytes = 0
        from_disk = resolve()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"map {len(source_map) / MiB:.1f} MiB, minified {len(source) / MiB:.1f} MiB, "
        f"{args.frames} frames a request"
    )
    print(f"upload check (bulk_finish_upload, parses with symbolic): {finish_seconds * 1000:8.1f} ms")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("                                            wall ms    CPU ms")
    print(f"first resolution (storage, split, parse):  {first[0] * 1000:8.1f}  {first[1] * 1000:8.1f}")
    walls, cpus = [wall for wall, _ in repeated], [cpu for _, cpu in repeated]
    print(
        f"repeated, median of {args.repeats}:                  "
        f"{statistics.median(walls) * 1000:8.2f}  {statistics.median(cpus) * 1000:8.2f}"
    )
    print(
        f"new process (disk level, parse again):     {from_disk[0] * 1000:8.1f}  {from_disk[1] * 1000:8.1f}"
    )
    print(
        f"resident memory: {before:.0f} MiB before, {after_first:.0f} MiB after the first; "
        f"peak {peak:.0f} MiB"
    )


if __name__ == "__main__":
    main()
