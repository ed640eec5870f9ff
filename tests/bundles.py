"""Real minified bundles for the symbolication tests: TypeScript built by esbuild (tests/js), chunk ids
injected as `posthog-cli sourcemap inject` does, and packed as the CLI uploads them."""

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .symbol_blobs import source_and_map_payload, symbol_data_blob

ESBUILD = Path(__file__).parent / "js" / "node_modules" / ".bin" / "esbuild"
# The snippet the CLI puts in front of the minified code: it files the chunk id under the stack of an
# Error made there, from which posthog-js reads the script's URL ($exception's chunk-id map).
CHUNK_SNIPPET = (
    ';!function(){try{var e="undefined"!=typeof window?window:"undefined"!=typeof global?global:'
    '"undefined"!=typeof globalThis?globalThis:"undefined"!=typeof self?self:{},n=(new e.Error).stack;'
    'n&&(e._posthogChunkIds=e._posthogChunkIds||{},e._posthogChunkIds[n]="{chunk_id}")}catch(e){}}();'
)
_BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@dataclass(frozen=True)
class Bundle:
    chunk_id: str
    source: bytes  # the minified code, chunk id injected
    source_map: bytes

    def blob(self) -> bytes:
        return symbol_data_blob(source_and_map_payload(self.source, self.source_map))


def build(folder: Path, name: str, typescript: str) -> tuple[str, dict]:
    """esbuild --bundle --minify --sourcemap of one TypeScript file; the minified code and its map."""
    if not ESBUILD.exists():
        raise RuntimeError("esbuild is missing: run `make node-tools` (npm ci in tests/js)")
    src = folder / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / f"{name}.ts").write_text(typescript)
    out = folder / "dist" / f"{name}.min.js"
    subprocess.run(
        [ESBUILD, src / f"{name}.ts", "--bundle", "--minify", "--sourcemap", f"--outfile={out}"],
        check=True,
        capture_output=True,
    )
    return out.read_text(), json.loads(out.with_suffix(".js.map").read_text())


def inject(code: str, source_map: dict, chunk_id: str) -> Bundle:
    """As the CLI: the snippet before the code on its first line (the map's first line shifted to match),
    `//# chunkId=` as the last line, and the chunk id in the map."""
    snippet = CHUNK_SNIPPET.replace("{chunk_id}", chunk_id)
    lines = source_map["mappings"].split(";")
    if lines[0]:
        first, _, rest = lines[0].partition(",")
        # Only the first segment of a line holds its column absolutely; the rest are relative to it.
        values = _decode(first)
        values[0] += len(snippet)
        lines[0] = _encode(values) + ("," + rest if rest else "")
    shifted = {**source_map, "mappings": ";".join(lines), "chunk_id": chunk_id}
    source = snippet + code.rstrip("\n") + f"\n//# chunkId={chunk_id}\n"
    return Bundle(chunk_id, source.encode(), json.dumps(shifted).encode())


def _decode(segment: str) -> list[int]:
    values, shift, value = [], 0, 0
    for char in segment:
        digit = _BASE64.index(char)
        value += (digit & 31) << shift
        if digit & 32:
            shift += 5
            continue
        values.append(-(value >> 1) if value & 1 else value >> 1)
        shift = value = 0
    return values


def _encode(values: list[int]) -> str:
    out = ""
    for number in values:
        value = (-number << 1) | 1 if number < 0 else number << 1
        while True:
            digit, value = value & 31, value >> 5
            out += _BASE64[digit | (32 if value else 0)]
            if not value:
                break
    return out
