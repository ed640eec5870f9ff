"""Symbol-data blobs written as PostHog's `posthog_symbol_data` crate writes them (the CLI's format)."""

import hashlib
import json
import struct

import zstandard

MAGIC = b"posthog_error_tracking"
SOURCE_AND_MAP = 2


def minified_source(chunk_id: str) -> bytes:
    """A minified bundle as the CLI leaves it: the chunkId comment injected as the last line."""
    return (
        b'"use strict";function boom(n){throw new Error("boom "+n)}boom(1);\n'
        b"//# sourceMappingURL=app.min.js.map\n"
        b"//# chunkId=" + chunk_id.encode()
    )


def source_map(chunk_id: str | None = None, release_id: str | None = None, **overrides) -> bytes:
    document = {
        "version": 3,
        "file": "app.min.js",
        "sources": ["../src/app.ts"],
        "sourcesContent": ['export function boom(n: number) { throw new Error("boom " + n) }\nboom(1)\n'],
        "names": ["boom", "n", "Error"],
        "mappings": "AAAA,SAASA,EAAKC,GAAK,MAAM,IAAIC,MAAM,QAAUD,EAAG,CAChDD,EAAK",
    }
    if chunk_id is not None:
        document["chunk_id"] = chunk_id
    if release_id is not None:
        document["release_id"] = release_id
    document.update(overrides)
    return json.dumps({k: v for k, v in document.items() if v is not ...}).encode()


def source_and_map_payload(source: bytes, source_map_bytes: bytes) -> bytes:
    """posthog_symbol_data's SourceAndMap: u64 LE length + minified source, u64 LE length + map."""
    return (
        struct.pack("<Q", len(source)) + source + struct.pack("<Q", len(source_map_bytes)) + source_map_bytes
    )


def zstd(data: bytes, content_size: bool = False) -> bytes:
    if content_size:
        return zstandard.ZstdCompressor(level=3).compress(data)
    # The CLI's streaming zstd::Encoder writes a frame without the content size.
    compressor = zstandard.ZstdCompressor(level=3).compressobj()
    return compressor.compress(data) + compressor.flush()


def symbol_data_blob(
    payload: bytes, *, version: int = 2, data_type: int = SOURCE_AND_MAP, compression: int = 1
) -> bytes:
    """Header (magic, u32 LE version, u32 LE type, on version 2 a u8 compression flag), then the payload."""
    header = MAGIC + struct.pack("<II", version, data_type)
    if version == 2:
        header += bytes([compression])
        if compression == 1:
            payload = zstd(payload)
    return header + payload


def cli_blob(
    chunk_id: str, release_id: str | None = None, *, version: int = 2, compression: int = 1
) -> bytes:
    """What `posthog-cli sourcemap upload` sends for one chunk (version 2 zstd is its default)."""
    payload = source_and_map_payload(minified_source(chunk_id), source_map(chunk_id, release_id))
    return symbol_data_blob(payload, version=version, compression=compression)


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()
