"""A file holding symbolic's serialized SourceMapCache, and lookups in it that answer as symbolic does.

File layout (little-endian): b"SMCFILE\\0", u32 FORMAT_VERSION, u32 symbolic's cache version, u64 length of
what follows the header, u32 CRC-32 of it, 4 bytes of padding; then symbolic's bytes (sourcemapcache_bytes),
8-byte aligned as symbolic lays them out. Written to a temporary file and renamed, so a reader sees a whole
file or none; opened with mmap, checked (header, length, checksum, section bounds), and read lazily: a
lookup reads a few positions, one location and the strings it names, never the whole sources.

`CacheFile.lookup` is symbolic's `SourceMapCache::lookup` (Rust's binary search, including its answer
for positions before the first mapping and for duplicate positions) and its C ABI's token match with the
Python binding's conversions, so it returns what `symbolic.sourcemapcache.SourceMapCache.lookup` returns
(tests/test_sourcemapcache_file.py compares them on real bundles, token by token and between tokens).
"""

import contextlib
import mmap
import os
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from . import sourcemapcache_bytes as raw

MAGIC = b"SMCFILE\0"
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sIIQI4x")
U32_MAX = 2**32 - 1
NO_FILE = NO_NAME = GLOBAL_SCOPE = U32_MAX
ANONYMOUS_SCOPE = U32_MAX - 1
_POSITION = struct.Struct("<II")
_LOCATION = struct.Struct("<5I")
_FILE = struct.Struct("<4I")
_LINE_OFFSET = struct.Struct("<I")


class CorruptCacheFile(Exception):
    """The file is not a whole cache file of this format (truncated, overwritten, another version)."""


@dataclass
class Token:
    """What symbolic.sourcemapcache.SourceMapCacheToken holds, 1-based as symbolic's C ABI answers."""

    line: int
    col: int
    src: str | None
    name: str | None
    function_name: str | None
    context_line: str | None
    pre_context: list[str] = field(default_factory=list)
    post_context: list[str] = field(default_factory=list)


def write(path: Path, serialized: bytes) -> None:
    """Write the file atomically: a temporary file in the same folder, then renamed over `path`."""
    header = HEADER.pack(MAGIC, FORMAT_VERSION, raw.VERSION, len(serialized), zlib.crc32(serialized))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(header)
            out.write(serialized)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


@dataclass(frozen=True)
class _File:
    name: str | None
    source: tuple[int, int] | None  # start and end of the source's bytes in the map
    line_offsets: tuple[int, int]  # indexes of its first and end line offset


class CacheFile:
    """An open cache file. Raises CorruptCacheFile from `open` when the file is not whole."""

    def __init__(self, path: Path):
        with path.open("rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size < HEADER.size:
                raise CorruptCacheFile(f"{path.name} is shorter than its header")
            self._map = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
        self.size = size
        try:
            self._check()
        except (CorruptCacheFile, struct.error) as error:
            self.close()
            raise CorruptCacheFile(f"{path.name}: {error}") from None

    def close(self) -> None:
        self._map.close()

    def _check(self) -> None:
        magic, version, symbolic_version, length, checksum = HEADER.unpack_from(self._map, 0)
        if magic != MAGIC or version != FORMAT_VERSION or symbolic_version != raw.VERSION:
            raise CorruptCacheFile("not a source-map cache file of this format")
        if length != self.size - HEADER.size:
            raise CorruptCacheFile(f"{length} bytes announced, {self.size - HEADER.size} present")
        with memoryview(self._map) as whole, whole[HEADER.size :] as body:
            if zlib.crc32(body) != checksum:
                raise CorruptCacheFile("checksum mismatch")
        base = HEADER.size
        magic, version, mappings, files, line_offsets, string_bytes = raw.HEADER.unpack_from(self._map, base)
        if (magic, version) != (raw.MAGIC, raw.VERSION):
            raise CorruptCacheFile("not symbolic's source-map cache format")
        self._mappings, self._files, self._line_offsets = mappings, files, line_offsets
        self._positions = base + raw.align8(raw.HEADER.size)
        sizes = raw.section_sizes(mappings, files, line_offsets)
        self._locations = self._positions + sizes[0]
        self._file_table = self._locations + sizes[1]
        self._offsets = self._file_table + sizes[2]
        self._strings = self._offsets + sizes[3]
        self._strings_end = self._strings + string_bytes
        if self._strings_end != self.size:
            raise CorruptCacheFile("its sections do not add up to its length")

    def lookup(self, line: int, col: int, context_lines: int) -> Token | None:
        """symbolic's SourceMapCache.lookup(line, col, context_lines): 1-based in and out."""
        # The C ABI subtracts 1 from u32s: 0 wraps around, as it does there.
        index = self._search(((line - 1) & U32_MAX, (col - 1) & U32_MAX))
        if index is None:
            return None
        file_index, src_line, src_col, name_index, scope_index = _LOCATION.unpack_from(
            self._map, self._locations + _LOCATION.size * index
        )
        if file_index == NO_FILE:
            return None  # a segment without a source: the minified code there maps nowhere
        file = self._file(file_index)
        name = None if name_index == NO_NAME else self._string(name_index)
        if scope_index == GLOBAL_SCOPE:
            function = "<unknown>"
        elif scope_index == ANONYMOUS_SCOPE:
            function = "<anonymous>"
        else:
            scope = self._string(scope_index)
            function = "<unknown>" if scope is None else scope
        token = Token(
            line=(src_line + 1) & U32_MAX,
            col=(src_col + 1) & U32_MAX,
            src=(file.name if file else None) or None,
            name=name or None,
            function_name=function or None,
            context_line=(self._line(file, src_line) if file else None) or None,
        )
        if file is not None:
            first = max(src_line - context_lines, 0)
            token.pre_context = self._lines(file, range(first, src_line))
            last = min(src_line + context_lines, U32_MAX)
            token.post_context = self._lines(file, range(src_line + 1, last + 1))
        return token

    def _position(self, index: int) -> tuple[int, int]:
        return _POSITION.unpack_from(self._map, self._positions + _POSITION.size * index)

    def _search(self, target: tuple[int, int]) -> int | None:
        """The mapping symbolic picks: Rust's `binary_search` (the loop without early exit it has used
        since 1.82) gives the exact match, else the one before; none before the first mapping, and none
        when that mapping is on an earlier line of the minified file."""
        size = self._mappings
        if size == 0:
            return None
        base = 0
        while size > 1:
            half = size // 2
            if self._position(base + half) <= target:
                base += half
            size -= half
        found = self._position(base)
        if found > target:  # Err(base): the one before, if any
            if base == 0:
                return None
            base -= 1
            found = self._position(base)
        return base if found[0] == target[0] else None

    def _file(self, index: int) -> _File | None:
        if index >= self._files:
            return None
        name, source, first, end = _FILE.unpack_from(self._map, self._file_table + _FILE.size * index)
        if first > end or end > self._line_offsets:
            return None  # symbolic's `line_offsets.get(first..end)?` drops the whole file
        return _File(self._string(name), self._string_span(source), (first, end))

    def _string_span(self, offset: int) -> tuple[int, int] | None:
        """Where the string table's string at `offset` lies: a LEB128 length, then its UTF-8 bytes."""
        position, length, shift = self._strings + offset, 0, 0
        if offset >= self._strings_end - self._strings:
            return None
        while True:
            if position >= self._strings_end or shift > 63:
                return None
            byte = self._map[position]
            position += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
        if position + length > self._strings_end:
            return None
        return position, position + length

    def _string(self, offset: int) -> str | None:
        span = self._string_span(offset)
        if span is None:
            return None
        try:
            return self._map[span[0] : span[1]].decode("utf-8")
        except UnicodeDecodeError:
            return None

    def _line(self, file: _File, number: int) -> str | None:
        """symbolic's File::line: from this line's offset to the next one's (or the end), newline included."""
        if file.source is None or number >= file.line_offsets[1] - file.line_offsets[0]:
            return None
        start, end = file.source
        index = file.line_offsets[0] + number
        begin = _LINE_OFFSET.unpack_from(self._map, self._offsets + 4 * index)[0]
        if index + 1 < file.line_offsets[1]:
            finish = _LINE_OFFSET.unpack_from(self._map, self._offsets + 4 * (index + 1))[0]
        else:
            finish = end - start
        if begin > finish or finish > end - start:
            return None
        if not (self._boundary(start, end, begin) and self._boundary(start, end, finish)):
            return None
        return self._map[start + begin : start + finish].decode("utf-8", "replace")

    def _boundary(self, start: int, end: int, offset: int) -> bool:
        """str::get's check: an offset inside a UTF-8 sequence makes the slice None."""
        return start + offset >= end or self._map[start + offset] & 0xC0 != 0x80

    def _lines(self, file: _File, numbers: range) -> list[str]:
        lines = (self._line(file, number) for number in numbers)
        return [text for text in lines if text is not None]
