"""The PostHog symbol-data blob: check what was uploaded, and build one from a browser upload.

Layout (little-endian): b"posthog_error_tracking", u32 version (1 or 2), u32 type, then on version 2
a u8 compression flag (0 none, 1 zstd); then the payload. Type 2 (minified source + source map) is
u64 length + source bytes, u64 length + source map JSON bytes, and nothing after.
A bare source map JSON is accepted too.
"""

import re
import struct
from dataclasses import dataclass, field
from typing import BinaryIO

import zstandard

from . import symbol_files

MAGIC = b"posthog_error_tracking"
SOURCE_AND_MAP = 2
HERMES_MAP = 3
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


InvalidSymbolData = symbol_files.InvalidSymbolData


@dataclass(frozen=True)
class SymbolDataInfo:
    kind: str  # "symbol_data" or "source_map"
    data_type: int | None
    chunk_id: str | None  # from the minified source's `//# chunkId=` comment
    # What the file holds, as symbol_files.describe found it (sources, debug id, ...).
    contents: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Payload:
    """The parts of an upload: what symbolic parses."""

    data_type: int | None  # None: a bare source map
    data: bytes  # the source map (types 2, 3 and bare), else the whole file (4-6)
    source: bytes | None = None  # the minified source (type 2)

    @property
    def chunk_id(self) -> str | None:
        match = CHUNK_ID_COMMENT.search(self.source[-4096:]) if self.source else None
        return match.group(1).decode("utf-8", "replace") if match else None


class _Reader:
    """Exact reads with a running byte budget, over a raw or decompressing stream."""

    def __init__(self, stream: BinaryIO, budget: int):
        self.stream = stream
        self.budget = budget

    def read_exact(self, size: int, what: str) -> bytes:
        if size > self.budget:
            raise InvalidSymbolData(f"The {what} is larger than the data allows.")
        # One read for all of it (one buffer, when the stream gives it at once); pieces are joined only
        # after a short read, so a large part is not held twice.
        parts, missing = [], size
        while missing:
            part = self.stream.read(missing)
            if not part:
                raise InvalidSymbolData(f"The file ends in the middle of the {what}.")
            parts.append(part)
            missing -= len(part)
        self.budget -= size
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read_rest(self, what: str) -> bytes:
        parts = []
        while part := self.stream.read(CHUNK):
            self.budget -= len(part)
            if self.budget < 0:
                raise InvalidSymbolData(f"The {what} is larger than the data allows.")
            parts.append(part)
        return b"".join(parts)

    def at_end(self) -> bool:
        return self.stream.read(1) == b""


def inspect(stream: BinaryIO) -> SymbolDataInfo:
    """Check the uploaded bytes, and parse them with symbolic; raise InvalidSymbolData with a reason."""
    payload = read_payload(stream)
    contents = symbol_files.describe(payload)
    kind = "source_map" if payload.data_type is None else "symbol_data"
    return SymbolDataInfo(kind, payload.data_type, payload.chunk_id, contents)


def read_payload(stream: BinaryIO) -> Payload:
    """Split the stored bytes into their parts (decompressed); raise InvalidSymbolData when malformed."""
    head = stream.read(len(MAGIC))
    if head == MAGIC:
        return _read_symbol_data(stream)
    data = head + stream.read()
    if data.lstrip()[:1] != b"{":
        # Say what was expected: a typo in the header or a binary file is no "JSON error".
        raise InvalidSymbolData(
            "The file is neither PostHog symbol data (it does not start with the "
            "posthog_error_tracking header) nor a source map (a JSON object)."
        )
    return Payload(None, data)


def _read_symbol_data(stream: BinaryIO) -> Payload:
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
            data = reader.read_rest(f"{TYPE_NAMES[data_type]} payload")
            if not data:
                raise InvalidSymbolData(f"The {TYPE_NAMES[data_type]} payload is empty.")
            return Payload(data_type, data)
        return _read_source_and_map(reader)
    except zstandard.ZstdError as error:
        raise InvalidSymbolData(f"The zstd-compressed payload cannot be decompressed ({error}).") from None


def _read_source_and_map(reader: _Reader) -> Payload:
    (source_length,) = struct.unpack("<Q", reader.read_exact(8, "minified source length"))
    source = reader.read_exact(source_length, "minified source")
    (map_length,) = struct.unpack("<Q", reader.read_exact(8, "source map length"))
    source_map = reader.read_exact(map_length, "source map")
    if not reader.at_end():
        raise InvalidSymbolData("There are unexpected bytes after the source map.")
    if source_length == 0:
        raise InvalidSymbolData("The minified source is empty.")
    return Payload(SOURCE_AND_MAP, source_map, source)


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
