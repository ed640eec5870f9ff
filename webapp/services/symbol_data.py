"""The PostHog symbol-data blob: check what was uploaded, and build one from a browser upload.

Layout (little-endian): b"posthog_error_tracking", u32 version (1 or 2), u32 type, then on version 2
a u8 compression flag (0 none, 1 zstd); then the payload. Type 2 (minified source + source map) is
u64 length + source bytes, u64 length + source map JSON bytes, and nothing after.
A bare source map JSON is accepted too.
"""

import json
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

import zstandard

MAGIC = b"posthog_error_tracking"
SOURCE_AND_MAP = 2
TYPE_NAMES = {
    2: "minified source and source map",
    3: "Hermes source map",
    4: "Proguard mapping",
    5: "Apple dSYM",
    6: "ELF debug info",
}
# A decompressed payload larger than this is refused rather than exhausting memory.
MAX_DECOMPRESSED_BYTES = 512 * 1024 * 1024
CHUNK = 1024 * 1024
CHUNK_ID_COMMENT = re.compile(rb"//# chunkId=([^\s]+)\s*$")


class InvalidSymbolData(Exception):
    """The bytes are not a usable symbol set; the message says why, for an admin to read."""


@dataclass(frozen=True)
class SymbolDataInfo:
    kind: str  # "symbol_data" or "source_map"
    data_type: int | None
    chunk_id: str | None  # from the minified source's `//# chunkId=` comment


class _Reader:
    """Exact reads with a running byte budget, over a raw or decompressing stream."""

    def __init__(self, stream: BinaryIO, budget: int):
        self.stream = stream
        self.budget = budget

    def read_exact(self, size: int, what: str) -> bytes:
        if size > self.budget:
            raise InvalidSymbolData(f"The {what} is larger than the data allows.")
        parts, missing = [], size
        while missing:
            part = self.stream.read(missing)
            if not part:
                raise InvalidSymbolData(f"The file ends in the middle of the {what}.")
            parts.append(part)
            missing -= len(part)
        self.budget -= size
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def skip(self, size: int, what: str) -> bytes:
        """Read and drop `size` bytes in chunks; return the last few KiB (for the chunkId comment)."""
        tail = b""
        remaining = size
        while remaining:
            part = self.read_exact(min(CHUNK, remaining), what)
            tail = (tail + part)[-4096:]
            remaining -= len(part)
        return tail

    def at_end(self) -> bool:
        return self.stream.read(1) == b""


def inspect(stream: BinaryIO) -> SymbolDataInfo:
    """Check the uploaded bytes; raise InvalidSymbolData with a readable reason."""
    head = stream.read(len(MAGIC))
    if head == MAGIC:
        return _inspect_symbol_data(stream)
    data = head + stream.read()
    if data.lstrip()[:1] != b"{":
        # Say what was expected: a typo in the header or a binary file is no "JSON error".
        raise InvalidSymbolData(
            "The file is neither PostHog symbol data (it does not start with the "
            "posthog_error_tracking header) nor a source map (a JSON object)."
        )
    text = _decode(data, "file")
    del data  # parse from the text alone: a large map is otherwise held three times over
    _check_source_map(text, "file")
    return SymbolDataInfo(kind="source_map", data_type=None, chunk_id=None)


def _inspect_symbol_data(stream: BinaryIO) -> SymbolDataInfo:
    header = _Reader(stream, MAX_DECOMPRESSED_BYTES)
    version, data_type = struct.unpack("<II", header.read_exact(8, "header"))
    if version not in (1, 2):
        raise InvalidSymbolData(f"Symbol data version {version} is not supported (expected 1 or 2).")
    if data_type not in TYPE_NAMES:
        raise InvalidSymbolData(f"Symbol data type {data_type} is unknown.")
    payload: BinaryIO = stream
    if version == 2:
        compression = header.read_exact(1, "compression flag")[0]
        if compression == 1:
            payload = zstandard.ZstdDecompressor().stream_reader(stream, read_across_frames=True)
        elif compression != 0:
            raise InvalidSymbolData(f"Compression flag {compression} is unknown (expected 0 or 1).")
    reader = _Reader(payload, MAX_DECOMPRESSED_BYTES)
    try:
        if data_type != SOURCE_AND_MAP:
            # Only the header is checked for these types; their payload must not be empty.
            if reader.at_end():
                raise InvalidSymbolData(f"The {TYPE_NAMES[data_type]} payload is empty.")
            return SymbolDataInfo(kind="symbol_data", data_type=data_type, chunk_id=None)
        return _inspect_source_and_map(reader)
    except zstandard.ZstdError as error:
        raise InvalidSymbolData(f"The zstd-compressed payload cannot be decompressed ({error}).") from None


def _inspect_source_and_map(reader: _Reader) -> SymbolDataInfo:
    (source_length,) = struct.unpack("<Q", reader.read_exact(8, "minified source length"))
    tail = reader.skip(source_length, "minified source")
    (map_length,) = struct.unpack("<Q", reader.read_exact(8, "source map length"))
    # Decoded straight away, so the bytes are freed before the JSON is parsed.
    source_map = _decode(reader.read_exact(map_length, "source map"), "source map")
    if not reader.at_end():
        raise InvalidSymbolData("There are unexpected bytes after the source map.")
    if source_length == 0:
        raise InvalidSymbolData("The minified source is empty.")
    _check_source_map(source_map, "source map")
    match = CHUNK_ID_COMMENT.search(tail)
    chunk_id = match.group(1).decode("utf-8", "replace") if match else None
    return SymbolDataInfo(kind="symbol_data", data_type=SOURCE_AND_MAP, chunk_id=chunk_id)


def _decode(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidSymbolData(f"The {what} is not UTF-8 text.") from None


def _check_source_map(text: str, what: str) -> None:
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        detail = f" ({error.msg} at line {error.lineno})" if isinstance(error, json.JSONDecodeError) else ""
        raise InvalidSymbolData(f"The {what} is not valid JSON{detail}.") from None
    if not isinstance(document, dict):
        raise InvalidSymbolData(f"The {what} is JSON but not a source map object.")
    missing = [field for field in ("version", "mappings", "sources") if field not in document]
    if missing:
        raise InvalidSymbolData(f"The source map has no {' or '.join(repr(f) for f in missing)} field.")
    if not isinstance(document["mappings"], str) or not isinstance(document["sources"], list):
        raise InvalidSymbolData("The source map's mappings must be text and its sources a list.")


def write_source_and_map(
    out: BinaryIO, source: BinaryIO, source_size: int, source_map: BinaryIO, map_size: int
) -> int:
    """Write an uncompressed version-1 blob from two seekable streams; return the bytes written."""
    out.write(MAGIC + struct.pack("<II", 1, SOURCE_AND_MAP))
    for stream, size in ((source, source_size), (source_map, map_size)):
        out.write(struct.pack("<Q", size))
        copied = 0
        while chunk := stream.read(CHUNK):
            out.write(chunk)
            copied += len(chunk)
        if copied != size:
            raise ValueError("a stream changed size while it was copied")
    return len(MAGIC) + 8 + 16 + source_size + map_size
